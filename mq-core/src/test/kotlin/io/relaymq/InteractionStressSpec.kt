package io.relaymq

import io.kotest.core.spec.style.FunSpec
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.UNBOUNDED_CAPACITY
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.future.await
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.coroutines.yield
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.ExecutionException
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Real-thread stress tests for features that meet: close, pause, resize, ordering keys, retries, overflow
 * policies, delayed delivery, snapshots, dead letters, SUSPEND publishers (Kotlin and Java) and withdrawn
 * requests. Public API only, so that they hold for any engine behind it.
 *
 * Every test is bounded (bounded message counts and loops, a timeout around the whole run so that a hang
 * fails instead of stalling) and ends with the same three kinds of check:
 *  (a) accounting after close, per queue: published == succeeded + failed + dropped + withdrawn + abandoned
 *      + saved, with pending == 0 and inFlight == 0;
 *  (b) nothing accepted is lost: each id a publish returned was handled, dropped (the drop listener saw
 *      it), withdrawn, abandoned (CloseSummary.abandonedIds) or saved (restored by a new bus on the same
 *      directory and handled there), and only one of these;
 *  (c) order where it is promised: each producer's messages (per key, or with concurrency 1) reach the
 *      handler in the order that producer published them.
 * Each check collects its problems and the test fails once with all of them, so that a failure says
 * what broke rather than only the first symptom.
 */

// ------------------------------------------------------------------------------------------ helpers

private const val Q = "q"

/** How many times each test runs; raise it to hunt rare races: `-Dstress.invocations=20`. */
private val INVOCATIONS: Int = System.getProperty("stress.invocations")?.toIntOrNull() ?: 1

/** Which numbered groups run; all by default, `-Dstress.only=1,5` for some. */
private fun selected(group: Int): Boolean =
    System.getProperty("stress.only")?.split(',')?.map { it.trim() }?.contains(group.toString()) ?: true

/** Runs [block] on real threads, failing with a timeout instead of hanging. */
private suspend fun <T> onRealThreads(limit: Duration = 30.seconds, block: suspend CoroutineScope.() -> T): T =
    withContext(Dispatchers.Default) { withTimeout(limit) { block() } }

private val createdDirs = ConcurrentLinkedQueue<Path>()

private fun newDir(): Path = tempDir("relaymq-interaction").also { createdDirs.add(it) }

/** One payload: producer [producer]'s [seq]-th message, with its ordering key if any. Encoded as a String. */
private data class Tag(val producer: Int, val seq: Int, val key: String?) {
    fun encode(): String = "$producer:$seq:${key ?: "-"}"

    companion object {
        fun of(data: String): Tag {
            val parts = data.split(":")
            return Tag(parts[0].toInt(), parts[1].toInt(), parts[2].takeIf { it != "-" })
        }
    }
}

/** Collects problems; fails once at the end with all of them. */
private class Verdict(private val what: String) {
    private val problems = ConcurrentLinkedQueue<String>()

    fun check(ok: Boolean, problem: () -> String) {
        if (!ok) problems += problem()
    }

    fun add(problem: String) {
        problems += problem
    }

    /** (a): the accounting identity of a closed queue. */
    fun balanced(label: String, s: QueueStats) {
        check(s.pending == 0L) { "$label: pending ${s.pending} after close ($s)" }
        check(s.inFlight == 0L) { "$label: inFlight ${s.inFlight} after close ($s)" }
        val ends = s.succeeded + s.failed + s.dropped + s.withdrawn + s.abandoned + s.saved
        check(s.published == ends) {
            "$label: published ${s.published} != succeeded ${s.succeeded} + failed ${s.failed} + dropped ${s.dropped} + " +
                "withdrawn ${s.withdrawn} + abandoned ${s.abandoned} + saved ${s.saved} = $ends"
        }
    }

    /** (b): every id in [accepted] ends in exactly one of [ends]; no end holds an id that was never accepted. */
    fun accountedFor(label: String, accepted: Collection<Long>, ends: Map<String, Collection<Long>>, unnamedAllowance: Long = 0) {
        val acceptedSet = accepted.toHashSet()
        check(acceptedSet.size == accepted.size) { "$label: a publish returned the same id twice" }
        val where = HashMap<Long, MutableList<String>>()
        for ((end, ids) in ends) {
            val seen = HashSet<Long>()
            for (id in ids) {
                if (!seen.add(id)) add("$label: id $id is $end twice")
                where.getOrPut(id) { ArrayList() } += end
            }
        }
        val twice = where.filterValues { it.size > 1 }
        check(twice.isEmpty()) { "$label: ${twice.size} id(s) ended more than once, e.g. ${twice.entries.take(5)}" }
        val unknown = where.keys - acceptedSet
        check(unknown.isEmpty()) { "$label: ${unknown.size} id(s) ended that no publish returned, e.g. ${unknown.sorted().take(10)}" }
        val lost = (acceptedSet - where.keys).sorted()
        check(lost.size <= unnamedAllowance) {
            "$label: ${lost.size} accepted message(s) LOST (not handled, dropped, withdrawn, abandoned or saved" +
                (if (unnamedAllowance > 0) "; $unnamedAllowance may be ends that cannot be named by id" else "") +
                "), e.g. ids ${lost.take(10)}"
        }
    }

    /** (c): within each group, sequence numbers appear increasing in [inOrder]. */
    fun <G> ordered(label: String, inOrder: List<Tag>, groupOf: (Tag) -> G) {
        val last = HashMap<G, Int>()
        var bad = 0
        var example = ""
        for (tag in inOrder) {
            val group = groupOf(tag)
            val before = last[group]
            if (before != null && tag.seq <= before) {
                if (bad++ == 0) example = "$group: seq ${tag.seq} after $before"
            }
            last[group] = tag.seq
        }
        check(bad == 0) { "$label: $bad message(s) out of order, first: $example" }
    }

    fun assertClean() {
        if (problems.isNotEmpty()) {
            throw AssertionError("$what: ${problems.size} problem(s):\n - " + problems.take(25).joinToString("\n - "))
        }
    }
}

/** Ids returned per producer must increase in that producer's publish order. */
private fun Verdict.idsIncrease(label: String, perProducer: Map<Int, List<Long>>) {
    for ((producer, ids) in perProducer) {
        val i = ids.zipWithNext().indexOfFirst { (a, b) -> b <= a }
        check(i < 0) { "$label: producer $producer got id ${ids[i + 1]} after ${ids[i]} (ids must increase per producer)" }
    }
}

/** A second bus on [dir] restores [queue] and handles its saved messages, with concurrency 1, in order. */
private suspend fun restoreAndCollect(dir: Path, queue: String = Q): List<Message<String>> {
    val mq = stressMq(drainTimeout = 10.seconds, snapshotDirectory = dir)
    val seen = ConcurrentLinkedQueue<Message<String>>()
    mq.registerQueue<String>(queue, concurrency = 1) { seen += it }
    mq.start()
    mq.awaitIdle()
    mq.shutdown()
    return seen.toList()
}

private fun Throwable.unwrapped(): Throwable =
    if ((this is CompletionException || this is ExecutionException) && cause != null) cause!!.unwrapped() else this

/** Runs a blocking call on its own daemon thread, so that a hang fails the test's timeout instead of pinning it. */
private fun <T> onOwnThread(name: String, body: () -> T): CompletableFuture<T> {
    val result = CompletableFuture<T>()
    thread(name = name, isDaemon = true) {
        try {
            result.complete(body())
        } catch (e: Throwable) {
            result.completeExceptionally(e)
        }
    }
    return result
}

/** How a bus closes in the close matrices. */
private enum class CloseMode(val snapshots: Boolean, val shutdownMode: ShutdownMode, val drainTimeout: Duration) {
    DRAIN(false, ShutdownMode.SNAPSHOT_IMMEDIATELY, 10.seconds),
    SNAPSHOT_IMMEDIATELY(true, ShutdownMode.SNAPSHOT_IMMEDIATELY, 10.seconds),
    DRAIN_THEN_SNAPSHOT(true, ShutdownMode.DRAIN_THEN_SNAPSHOT, 150.milliseconds),
    ;

    fun newMq(dir: Path?): MQ = stressMq(
        drainTimeout = drainTimeout,
        snapshotDirectory = if (snapshots) dir else null,
        shutdownMode = shutdownMode,
    )
}

/** The queue under test in the close x publish matrix. */
private enum class QueueKind(val concurrency: Int, val capacity: Int, val overflow: OverflowPolicy, val mixed: Boolean) {
    UNBOUNDED_C1(1, UNBOUNDED_CAPACITY, OverflowPolicy.SUSPEND, false),
    UNBOUNDED_C4_KEYED_DELAYED(4, UNBOUNDED_CAPACITY, OverflowPolicy.SUSPEND, true),
    CAP16_SUSPEND_C1(1, 16, OverflowPolicy.SUSPEND, false),
    CAP16_REJECT_C4(4, 16, OverflowPolicy.REJECT, false),
    CAP16_DROP_OLDEST_C4(4, 16, OverflowPolicy.DROP_OLDEST, false),
    CAP16_DROP_NEWEST_C1(1, 16, OverflowPolicy.DROP_NEWEST, false),
}

private class Flaky(message: String) : RuntimeException(message)

/** A codec for a dead-letter queue with snapshots: a DeadLetter is saved as "queue|messageId". */
private object LetterCodec : MessageCodec<Any> {
    override fun type(): Class<Any> = Any::class.java

    override fun encode(value: Any): ByteArray =
        (if (value is DeadLetter) "${value.queue}|${value.messageId}" else value.toString()).toByteArray()

    override fun decode(bytes: ByteArray): Any = String(bytes)

    fun messageIdOf(data: Any): Long = if (data is DeadLetter) data.messageId else (data as String).substringAfter('|').toLong()
}

class InteractionStressSpec : FunSpec({

    afterSpec { while (true) createdDirs.poll()?.toFile()?.deleteRecursively() ?: break }

    // -------------------------------------------------------------------- 1. close x publish under load

    if (selected(1)) context("1. close x publish under load: every publish returns an id or throws BusClosedException; every id ends") {
        for (mode in CloseMode.entries) {
            for (kind in QueueKind.entries) {
                // Three rounds by default: the races at close are narrow.
                test("$mode, $kind").config(timeout = 60.seconds * INVOCATIONS, invocations = 3 * INVOCATIONS) {
                    onRealThreads {
                        val v = Verdict("close x publish [$mode, $kind]")
                        val dir = newDir()
                        val mq = mode.newMq(dir)
                        val handled = ConcurrentLinkedQueue<Message<String>>()
                        val dropped = ConcurrentLinkedQueue<Long>()
                        val options = QueueOptions(
                            concurrency = kind.concurrency,
                            capacity = kind.capacity,
                            overflow = kind.overflow,
                            onDrop = { dropped += it.id },
                        )
                        mq.registerQueue<String>(Q, options) {
                            if (it.id % 16 == 0L) delay(1)
                            handled += it // at the end: a handler cancelled at the deadline is saved, not handled
                        }
                        mq.start()
                        val producers = 4
                        val accepted = List(producers) { ArrayList<Pair<Long, String>>() }
                        val unexpected = ConcurrentLinkedQueue<Throwable>()
                        val total = AtomicInteger()
                        // Producers on threads of their own, more than the cores: the OS preempts them mid-publish.
                        val pool = Executors.newFixedThreadPool(producers).asCoroutineDispatcher()
                        val jobs = List(producers) { p ->
                            launch(pool) {
                                for (seq in 0 until 8_000) {
                                    val key = if (kind.mixed && seq % 3 == 0) "k${seq % 5}" else null
                                    val delayMs = if (kind.mixed && seq % 7 == 0) (seq % 20).toLong() + 1 else 0L
                                    val data = Tag(p, seq, key).encode()
                                    val id = try {
                                        if (key == null && delayMs == 0L) mq.publish(Q, data) else mq.publish(Q, data, PublishOptions(key = key, delay = delayMs.milliseconds))
                                    } catch (e: BusClosedException) {
                                        break
                                    } catch (e: QueueFullException) {
                                        if (kind.overflow != OverflowPolicy.REJECT) unexpected += e
                                        continue
                                    } catch (e: CancellationException) {
                                        throw e
                                    } catch (e: Throwable) {
                                        unexpected += e
                                        break
                                    }
                                    accepted[p] += id to data
                                    total.incrementAndGet()
                                    if (seq % 32 == 0) yield()
                                }
                            }
                        }
                        while (total.get() < 2_000 && jobs.any { it.isActive }) yield()
                        val summary = mq.shutdown()
                        jobs.joinAll()
                        pool.close()
                        // After close, every publish is refused with BusClosedException, whatever the overflow policy.
                        val late = ArrayList<Long>()
                        for (i in 0 until 3) {
                            try {
                                late += mq.publish(Q, Tag(99, i, null).encode())
                                v.add("a publish after close returned id ${late.last()} instead of throwing BusClosedException")
                            } catch (e: BusClosedException) {
                                // expected
                            } catch (e: Exception) {
                                v.add("a publish after close threw $e instead of BusClosedException")
                            }
                        }
                        val stats = mq.stats(Q)
                        val restored = if (mode.snapshots) restoreAndCollect(dir) else emptyList()

                        v.check(unexpected.isEmpty()) { "publish threw something else than BusClosedException: ${unexpected.take(3)}" }
                        v.balanced(Q, stats)
                        v.idsIncrease(Q, accepted.withIndex().associate { (p, list) -> p to list.map { it.first } })
                        val all = accepted.flatten().map { it.first } + late
                        v.check(stats.published == all.size.toLong()) { "published ${stats.published}, but ${all.size} publishes returned an id" }
                        v.check(stats.succeeded == handled.size.toLong()) { "succeeded ${stats.succeeded}, but the handler ran ${handled.size} time(s)" }
                        v.check(stats.saved == restored.size.toLong()) { "saved ${stats.saved}, but the next bus restored ${restored.size}" }
                        v.check(stats.dropped == dropped.size.toLong()) { "dropped ${stats.dropped}, but the drop listener saw ${dropped.size}" }
                        val abandoned = summary.queues.getValue(Q).abandonedIds
                        v.accountedFor(
                            Q,
                            all,
                            mapOf("handled" to handled.map { it.id }, "dropped" to dropped.toList(), "abandoned" to abandoned, "saved+restored" to restored.map { it.id }),
                        )
                        val payloadOf = accepted.flatten().toMap()
                        for (m in handled + restored) {
                            v.check(payloadOf[m.id] == null || payloadOf[m.id] == m.data) { "id ${m.id} carried ${m.data}, published as ${payloadOf[m.id]}" }
                        }
                        val inOrder = (handled + restored).map { Tag.of(it.data) }
                        if (kind.concurrency == 1 && !kind.mixed) v.ordered("per producer, run 1 then restored run", inOrder) { it.producer }
                        v.ordered("per producer and key, run 1 then restored run", inOrder.filter { it.key != null }) { it.producer to it.key }
                        v.assertClean()
                    }
                }
            }
        }
    }

    if (selected(1)) context("1b. overflow policy x close: a publish refused by a closing bus changes nothing") {
        for (policy in OverflowPolicy.entries) {
            test("$policy, snapshot close waiting for a running handler").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("overflow x close [$policy]")
                    val dir = newDir()
                    val mq = stressMq(drainTimeout = 10.seconds, snapshotDirectory = dir)
                    val release = kotlinx.coroutines.CompletableDeferred<Unit>()
                    val handled = ConcurrentLinkedQueue<Long>()
                    val dropped = ConcurrentLinkedQueue<Long>()
                    mq.registerQueue<String>(Q, QueueOptions(concurrency = 1, capacity = 4, overflow = policy, onDrop = { dropped += it.id })) {
                        if (it.data == "slow") withTimeoutOrNull(5.seconds) { release.await() }
                        handled += it.id
                    }
                    mq.start()
                    val ids = ArrayList<Long>()
                    ids += mq.publish(Q, "slow")
                    withTimeoutOrNull(2.seconds) { while (mq.stats(Q).inFlight < 1) delay(1) }
                    repeat(4) { ids += mq.publish(Q, "w$it") } // the queue is full now
                    // The close starts at once (publishing stops) and waits for the running handler.
                    val closing = async(start = kotlinx.coroutines.CoroutineStart.UNDISPATCHED) { mq.shutdown() }
                    for (i in 0 until 3) {
                        val outcome = try {
                            "returned id ${mq.publish(Q, "late$i")}"
                        } catch (e: BusClosedException) {
                            null
                        } catch (e: Exception) {
                            "threw $e"
                        }
                        v.check(outcome == null) { "a publish to the full queue during close $outcome instead of throwing BusClosedException" }
                    }
                    v.check(dropped.isEmpty()) { "during close, publishes to the full queue made it drop message(s) ${dropped.toList()}" }
                    release.complete(Unit)
                    val summary = closing.await()
                    val stats = mq.stats(Q)
                    val restored = restoreAndCollect(dir)
                    v.balanced(Q, stats)
                    // (The close may still hand some waiting messages to the consumer before it stops taking: handled or
                    // saved are both fine; dropped is not.)
                    v.check(summary.abandoned == 0L) { "abandoned ${summary.abandoned}" }
                    v.accountedFor(Q, ids, mapOf("handled" to handled.toList(), "dropped" to dropped.toList(), "saved+restored" to restored.map { it.id }))
                    v.assertClean()
                }
            }
        }
    }

    // -------------------------------------------------------------------- 2. pause x ordering keys

    if (selected(2)) test("2. pause x ordering keys: per-key order, nothing lost, no handler starts while paused").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
        onRealThreads {
            val v = Verdict("pause x keys")
            val concurrency = 4
            val keys = List(8) { "k$it" }
            val mq = stressMq(drainTimeout = 10.seconds)
            val running = AtomicInteger()
            val starts = AtomicLong()
            val keyActive = keys.associateWith { AtomicInteger() }
            val perKey = keys.associateWith { ArrayList<Tag>() }
            val handledIds = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>(Q, concurrency = concurrency) { m ->
                starts.incrementAndGet()
                running.incrementAndGet()
                val key = m.key!!
                try {
                    if (keyActive.getValue(key).incrementAndGet() > 1) v.add("two handlers of key $key at once (message ${m.id})")
                    val list = perKey.getValue(key)
                    synchronized(list) { list += Tag.of(m.data) }
                    handledIds += m.id
                    if (Random.nextInt(3) == 0) delay(1)
                } finally {
                    keyActive.getValue(key).decrementAndGet()
                    running.decrementAndGet()
                }
            }
            mq.start()
            val producers = 4
            val accepted = List(producers) { ArrayList<Long>() }
            val publishing = List(producers) { p ->
                launch(Dispatchers.Default) {
                    repeat(600) { seq ->
                        val key = keys[Random.nextInt(keys.size)]
                        accepted[p] += mq.publish(Q, Tag(p, seq, key).encode(), PublishOptions(key = key))
                        if (seq % 16 == 0) yield()
                    }
                }
            }
            val stop = AtomicBoolean()
            var pauses = 0
            val toggler = launch(Dispatchers.Default) {
                while (!stop.get()) {
                    delay(Random.nextLong(1, 6))
                    mq.pause(Q)
                    // Handlers that may still start: consumers that had taken a message before pause()
                    // returned and not started its handler yet, at most concurrency - running.
                    val runningAtPause = running.get()
                    val startsAtPause = starts.get()
                    delay(Random.nextLong(2, 8))
                    val startsBeforeResume = starts.get()
                    val started = startsBeforeResume - startsAtPause
                    if (started > concurrency - runningAtPause) {
                        v.add("while paused, $started handler(s) started with $runningAtPause running at pause time (at most ${concurrency - runningAtPause} could have taken their message before the pause)")
                    }
                    mq.resume(Q)
                    pauses++
                }
            }
            publishing.joinAll()
            // Pausing goes on until the backlog is handled (or 10 s passed: the checks below say why).
            val expected = accepted.sumOf { it.size }
            withTimeoutOrNull(10.seconds) { while (handledIds.size < expected) delay(1) }
            stop.set(true)
            toggler.join()
            mq.awaitIdle()
            val summary = mq.shutdown()
            val stats = mq.stats(Q)

            v.check(pauses >= 5) { "only $pauses pause windows: the test did not exercise pausing" }
            v.balanced(Q, stats)
            v.idsIncrease(Q, accepted.withIndex().associate { (p, ids) -> p to ids })
            v.accountedFor(Q, accepted.flatten(), mapOf("handled" to handledIds.toList(), "abandoned" to summary.queues.getValue(Q).abandonedIds))
            for (key in keys) v.ordered("key $key", perKey.getValue(key)) { it.producer }
            v.assertClean()
        }
    }

    if (selected(2)) test("2b. pause x idle: awaitIdle returns once a paused queue's running handlers finish").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
        onRealThreads {
            val v = Verdict("pause x idle")
            val mq = stressMq(drainTimeout = 5.seconds)
            val done = AtomicInteger()
            mq.registerQueue<String>(Q, concurrency = 2) {
                delay(50)
                done.incrementAndGet()
            }
            mq.start()
            mq.publish(Q, "a")
            mq.publish(Q, "b")
            withTimeoutOrNull(1.seconds) { while (mq.stats(Q).inFlight < 2) delay(1) }
            mq.pause(Q)
            // Nothing waits and both handlers finish: the bus is idle although the queue is paused.
            val idle = withTimeoutOrNull(3.seconds) { mq.awaitIdle() } != null
            v.check(done.get() == 2) { "${done.get()} of 2 running handlers finished" }
            v.check(idle) { "awaitIdle did not return within 3 s: the paused queue had nothing waiting and nothing running (${mq.stats(Q)})" }
            mq.resume(Q)
            val summary = mq.shutdown()
            v.balanced(Q, mq.stats(Q))
            v.check(summary.abandoned == 0L) { "abandoned ${summary.abandoned}" }
            v.assertClean()
        }
    }

    // -------------------------------------------------------------------- 3. resize x keys x retries

    if (selected(3)) test("3. resize x keys x retries: a message's attempts run before later messages of its key; concurrency never above the largest set").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
        onRealThreads {
            val v = Verdict("resize x keys x retries")
            val keys = List(16) { "k$it" }
            val mq = stressMq(drainTimeout = 10.seconds)
            val maxSet = AtomicInteger(4)
            val running = AtomicInteger()
            val peak = AtomicInteger()
            val keyActive = keys.associateWith { AtomicInteger() }
            // Per key, attempts in start order (one at a time per key, checked by keyActive).
            val perKey = keys.associateWith { ArrayList<Message<String>>() }
            val outcome = ConcurrentHashMap<Pair<Long, Int>, Boolean>() // (id, attempt) -> succeeded
            // id -> attempts with their outcome (true = succeeded)
            val attempts = ConcurrentHashMap<Long, MutableList<Pair<Int, Boolean>>>()
            val maxAttempts = 3
            val policy = RetryPolicy(maxAttempts = maxAttempts, initialBackoff = 1.milliseconds, maxBackoff = 4.milliseconds, jitter = 0.5)
            mq.registerQueue<String>(Q, QueueOptions(concurrency = 4, retry = policy)) { m ->
                val now = running.incrementAndGet()
                peak.accumulateAndGet(now, ::maxOf)
                val limit = maxSet.get()
                if (now > limit) v.add("$now handlers running, the largest concurrency ever set is $limit (message ${m.id}, key ${m.key})")
                val key = m.key
                try {
                    if (key != null) {
                        if (keyActive.getValue(key).incrementAndGet() > 1) v.add("two handlers of key $key at once (message ${m.id})")
                        val list = perKey.getValue(key)
                        synchronized(list) { list += m }
                    }
                    if (Random.nextInt(3) == 0) delay(1)
                    val ok = Random.nextInt(5) != 0
                    outcome[m.id to m.attempt] = ok
                    attempts.computeIfAbsent(m.id) { java.util.Collections.synchronizedList(ArrayList()) } += m.attempt to ok
                    if (!ok) throw Flaky("message ${m.id} attempt ${m.attempt}")
                } finally {
                    if (key != null) keyActive.getValue(key).decrementAndGet()
                    running.decrementAndGet()
                }
            }
            mq.start()
            val producers = 4
            val accepted = List(producers) { ArrayList<Long>() }
            val publishing = List(producers) { p ->
                launch(Dispatchers.Default) {
                    repeat(500) { seq ->
                        val key = if (Random.nextInt(4) == 0) null else keys[Random.nextInt(keys.size)]
                        val data = Tag(p, seq, key).encode()
                        accepted[p] += if (key == null) mq.publish(Q, data) else mq.publish(Q, data, PublishOptions(key = key))
                        if (seq % 8 == 0) delay(1)
                    }
                }
            }
            val stop = AtomicBoolean()
            var resizes = 0
            val resizer = launch(Dispatchers.Default) {
                while (!stop.get()) {
                    // Half the time an extreme (1 or 8): big shrinks followed by big growths.
                    val n = if (Random.nextBoolean()) (if (resizes % 2 == 0) 8 else 1) else Random.nextInt(1, 9)
                    maxSet.accumulateAndGet(n, ::maxOf) // before the call: the bound already holds when it takes effect
                    mq.setConcurrency(Q, n)
                    resizes++
                    delay(Random.nextLong(1, 5))
                }
            }
            publishing.joinAll()
            // Resizing goes on until every message reached its final outcome (or 10 s passed: the checks say why).
            val expected = accepted.sumOf { it.size }
            withTimeoutOrNull(10.seconds) {
                while (attempts.values.count { list -> synchronized(list) { list.any { it.second || it.first == maxAttempts } } } < expected) delay(2)
            }
            stop.set(true)
            resizer.join()
            mq.awaitIdle()
            val summary = mq.shutdown()
            val stats = mq.stats(Q)

            v.check(resizes >= 20) { "only $resizes resizes" }
            v.balanced(Q, stats)
            v.idsIncrease(Q, accepted.withIndex().associate { (p, ids) -> p to ids })
            // Attempts of each message: 1..n, all but the last failed; the last succeeded or was attempt maxAttempts.
            val succeeded = ArrayList<Long>()
            val failedForGood = ArrayList<Long>()
            var retries = 0L
            for ((id, list) in attempts) {
                val sorted = synchronized(list) { list.sortedBy { it.first } }
                val numbers = sorted.map { it.first }
                v.check(numbers == (1..numbers.size).toList()) { "message $id ran attempts $numbers" }
                v.check(sorted.dropLast(1).none { it.second }) { "message $id ran again after succeeding: $sorted" }
                val last = sorted.last()
                when {
                    last.second -> succeeded += id
                    last.first == maxAttempts -> failedForGood += id
                    else -> v.add("message $id failed on attempt ${last.first} of $maxAttempts and was never retried")
                }
                retries += sorted.count { !it.second && it.first < maxAttempts }
            }
            v.check(stats.succeeded == succeeded.size.toLong()) { "succeeded ${stats.succeeded}, handlers succeeded ${succeeded.size} message(s)" }
            v.check(stats.failed == failedForGood.size.toLong()) { "failed ${stats.failed}, ${failedForGood.size} message(s) failed $maxAttempts times" }
            v.check(stats.retried == retries) { "retried ${stats.retried}, handlers saw $retries retried failure(s)" }
            v.accountedFor(Q, accepted.flatten(), mapOf("succeeded" to succeeded, "failed" to failedForGood, "abandoned" to summary.queues.getValue(Q).abandonedIds))
            for (key in keys) {
                val log = perKey.getValue(key)
                // Contiguous groups: a message's attempts 1, 2, ... in a row; the next message only after its final outcome.
                val left = HashSet<Long>()
                for ((i, m) in log.withIndex()) {
                    val previous = log.getOrNull(i - 1)
                    if (previous == null || previous.id != m.id) {
                        if (!left.add(m.id)) v.add("key $key: message ${m.id} ran again after later messages of its key")
                        v.check(m.attempt == 1) { "key $key: message ${m.id} attempt ${m.attempt} is not right after its attempt ${m.attempt - 1}" }
                        if (previous != null) {
                            val ok = outcome[previous.id to previous.attempt] == true
                            v.check(ok || previous.attempt == maxAttempts) {
                                "key $key: message ${m.id} ran while message ${previous.id} (attempt ${previous.attempt} failed) still waited for its retry"
                            }
                        }
                    } else {
                        v.check(m.attempt == previous.attempt + 1) { "key $key: message ${m.id} attempt ${m.attempt} after attempt ${previous.attempt}" }
                    }
                }
                v.ordered("key $key (first attempts)", log.filter { it.attempt == 1 }.map { Tag.of(it.data) }) { it.producer }
            }
            v.assertClean()
        }
    }

    if (selected(3)) test("3b. resize x idle: awaitIdle returns when consumers retired by a shrink finish the last messages").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
        onRealThreads {
            val v = Verdict("resize x idle")
            for (round in 0 until 6) { // which consumer stays is not ours to choose: 6 rounds make a miss unlikely
                val mq = stressMq(drainTimeout = 5.seconds)
                val done = AtomicInteger()
                mq.registerQueue<String>(Q, concurrency = 4) {
                    delay(it.data.toLong())
                    done.incrementAndGet()
                }
                mq.start()
                for (ms in listOf(30, 60, 90, 120).shuffled()) mq.publish(Q, ms.toString())
                withTimeoutOrNull(1.seconds) { while (mq.stats(Q).inFlight < 4) delay(1) }
                mq.setConcurrency(Q, 1) // three consumers retire after their current message
                val idle = withTimeoutOrNull(2.seconds) { mq.awaitIdle() } != null
                v.check(done.get() == 4) { "round $round: ${done.get()} of 4 messages handled" }
                v.check(idle) { "round $round: awaitIdle did not return within 2 s after every message was handled (${mq.stats(Q)})" }
                mq.shutdown()
                v.balanced("round $round", mq.stats(Q))
                if (!idle) break
            }
            v.assertClean()
        }
    }

    // -------------------------------------------------------------------- 4. drop policies x delayed x restored x keyed

    if (selected(4)) context("4. drop policies x delayed x restored x keyed: capacity holds, nothing lost, keys keep order") {
        for (policy in listOf(OverflowPolicy.DROP_OLDEST, OverflowPolicy.DROP_NEWEST)) {
            test("$policy").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("drop policies x delayed x restored x keyed [$policy]")
                    val dir = newDir()
                    val keys = List(4) { "k$it" }
                    val dueAt = ConcurrentHashMap<String, Long>() // payload -> earliest handling time (ms)

                    // Run A: never started; its messages (plain, keyed, delayed) go to the snapshot.
                    val first = stressMq(snapshotDirectory = dir)
                    first.registerQueue<String>(Q, concurrency = 2) { error("run A is never started") }
                    val restoredIds = ArrayList<Long>()
                    val restoredPayload = HashMap<Long, String>()
                    repeat(24) { seq ->
                        val key = if (seq % 3 == 0) keys[seq % keys.size] else null
                        val delayMs = if (seq % 4 == 1) 20L + seq else 0L
                        val data = Tag(-1, seq, key).encode()
                        if (delayMs > 0) dueAt[data] = System.currentTimeMillis() + delayMs
                        val id = first.publish(Q, data, PublishOptions(key = key, delay = delayMs.milliseconds))
                        restoredIds += id
                        restoredPayload[id] = data
                    }
                    val firstSummary = first.shutdown()
                    v.check(firstSummary.saved == 24L) { "run A saved ${firstSummary.saved} of 24" }
                    v.balanced("run A", first.stats(Q))
                    val maxRestored = restoredIds.max()

                    // Run B: restores them, then takes a flood of new messages into a small queue.
                    val capacity = 8
                    val concurrency = 2
                    val dropped = ConcurrentLinkedQueue<Long>()
                    val droppedAny = AtomicLong()
                    val startedAny = AtomicLong()
                    val acceptedNew = AtomicLong()
                    val handled = ConcurrentLinkedQueue<Message<String>>()
                    val keyActive = keys.associateWith { AtomicInteger() }
                    val perKey = keys.associateWith { ArrayList<Tag>() }
                    val second = stressMq(drainTimeout = 10.seconds, snapshotDirectory = dir)
                    val options = QueueOptions(
                        concurrency = concurrency,
                        capacity = capacity,
                        overflow = policy,
                        onDrop = { m ->
                            droppedAny.incrementAndGet()
                            dropped += m.id
                        },
                    )
                    second.registerQueue<String>(Q, options) { m ->
                        startedAny.incrementAndGet()
                        val now = System.currentTimeMillis()
                        dueAt[m.data]?.let { due -> if (now < due) v.add("message ${m.id} (${m.data}) handled ${due - now} ms before its due time") }
                        val key = m.key
                        if (key != null) {
                            if (keyActive.getValue(key).incrementAndGet() > 1) v.add("two handlers of key $key at once")
                            val list = perKey.getValue(key)
                            synchronized(list) { list += Tag.of(m.data) }
                        }
                        handled += m
                        if (Random.nextBoolean()) delay(1)
                        if (key != null) keyActive.getValue(key).decrementAndGet()
                    }
                    second.start()
                    val producers = 4
                    val accepted = List(producers) { ArrayList<Long>() }
                    // Waiting messages (the 24 restored count too: capacity counts every waiting message), measured
                    // by each producer right after its publish and from below (accepted read first, ends read
                    // after). Restored messages may exceed the capacity at start; a publish never adds to an
                    // excess: never above max(capacity, 24), except for the at most `concurrency` messages a
                    // consumer took and has not started yet.
                    val samples = AtomicInteger()
                    val worst = AtomicLong()
                    val worstDetail = java.util.concurrent.atomic.AtomicReference("")
                    val publishing = List(producers) { p ->
                        launch(Dispatchers.Default) {
                            repeat(250) { seq ->
                                val kind = Random.nextInt(20)
                                val key = if (kind in 8..14 || kind >= 18) keys[Random.nextInt(keys.size)] else null
                                val delayMs = if (kind >= 15) Random.nextLong(1, 30) else 0L
                                val data = Tag(p, seq, key).encode()
                                if (delayMs > 0) dueAt[data] = System.currentTimeMillis() + delayMs
                                val id = if (key == null && delayMs == 0L) {
                                    second.publish(Q, data)
                                } else {
                                    second.publish(Q, data, PublishOptions(key = key, delay = delayMs.milliseconds))
                                }
                                accepted[p] += id
                                val a = acceptedNew.incrementAndGet() + 24
                                val waiting = a - startedAny.get() - droppedAny.get()
                                samples.incrementAndGet()
                                if (waiting > worst.get()) {
                                    worst.accumulateAndGet(waiting, ::maxOf)
                                    val s = second.stats(Q)
                                    worstDetail.set("stats then: pending=${s.pending}, waitingForKey=${s.waitingForKey}, delayed=${s.delayed}, inFlight=${s.inFlight}")
                                }
                                if (seq % 4 == 0) yield()
                            }
                        }
                    }
                    publishing.joinAll()
                    second.awaitIdle()
                    val summary = second.shutdown()
                    val stats = second.stats(Q)

                    v.check(worst.get() <= maxOf(capacity, 24) + concurrency) {
                        "up to ${worst.get()} messages waited in a queue of capacity $capacity with 24 restored (allowing $concurrency taken, not yet started); ${worstDetail.get()}"
                    }
                    v.balanced("run B", stats)
                    v.check(stats.published == 24L + acceptedNew.get()) { "run B published ${stats.published}, expected 24 restored + ${acceptedNew.get()} accepted" }
                    v.check(stats.dropped == dropped.size.toLong()) { "dropped ${stats.dropped}, the drop listener saw ${dropped.size}" }
                    v.check(stats.dropped > 0) { "nothing was dropped: the test did not exercise $policy" }
                    v.idsIncrease("run B", accepted.withIndex().associate { (p, ids) -> p to ids })
                    v.accountedFor(
                        "run B",
                        restoredIds + accepted.flatten(),
                        mapOf("handled" to handled.map { it.id }, "dropped" to dropped.toList(), "abandoned" to summary.queues.getValue(Q).abandonedIds),
                    )
                    for (m in handled) {
                        if (m.id <= maxRestored) v.check(restoredPayload[m.id] == m.data) { "restored id ${m.id} carried ${m.data}, saved as ${restoredPayload[m.id]}" }
                    }
                    for (key in keys) {
                        val log = perKey.getValue(key)
                        v.ordered("key $key", log) { it.producer }
                        val firstNew = log.indexOfFirst { it.producer >= 0 }
                        val lastRestored = log.indexOfLast { it.producer < 0 }
                        v.check(firstNew < 0 || lastRestored < firstNew) { "key $key: a new message ran before a restored one of the same key" }
                    }
                    v.assertClean()
                }
            }
        }
    }

    if (selected(4)) context("4b. capacity x ordering keys: messages waiting for their key count against capacity") {
        for (policy in OverflowPolicy.entries) {
            test("$policy").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("capacity x keys [$policy]")
                    val capacity = 2
                    val concurrency = 2
                    val mq = stressMq(drainTimeout = 5.seconds)
                    val release = kotlinx.coroutines.CompletableDeferred<Unit>()
                    val started = AtomicInteger()
                    val handled = ConcurrentLinkedQueue<Message<String>>()
                    val dropped = ConcurrentLinkedQueue<Long>()
                    val options = QueueOptions(concurrency = concurrency, capacity = capacity, overflow = policy, onDrop = { dropped += it.id })
                    mq.registerQueue<String>(Q, options) {
                        started.incrementAndGet()
                        if (it.data == Tag(0, 0, "k").encode()) withTimeoutOrNull(5.seconds) { release.await() }
                        handled += it
                    }
                    mq.start()
                    val accepted = ArrayList<Long>()
                    accepted += mq.publish(Q, Tag(0, 0, "k").encode(), PublishOptions(key = "k"))
                    withTimeoutOrNull(2.seconds) { while (started.get() < 1) delay(1) }
                    // The key is held by a running handler; the other consumer is free. Ten more of the same key:
                    var worst = 0L
                    var refusals = 0
                    for (seq in 1..10) {
                        val id = try {
                            withTimeoutOrNull(100.milliseconds) { mq.publish(Q, Tag(0, seq, "k").encode(), PublishOptions(key = "k")) }
                        } catch (e: QueueFullException) {
                            null
                        }
                        if (id == null) refusals++ else accepted += id
                        delay(5) // let the free consumer take (and park) what it can
                        worst = maxOf(worst, accepted.size - started.get() - dropped.size.toLong())
                    }
                    val stats = mq.stats(Q)
                    v.check(worst <= capacity + concurrency) {
                        "$worst messages waited for their key in a queue of capacity $capacity (refusals: $refusals, dropped: ${dropped.size}); stats then: $stats"
                    }
                    release.complete(Unit)
                    withTimeoutOrNull(5.seconds) { mq.awaitIdle() }
                    val summary = mq.shutdown()
                    v.balanced(Q, mq.stats(Q))
                    v.accountedFor(Q, accepted, mapOf("handled" to handled.map { it.id }, "dropped" to dropped.toList(), "abandoned" to summary.queues.getValue(Q).abandonedIds))
                    v.ordered("key k", handled.map { Tag.of(it.data) }) { it.key }
                    v.assertClean()
                }
            }
        }
    }

    // -------------------------------------------------------------------- 5. dead letters x close

    if (selected(5)) context("5. dead letters x close: every dead letter reaches the dead-letter queue, is saved or abandoned") {
        for (mode in CloseMode.entries) {
            test("$mode").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("dead letters x close [$mode]")
                    val dir = newDir()
                    val policy = RetryPolicy(maxAttempts = 2, initialBackoff = 2.milliseconds, maxBackoff = 4.milliseconds)
                    val fails = { data: String -> Tag.of(data).seq % 3 == 0 }
                    val succeeded = ConcurrentLinkedQueue<Long>()
                    val letters = ConcurrentLinkedQueue<Long>() // messageIds of dead letters handled (both runs)
                    val handledCount = AtomicInteger()

                    fun register(mq: MQ, letterLog: ConcurrentLinkedQueue<Long>) {
                        mq.registerQueue("dead", QueueOptions(concurrency = 1, codec = LetterCodec), Any::class.java) { m ->
                            letterLog += LetterCodec.messageIdOf(m.data)
                            letters += LetterCodec.messageIdOf(m.data)
                        }
                        mq.registerQueue<String>("work", QueueOptions(concurrency = 2, retry = policy, deadLetterQueue = "dead")) { m ->
                            handledCount.incrementAndGet()
                            if (m.id % 8 == 0L) delay(1)
                            if (fails(m.data)) throw Flaky("message ${m.id}")
                            succeeded += m.id
                        }
                    }

                    val mq = mode.newMq(dir)
                    val lettersRun1 = ConcurrentLinkedQueue<Long>()
                    register(mq, lettersRun1)
                    mq.start()
                    val accepted = List(2) { ArrayList<Long>() }
                    val jobs = List(2) { p ->
                        launch(Dispatchers.Default) {
                            // More than the close can meet: the producers are still publishing when it comes.
                            for (seq in 0 until 8_000) {
                                val id = try {
                                    mq.publish("work", Tag(p, seq, null).encode())
                                } catch (e: BusClosedException) {
                                    break
                                }
                                accepted[p] += id
                                if (seq % 32 == 0) yield()
                            }
                        }
                    }
                    // Close mid-flow, once dead letters reach the dead-letter queue.
                    withTimeoutOrNull(5.seconds) { while (lettersRun1.size < 30 || handledCount.get() < 300) delay(1) }
                    val backlog = mq.stats("work").pending
                    val summary = mq.shutdown()
                    v.check(backlog > 0) { "the work queue was empty at close: the close did not meet the flow" }
                    jobs.joinAll()
                    val work = mq.stats("work")
                    val dead = mq.stats("dead")
                    v.balanced("work (run 1)", work)
                    v.balanced("dead (run 1)", dead)
                    v.check(work.deadLettered == lettersRun1.size + dead.saved + dead.abandoned) {
                        "work dead-lettered ${work.deadLettered}, but the dead-letter queue handled ${lettersRun1.size}, saved ${dead.saved} " +
                            "and abandoned ${dead.abandoned} (published ${dead.published})"
                    }

                    var run2Saved = 0L
                    if (mode.snapshots) {
                        val again = stressMq(drainTimeout = 10.seconds, snapshotDirectory = dir)
                        val lettersRun2 = ConcurrentLinkedQueue<Long>()
                        register(again, lettersRun2)
                        again.start()
                        again.awaitIdle()
                        again.shutdown()
                        val work2 = again.stats("work")
                        val dead2 = again.stats("dead")
                        v.balanced("work (run 2)", work2)
                        v.balanced("dead (run 2)", dead2)
                        v.check(work2.published == work.saved) { "run 2 restored ${work2.published} work message(s), run 1 saved ${work.saved}" }
                        v.check(dead2.published == dead.saved + work2.deadLettered) {
                            "run 2 dead-letter queue published ${dead2.published}: restored ${dead.saved} + new ${work2.deadLettered} expected"
                        }
                        v.check(dead2.succeeded == lettersRun2.size.toLong()) { "run 2 dead-letter handler ran ${lettersRun2.size}, succeeded ${dead2.succeeded}" }
                        run2Saved = work2.saved + dead2.saved
                    }
                    v.check(run2Saved == 0L) { "run 2 saved $run2Saved after becoming idle" }
                    val all = accepted.flatten()
                    v.check(work.published == all.size.toLong()) { "work published ${work.published}, ${all.size} publishes returned an id" }
                    // Every work message: succeeded (either run), dead-lettered and handled by the dead-letter queue
                    // (either run), or abandoned by run 1 (work ids by name; dead letters abandoned by count only).
                    v.accountedFor(
                        "work",
                        all,
                        mapOf(
                            "succeeded" to succeeded.toList(),
                            "dead-lettered" to letters.toList(),
                            "abandoned" to summary.queues.getValue("work").abandonedIds,
                        ),
                        unnamedAllowance = dead.abandoned,
                    )
                    v.assertClean()
                }
            }
        }
    }

    // -------------------------------------------------------------------- 6. SUSPEND x many producers

    if (selected(6)) context("6. SUSPEND x many producers: order per producer, nothing lost, no hang") {
        for (concurrency in listOf(1, 2)) {
            test("Kotlin, 8 producers, capacity 8, concurrency $concurrency").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("SUSPEND x Kotlin producers [concurrency $concurrency]")
                    val mq = stressMq(drainTimeout = 10.seconds)
                    val handled = ConcurrentLinkedQueue<Message<String>>()
                    mq.registerQueue<String>(Q, QueueOptions(concurrency = concurrency, capacity = 8, overflow = OverflowPolicy.SUSPEND)) {
                        handled += it
                        if (it.id % 64 == 0L) delay(1)
                    }
                    mq.start()
                    val accepted = List(8) { ArrayList<Long>() }
                    List(8) { p ->
                        launch(Dispatchers.Default) { repeat(600) { seq -> accepted[p] += mq.publish(Q, Tag(p, seq, null).encode()) } }
                    }.joinAll()
                    mq.awaitIdle()
                    val summary = mq.shutdown()
                    val stats = mq.stats(Q)
                    v.balanced(Q, stats)
                    v.idsIncrease(Q, accepted.withIndex().associate { (p, ids) -> p to ids })
                    v.accountedFor(Q, accepted.flatten(), mapOf("handled" to handled.map { it.id }, "abandoned" to summary.queues.getValue(Q).abandonedIds))
                    if (concurrency == 1) v.ordered("per producer", handled.map { Tag.of(it.data) }) { it.producer }
                    v.assertClean()
                }
            }
        }

        test("Java, 8 producer threads firing publishes without joining each, capacity 8, concurrency 1").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
            onRealThreads {
                val v = Verdict("SUSPEND x Java producers")
                val bus = javaBus().drainTimeout(java.time.Duration.ofSeconds(10)).build()
                val handled = ConcurrentLinkedQueue<Message<String>>()
                bus.registerQueue(Q, QueueOptions(concurrency = 1, capacity = 8, overflow = OverflowPolicy.SUSPEND), MessageHandler<String> { handled += it })
                bus.start()
                val futures = List(8) { ArrayList<CompletableFuture<Long>>() }
                val threads = List(8) { p ->
                    onOwnThread("producer-$p") { repeat(400) { seq -> futures[p] += bus.publish(Q, Tag(p, seq, null).encode()) } }
                }
                CompletableFuture.allOf(*threads.toTypedArray()).await()
                val failures = ArrayList<Throwable>()
                val accepted = futures.map { list ->
                    list.mapNotNull { f ->
                        try {
                            f.await()
                        } catch (e: Exception) {
                            failures += e.unwrapped()
                            null
                        }
                    }
                }
                bus.idle().await()
                val summary = onOwnThread("close") { bus.shutdown() }.await()
                val stats = bus.stats(Q)
                v.check(failures.isEmpty()) { "publishes failed: ${failures.take(3)}" }
                v.balanced(Q, stats)
                v.idsIncrease(Q, accepted.withIndex().associate { (p, ids) -> p to ids })
                v.accountedFor(Q, accepted.flatten(), mapOf("handled" to handled.map { it.id }, "abandoned" to summary.queues.getValue(Q).abandonedIds))
                v.ordered("per producer (concurrency 1)", handled.map { Tag.of(it.data) }) { it.producer }
                v.assertClean()
            }
        }

        test("close while Kotlin and Java publishers wait for room: BusClosedException, never a hang").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
            onRealThreads {
                val v = Verdict("SUSPEND x close")
                // Kotlin
                val mq = stressMq(drainTimeout = 5.seconds)
                val handled = ConcurrentLinkedQueue<Long>()
                mq.registerQueue<String>(Q, QueueOptions(concurrency = 1, capacity = 8)) {
                    handled += it.id
                    delay(2)
                }
                mq.start()
                val accepted = List(4) { ArrayList<Long>() }
                val refused = AtomicInteger()
                val unexpected = ConcurrentLinkedQueue<Throwable>()
                val jobs = List(4) { p ->
                    launch(Dispatchers.Default) {
                        for (seq in 0 until 2_000) {
                            try {
                                accepted[p] += mq.publish(Q, Tag(p, seq, null).encode())
                            } catch (e: BusClosedException) {
                                refused.incrementAndGet()
                                break
                            } catch (e: CancellationException) {
                                throw e
                            } catch (e: Throwable) {
                                unexpected += e
                                break
                            }
                        }
                    }
                }
                delay(60)
                val summary = mq.shutdown()
                val stuck = withTimeoutOrNull(3.seconds) { jobs.joinAll() } == null
                v.check(!stuck) { "Kotlin publishers still waiting 3 s after close" }
                v.check(refused.get() == 4) { "${refused.get()} of 4 Kotlin publishers got BusClosedException" }
                v.check(unexpected.isEmpty()) { "Kotlin publish threw ${unexpected.take(3)}" }
                v.balanced("Kotlin $Q", mq.stats(Q))
                v.idsIncrease("Kotlin", accepted.withIndex().associate { (p, ids) -> p to ids })
                v.accountedFor("Kotlin", accepted.flatten(), mapOf("handled" to handled.toList(), "abandoned" to summary.queues.getValue(Q).abandonedIds))

                // Java
                val bus = javaBus().drainTimeout(java.time.Duration.ofSeconds(5)).build()
                val javaHandled = ConcurrentLinkedQueue<Long>()
                bus.registerQueue(Q, QueueOptions(concurrency = 1, capacity = 8), MessageHandler<String> {
                    javaHandled += it.id
                    Thread.sleep(2)
                })
                bus.start()
                val futures = ConcurrentLinkedQueue<CompletableFuture<Long>>()
                val threads = List(4) { p ->
                    onOwnThread("java-producer-$p") { repeat(500) { seq -> futures += bus.publish(Q, Tag(p, seq, null).encode()) } }
                }
                CompletableFuture.allOf(*threads.toTypedArray()).await()
                delay(30)
                val javaSummary = onOwnThread("close") { bus.shutdown() }.await()
                val all = CompletableFuture.allOf(*futures.toTypedArray())
                val hung = try {
                    all.get(3, TimeUnit.SECONDS)
                    false
                } catch (e: TimeoutException) {
                    true
                } catch (e: ExecutionException) {
                    false
                }
                v.check(!hung) { "${futures.count { !it.isDone }} Java publish future(s) still pending 3 s after close" }
                val javaAccepted = ArrayList<Long>()
                var closedFailures = 0
                for (f in futures.filter { it.isDone }) {
                    try {
                        javaAccepted += f.join()
                    } catch (e: Exception) {
                        val cause = e.unwrapped()
                        if (cause is BusClosedException) closedFailures++ else v.add("Java publish failed with $cause")
                    }
                }
                v.check(closedFailures > 0) { "no Java publish was refused: close did not meet waiting publishers" }
                v.balanced("Java $Q", bus.stats(Q))
                v.accountedFor("Java", javaAccepted, mapOf("handled" to javaHandled.toList(), "abandoned" to javaSummary.queues.getValue(Q).abandonedIds))
                v.assertClean()
            }
        }
    }

    // -------------------------------------------------------------------- 7. withdrawal x capacity x close

    if (selected(7)) context("7. withdrawal (request timeout/cancel) x capacity x close") {
        test("withdrawn requests give their room back (Kotlin SUSPEND and Java REJECT, paused queue)").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
            onRealThreads {
                val v = Verdict("withdrawal x capacity")
                val mq = stressMq(drainTimeout = 5.seconds)
                val seen = ConcurrentLinkedQueue<String>()
                mq.registerReplyingQueue<String, String>(Q, QueueOptions(concurrency = 1, capacity = 4)) { seen += it.data; it.data }
                mq.start()
                mq.pause(Q)
                val requests = List(4) { i ->
                    async {
                        try {
                            mq.request<String>(Q, "r$i", timeout = 50.milliseconds)
                            "answered"
                        } catch (e: TimeoutCancellationException) {
                            "timed out"
                        }
                    }
                }
                val outcomes = requests.awaitAll()
                v.check(outcomes.all { it == "timed out" }) { "paused queue answered requests: $outcomes" }
                val room = withTimeoutOrNull(1.seconds) { repeat(4) { mq.publish(Q, "x$it") }; true } == true
                v.check(room) { "Kotlin: 4 withdrawn requests still hold the room of a capacity-4 SUSPEND queue (publish waited > 1 s)" }
                mq.resume(Q)
                withTimeoutOrNull(5.seconds) { mq.awaitIdle() }
                val summary = mq.shutdown()
                val stats = mq.stats(Q)
                v.check(seen.none { it.startsWith("r") }) { "withdrawn requests were handled: $seen" }
                v.check(stats.withdrawn == 4L) { "Kotlin withdrawn ${stats.withdrawn}, expected 4" }
                v.balanced("Kotlin", stats)
                v.check(summary.abandoned == 0L) { "Kotlin abandoned ${summary.abandoned}" }

                val bus = javaBus().drainTimeout(java.time.Duration.ofSeconds(5)).build()
                val javaSeen = ConcurrentLinkedQueue<String>()
                bus.registerReplyingQueue(Q, QueueOptions(concurrency = 1, capacity = 4, overflow = OverflowPolicy.REJECT), MessageFunction<String, String> { javaSeen += it.data; it.data })
                bus.start()
                bus.pause(Q)
                val javaRequests = List(4) { i -> bus.request<String>(Q, "r$i", java.time.Duration.ofMillis(50)) }
                for (f in javaRequests) {
                    val outcome = runCatching { f.await() }.exceptionOrNull()?.unwrapped()
                    v.check(outcome is TimeoutException) { "Java request ended with $outcome, expected a TimeoutException" }
                }
                // A paused queue whose every message was withdrawn: REJECT must accept new messages.
                val rejected = (0 until 4).mapNotNull { runCatching { bus.publish(Q, "x$it").await() }.exceptionOrNull()?.unwrapped() }
                v.check(rejected.isEmpty()) { "Java: ${rejected.size} of 4 publishes refused after 4 requests were withdrawn: ${rejected.firstOrNull()}" }
                bus.resume(Q)
                withTimeoutOrNull(5.seconds) { bus.idle().await() }
                val javaSummary = onOwnThread("close") { bus.shutdown() }.await()
                val javaStats = bus.stats(Q)
                v.check(javaSeen.none { it.startsWith("r") }) { "Java withdrawn requests were handled: $javaSeen" }
                v.check(javaStats.withdrawn == 4L) { "Java withdrawn ${javaStats.withdrawn}, expected 4" }
                v.balanced("Java", javaStats)
                v.check(javaSummary.abandoned == 0L) { "Java abandoned ${javaSummary.abandoned}" }
                v.assertClean()
            }
        }

        test("a request whose timeout elapses while it waits for room ends with a timeout and is never handled").config(timeout = 30.seconds * INVOCATIONS, invocations = INVOCATIONS) {
            onRealThreads {
                val v = Verdict("request timeout x full queue")
                val mq = stressMq(drainTimeout = 5.seconds)
                val seen = ConcurrentLinkedQueue<String>()
                mq.registerReplyingQueue<String, String>(Q, QueueOptions(concurrency = 1, capacity = 4)) { seen += it.data; it.data }
                mq.start()
                mq.pause(Q)
                repeat(4) { mq.publish(Q, "x$it") } // full
                val outcome = withTimeoutOrNull(1.seconds) {
                    try {
                        mq.request<String>(Q, "late", timeout = 50.milliseconds)
                        "answered"
                    } catch (e: TimeoutCancellationException) {
                        "timed out"
                    }
                }
                v.check(outcome == "timed out") {
                    "Kotlin request with a 50 ms timeout on a full paused queue: ${outcome ?: "still waiting for room after 1 s"}"
                }
                mq.resume(Q)
                withTimeoutOrNull(5.seconds) { mq.awaitIdle() }
                mq.shutdown()
                v.check("late" !in seen) { "Kotlin: the timed-out request was handled" }
                v.balanced("Kotlin", mq.stats(Q))

                val bus = javaBus().drainTimeout(java.time.Duration.ofSeconds(5)).build()
                val javaSeen = ConcurrentLinkedQueue<String>()
                bus.registerReplyingQueue(Q, QueueOptions(concurrency = 1, capacity = 4), MessageFunction<String, String> { javaSeen += it.data; it.data })
                bus.start()
                bus.pause(Q)
                repeat(4) { bus.publish(Q, "x$it").await() }
                val request = bus.request<String>(Q, "late", java.time.Duration.ofMillis(50))
                val javaOutcome = withTimeoutOrNull(1.seconds) { runCatching { request.await() }.exceptionOrNull()?.unwrapped() ?: "answered" }
                v.check(javaOutcome is TimeoutException) {
                    "Java request with a 50 ms timeout on a full paused queue: ${javaOutcome ?: "still waiting after 1 s"}"
                }
                bus.resume(Q)
                withTimeoutOrNull(5.seconds) { bus.idle().await() }
                onOwnThread("close") { bus.shutdown() }.await()
                v.check("late" !in javaSeen) { "Java: the timed-out request was handled" }
                v.balanced("Java", bus.stats(Q))
                v.assertClean()
            }
        }

        for (mode in listOf(CloseMode.DRAIN, CloseMode.SNAPSHOT_IMMEDIATELY)) {
            test("requests with timeouts and cancels, plain publishes, capacity 8, close mid-flow [$mode]").config(timeout = 60.seconds * INVOCATIONS, invocations = INVOCATIONS) {
                onRealThreads {
                    val v = Verdict("withdrawal x capacity x close [$mode]")
                    val dir = newDir()
                    val mq = mode.newMq(dir)
                    val seen = ConcurrentLinkedQueue<Message<String>>()
                    mq.registerReplyingQueue<String, String>(Q, QueueOptions(concurrency = 2, capacity = 8)) { m ->
                        delay(Random.nextLong(0, 3))
                        seen += m
                        m.data
                    }
                    mq.start()
                    // Outcomes per payload; payloads are unique "p:seq:-".
                    val answered = ConcurrentHashMap<String, String>()
                    val timedOut = ConcurrentLinkedQueue<String>() // accepted; withdrawn unless a handler took it
                    val cancelled = ConcurrentLinkedQueue<String>() // accepted or not: cancelled at any point
                    val droppedReply = ConcurrentLinkedQueue<String>() // MessageDroppedException: saved or abandoned
                    val refused = ConcurrentLinkedQueue<String>() // BusClosedException: never accepted
                    val plainIds = ConcurrentLinkedQueue<Long>()
                    val unexpected = ConcurrentLinkedQueue<Throwable>()
                    val closed = AtomicBoolean()
                    val jobs = List(4) { p ->
                        launch(Dispatchers.Default) {
                            var seq = 0
                            while (seq < 400 && !closed.get()) {
                                val data = Tag(p, seq++, null).encode()
                                when (Random.nextInt(3)) {
                                    0 -> try {
                                        answered[data] = mq.request<String>(Q, data, timeout = Random.nextLong(1, 10).milliseconds)
                                    } catch (e: TimeoutCancellationException) {
                                        timedOut += data
                                    } catch (e: MessageDroppedException) {
                                        droppedReply += data
                                    } catch (e: BusClosedException) {
                                        refused += data
                                    } catch (e: CancellationException) {
                                        throw e
                                    } catch (e: Throwable) {
                                        unexpected += e
                                    }
                                    1 -> {
                                        val call = async {
                                            try {
                                                mq.request<String>(Q, data)
                                            } catch (e: MessageDroppedException) {
                                                "dropped"
                                            } catch (e: BusClosedException) {
                                                "refused"
                                            }
                                        }
                                        delay(Random.nextLong(0, 6))
                                        call.cancel()
                                        call.join()
                                        when {
                                            call.isCancelled -> cancelled += data
                                            else -> when (val r = call.await()) {
                                                "dropped" -> droppedReply += data
                                                "refused" -> refused += data
                                                else -> answered[data] = r
                                            }
                                        }
                                    }
                                    else -> try {
                                        plainIds += mq.publish(Q, data)
                                    } catch (e: BusClosedException) {
                                        refused += data
                                    }
                                }
                            }
                        }
                    }
                    delay(150)
                    closed.set(true)
                    val summary = mq.shutdown()
                    val hung = withTimeoutOrNull(3.seconds) { jobs.joinAll() } == null
                    v.check(!hung) { "requesters still waiting 3 s after close" }
                    val stats = mq.stats(Q)
                    val restored = if (mode.snapshots) restoreAndCollect(dir) else emptyList()

                    v.check(unexpected.isEmpty()) { "request failed with ${unexpected.take(3)}" }
                    v.check(stats.withdrawn > 0) { "nothing was withdrawn: the test did not exercise withdrawal" }
                    v.balanced(Q, stats)
                    val handledData = seen.map { it.data }
                    val restoredData = restored.map { it.data }
                    val everHandled = (handledData + restoredData)
                    v.check(everHandled.size == everHandled.toSet().size) { "a message was handled twice" }
                    val handledSet = everHandled.toHashSet()
                    v.check(stats.succeeded == seen.size.toLong()) { "succeeded ${stats.succeeded}, handler ran ${seen.size} time(s)" }
                    v.check(stats.saved == restored.size.toLong()) { "saved ${stats.saved}, restored ${restored.size}" }
                    for ((data, result) in answered) {
                        v.check(result == data) { "request $data answered $result" }
                        v.check(data in handledData) { "request $data answered without its handler running" }
                    }
                    v.check(refused.none { it in handledSet }) { "a refused message was handled" }
                    v.check(droppedReply.none { it in handledData }) { "a request failed with MessageDroppedException but its handler ran in the same run" }
                    // Messages whose requester stopped waiting and that no handler took: the only ones that may be withdrawn.
                    val mayBeWithdrawn = (timedOut + cancelled).count { it !in handledSet }
                    v.check(stats.withdrawn <= mayBeWithdrawn) { "withdrawn ${stats.withdrawn}, but only $mayBeWithdrawn requests gave up before a handler took them" }
                    val timedOutUnhandled = timedOut.count { it !in handledSet }
                    v.check(stats.withdrawn + stats.abandoned >= timedOutUnhandled) {
                        "$timedOutUnhandled timed-out requests were accepted and never handled, but withdrawn ${stats.withdrawn} + abandoned ${stats.abandoned} is less"
                    }
                    // Plain publishes: by id.
                    val byId = seen.map { it.id } + restored.map { it.id }
                    val plainSet = plainIds.toHashSet()
                    v.accountedFor(
                        "plain publishes",
                        plainIds.toList(),
                        mapOf(
                            "handled" to byId.filter { it in plainSet },
                            "abandoned" to summary.queues.getValue(Q).abandonedIds.filter { it in plainSet },
                        ),
                    )
                    v.assertClean()
                }
            }
        }
    }
})

/** A [MessageBus] builder for Kotlin tests of the Java door (Java's `MessageBus.builder()` is invisible to Kotlin). */
internal fun javaBus(): MessageBus.Builder = MessageBus.Builder(FROM_RELAYMQ)

/**
 * An [MQ] for the stress scenarios. Every other one keeps at most [STRESS_OUTBOX] messages in its
 * queues' consumer channels, so that a backlog of a few messages already goes through the relay
 * (inbox, compact buffer, batched refills); the others use the default channel (65,536), where these
 * scenarios' messages all go straight to the consumers. Alternating keeps both paths under every kind
 * of interaction, deterministically.
 */
internal fun stressMq(
    drainTimeout: Duration = 30.seconds,
    snapshotDirectory: Path? = null,
    shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
): MQ = MQ(
    io.relaymq.internal.BusSettings(
        Dispatchers.Default, drainTimeout, snapshotDirectory, shutdownMode,
        outboxCapacity = if (stressBuses.getAndIncrement() % 2 == 0) STRESS_OUTBOX else io.relaymq.internal.DEFAULT_OUTBOX_CAPACITY,
    ),
)

private val stressBuses = java.util.concurrent.atomic.AtomicInteger()

internal const val STRESS_OUTBOX: Int = 8
