package io.relaymq

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.longs.shouldBeGreaterThan
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.string.shouldNotStartWith
import io.relaymq.internal.BusSettings
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.JournalCallback
import io.relaymq.internal.JournalEntry
import io.relaymq.internal.JournalFile
import io.relaymq.internal.JournalFileSystem
import io.relaymq.internal.JournalFormat
import io.relaymq.internal.JournalRecovery
import io.relaymq.internal.JournalWriter
import io.relaymq.internal.QueueFileNames
import io.relaymq.internal.QueueJournal
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.time.Clock
import java.time.Instant
import java.time.ZoneId
import java.time.ZoneOffset
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread
import kotlin.time.Duration
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/*
 * Durable queues where they meet the rest of the engine: close, overflow policies, request withdrawal,
 * retries, ordering keys, dead letters, pause/resize, the Java door, journal faults and the segment
 * book. Real threads throughout (the journal writer is a real thread). Nothing here measures time: the
 * few timeouts only turn a hang into a failure.
 *
 * Eight of these found defects in review (DROP_NEWEST ids, dead letters of in-memory queues, reply and
 * cancel of Java durable publishes, close with a failing disk, tombstones across a roll, key order
 * after recovery, temp files with a shared directory); they stay as regression tests.
 */

// ------------------------------------------------------------------------------------------ helpers

/**
 * Journal file operations with hooks that run on the journal writer's thread before the real call, so
 * that a test can make a write or an fsync fail, or hold an fsync until it lets go.
 */
internal class HookedJournalFs : JournalFileSystem {
    @Volatile var beforeWrite: (file: Path, position: Long) -> Unit = { _, _ -> }
    @Volatile var beforeForce: (file: Path) -> Unit = {}

    override fun create(file: Path): JournalFile = Hooked(file, JournalFileSystem.Default.create(file))

    override fun openExisting(file: Path): JournalFile = Hooked(file, JournalFileSystem.Default.openExisting(file))

    override fun move(source: Path, target: Path) = JournalFileSystem.Default.move(source, target)

    override fun delete(file: Path) = JournalFileSystem.Default.delete(file)

    override fun forceDirectory(directory: Path) = JournalFileSystem.Default.forceDirectory(directory)

    private inner class Hooked(private val path: Path, private val file: JournalFile) : JournalFile {
        override fun write(buffer: ByteBuffer, position: Long) {
            beforeWrite(path, position)
            file.write(buffer, position)
        }

        override fun read(buffer: ByteBuffer, position: Long): Int = file.read(buffer, position)

        override fun force() {
            beforeForce(path)
            file.force()
        }

        override fun truncate(size: Long) = file.truncate(size)

        override fun size(): Long = file.size()

        override fun close() = file.close()
    }
}

/** `true` when [file] is a segment of [queue]'s journal. */
private fun Path.isSegmentOf(queue: String): Boolean =
    parent?.fileName?.toString() == QueueFileNames.journalDirectoryName(queue) && fileName.toString().endsWith(".seg")

/** The system clock, except that the second reading on the thread named [thread] waits for [release]. */
private class HoldingClock(private val thread: String) : Clock() {
    val entered = CountDownLatch(1)
    val release = CountDownLatch(1)
    private val calls = AtomicInteger()

    override fun getZone(): ZoneId = ZoneOffset.UTC

    override fun withZone(zone: ZoneId?): Clock = this

    override fun millis(): Long {
        // The first reading is the publish's due time, the second the new message's publish time, right after its id.
        if (Thread.currentThread().name.startsWith(thread) && calls.incrementAndGet() == 2) { // coroutine debug mode appends " @coroutine#n"
            entered.countDown()
            release.await(20, TimeUnit.SECONDS)
        }
        return System.currentTimeMillis()
    }

    override fun instant(): Instant = Instant.ofEpochMilli(millis())
}

/** A clock that can be moved forward: system time plus [shift]. */
private class ShiftClock : Clock() {
    val shift = AtomicLong()

    override fun getZone(): ZoneId = ZoneOffset.UTC

    override fun withZone(zone: ZoneId?): Clock = this

    override fun millis(): Long = System.currentTimeMillis() + shift.get()

    override fun instant(): Instant = Instant.ofEpochMilli(millis())
}

private fun durableBus(
    dir: Path,
    fs: JournalFileSystem = JournalFileSystem.Default,
    drainTimeout: Duration = 10.seconds,
    clock: Clock = Clock.systemUTC(),
    snapshots: Boolean = false,
    shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
    segmentBytes: Int = 64 * 1024 * 1024,
) = MQ(
    BusSettings(
        dispatcher = Dispatchers.Default,
        drainTimeout = drainTimeout,
        snapshotDirectory = if (snapshots) dir else null,
        shutdownMode = shutdownMode,
        clock = clock,
        journalDirectory = dir,
        journalSegmentBytes = segmentBytes,
        journalFileSystem = fs,
    ),
)

/** A Java-door bus on [dir] with [fs] (the builder has no setter for the test seam: set it by reflection). */
private fun javaDurableBus(dir: Path, fs: JournalFileSystem): MessageBus {
    val builder = MessageBus.Builder(FROM_RELAYMQ).journalDirectory(dir)
    val field = MessageBus.Builder::class.java.getDeclaredField("settings").apply { isAccessible = true }
    field.set(builder, (field.get(builder) as BusSettings).copy(journalFileSystem = fs))
    return builder.build()
}

/**
 * Waits until everything handed to [queue]'s journal writer so far is written and forced (a barrier
 * through the writer's queue, which is FIFO): completions and retries are journaled lazily, so a test
 * that crashes on purpose after them fences first.
 */
private fun MQ.journalFence(queue: String) {
    val journal = checkNotNull(bus.engine(queue).journal) { "'$queue' is not durable" }
    val field = QueueJournal::class.java.getDeclaredField("writer").apply { isAccessible = true }
    val writer = field.get(journal) as JournalWriter
    val done = CompletableFuture<Unit>()
    writer.submit(JournalEntry.Barrier(done))
    done.get(20, TimeUnit.SECONDS)
}

/** Runs [block] on real threads, failing with a timeout instead of hanging. */
private fun <T> onRealThreadsBlocking(limit: Duration = 30.seconds, block: suspend CoroutineScope.() -> T): T =
    runBlocking { withContext(Dispatchers.Default) { withTimeout(limit) { block() } } }

/** Polls [condition] (a hang is caught by the caller's timeout). */
private suspend fun waitUntil(condition: () -> Boolean) {
    while (!condition()) delay(1)
}

/** The accounting identity of a queue whose messages all reached an end. */
private fun QueueStats.shouldBalance(label: String) {
    withClue("$label: $this") {
        pending shouldBe 0L
        inFlight shouldBe 0L
        published shouldBe succeeded + failed + dropped + withdrawn + abandoned + saved
    }
}

/** Registers [queue] durable on a new bus on [dir], handles what it replays (concurrency 1), closes; returns the replayed messages in handling order. */
private suspend fun replayed(dir: Path, queue: String, options: QueueOptions = QueueOptions(durable = true), clock: Clock = Clock.systemUTC()): List<Message<String>> {
    val mq = durableBus(dir, clock = clock)
    val seen = ConcurrentLinkedQueue<Message<String>>()
    mq.registerQueue<String>(queue, options) { seen += it }
    mq.start()
    mq.awaitIdle()
    mq.shutdown()
    return seen.toList()
}

/** Runs a blocking call on its own daemon thread, so that a hang can be detected instead of pinning the test. */
private fun <T> onOwnDaemonThread(name: String, body: () -> T): CompletableFuture<T> {
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

private enum class DurableCloseMode(val drainTimeout: Duration, val snapshots: Boolean, val shutdownMode: ShutdownMode) {
    /** No snapshot directory: the close drains everything. */
    DRAIN(10.seconds, false, ShutdownMode.SNAPSHOT_IMMEDIATELY),

    /** No snapshot directory and a short deadline: what is left stays in the journal. */
    DRAIN_DEADLINE(100.milliseconds, false, ShutdownMode.SNAPSHOT_IMMEDIATELY),

    /** A snapshot directory (the journal directory too) and SNAPSHOT_IMMEDIATELY: consumers stop at once. */
    SNAPSHOT_IMMEDIATELY(10.seconds, true, ShutdownMode.SNAPSHOT_IMMEDIATELY),
}

class DurableInteractionSpec : FunSpec({

    // ------------------------------------------------------------------ close while publishers run

    for (mode in DurableCloseMode.entries) {
        test("durable x close while 8 publishers run [$mode]: no publish hangs; ids handled or replayed; accounting") {
            onRealThreadsBlocking(40.seconds) {
                val dir = tempDir()
                val mq = durableBus(dir, drainTimeout = mode.drainTimeout, snapshots = mode.snapshots, shutdownMode = mode.shutdownMode)
                val handled = ConcurrentLinkedQueue<Long>()
                mq.registerQueue<String>("q", QueueOptions(concurrency = 2, durable = true)) {
                    delay(if (it.id % 4 == 0L) 1 else 0)
                    handled += it.id
                }
                mq.start()
                val returned = ConcurrentLinkedQueue<Long>()
                val problems = ConcurrentLinkedQueue<String>()
                val producers = (0 until 8).map { p ->
                    launch {
                        for (i in 0 until 600) {
                            try {
                                returned += mq.publish("q", "p$p-$i")
                            } catch (e: BusClosedException) {
                                break
                            } catch (e: Throwable) {
                                problems += "producer $p: $e"
                                break
                            }
                        }
                    }
                }
                waitUntil { returned.size >= 400 }
                val summary = mq.shutdown()
                producers.joinAll() // none hangs
                problems.shouldBeEmpty()
                val stats = mq.stats("q")
                stats.shouldBalance("after close")
                stats.abandoned shouldBe 0L // a durable queue leaves the rest in its journal
                summary.queues.getValue("q").saved shouldBe stats.saved

                val again = replayed(dir, "q").map { it.id }
                withClue("replayed ${again.size}, saved ${stats.saved}") {
                    again.size.toLong() shouldBe stats.saved
                    (again.toSet() - returned.toSet()).shouldBeEmpty() // nothing invented
                    (returned.toSet() - handled.toSet() - again.toSet()).shouldBeEmpty() // nothing lost
                }
            }
        }
    }

    test("durable x close: publishes held in an fsync when the close begins each get their id, and are processed or replayed") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val hold = CountDownLatch(1)
            val held = CountDownLatch(1)
            val armed = AtomicBoolean()
            fs.beforeForce = { file ->
                if (armed.get() && file.isSegmentOf("q")) {
                    held.countDown()
                    hold.await(20, TimeUnit.SECONDS)
                }
            }
            val mq = durableBus(dir, fs = fs, snapshots = true) // SNAPSHOT_IMMEDIATELY: consumers stop at once
            val handled = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>("q", QueueOptions(concurrency = 2, durable = true)) { handled += it.id }
            mq.start()
            mq.publish("q", "warm-up")
            armed.set(true)
            val publishes = (0 until 8).map { p -> async { runCatching { mq.publish("q", "p$p") } } }
            withContext(Dispatchers.IO) { held.await(10, TimeUnit.SECONDS) } shouldBe true
            val closing = async { mq.shutdown() }
            waitUntil { mq.bus.state == io.relaymq.internal.Bus.State.CLOSING }
            hold.countDown()
            val outcomes = publishes.awaitAll()
            closing.await()
            val ids = outcomes.mapNotNull { it.getOrNull() }
            outcomes.mapNotNull { it.exceptionOrNull() }.forEach { it::class shouldBe BusClosedException::class }
            mq.stats("q").shouldBalance("after close")
            val again = replayed(dir, "q").map { it.id }
            (ids.toSet() - handled.toSet() - again.toSet()).shouldBeEmpty()
        }
    }

    // ------------------------------------------------------------------ bounded capacity x overflow

    test("durable x capacity 4, REJECT: refused publishes take no id and leave no trace; accepted ones survive a crash") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            mq.registerQueue<String>("q", QueueOptions(capacity = 4, overflow = OverflowPolicy.REJECT, durable = true)) {}
            val ids = ArrayList<Long>()
            var refused = 0
            repeat(10) {
                try {
                    ids += mq.publish("q", "m$it")
                } catch (e: QueueFullException) {
                    refused++
                }
            }
            ids shouldContainExactly listOf(1L, 2L, 3L, 4L)
            refused shouldBe 6
            mq.stats("q").rejected shouldBe 6L
            mq.stats("q").published shouldBe 4L
            mq.journalFence("q")
            mq.crashForTesting()
            replayed(dir, "q").map { it.id } shouldContainExactly ids
        }
    }

    test("durable x capacity 4, DROP_NEWEST: dropped messages are never replayed; accounting") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val dropped = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>("q", QueueOptions(capacity = 4, overflow = OverflowPolicy.DROP_NEWEST, onDrop = { dropped += it.id }, durable = true)) {}
            val ids = (0 until 10).map { mq.publish("q", "m$it") }
            dropped.toList() shouldContainExactly ids.drop(4)
            val stats = mq.stats("q")
            stats.published shouldBe 10L
            stats.dropped shouldBe 6L
            stats.pending shouldBe 4L
            mq.journalFence("q")
            mq.crashForTesting()
            replayed(dir, "q").map { it.id } shouldContainExactly ids.take(4)
        }
    }

    test("durable x capacity 4, DROP_OLDEST: dropped messages are never replayed; accounting") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val dropped = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>("q", QueueOptions(capacity = 4, overflow = OverflowPolicy.DROP_OLDEST, onDrop = { dropped += it.id }, durable = true)) {}
            val ids = (0 until 10).map { mq.publish("q", "m$it") }
            dropped.toList() shouldContainExactly ids.take(6)
            val stats = mq.stats("q")
            stats.published shouldBe 10L
            stats.dropped shouldBe 6L
            stats.pending shouldBe 4L
            mq.journalFence("q")
            mq.crashForTesting()
            val again = replayed(dir, "q")
            again.map { it.id } shouldContainExactly ids.drop(6)
            again.map { it.data } shouldContainExactly (6 until 10).map { "m$it" }
        }
    }

    test("durable x capacity 4, SUSPEND: 4 producers wait for room, every id handled once, in producer order; nothing replayed after a fenced crash") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val handled = ConcurrentLinkedQueue<Message<String>>()
            mq.registerQueue<String>("q", QueueOptions(capacity = 4, overflow = OverflowPolicy.SUSPEND, durable = true)) {
                if (it.id % 8 == 0L) delay(1)
                handled += it
            }
            mq.start()
            val ids = (0 until 4).map { p -> async { (0 until 150).map { mq.publish("q", "$p:$it") } } }.awaitAll()
            mq.awaitIdle()
            val seen = handled.map { it.id }
            seen.size shouldBe seen.toSet().size
            seen.toSet() shouldBe ids.flatten().toSet()
            for (p in 0 until 4) {
                handled.map { it.data }.filter { it.startsWith("$p:") }.map { it.substringAfter(':').toInt() } shouldContainExactly (0 until 150).toList()
            }
            mq.stats("q").shouldBalance("SUSPEND")
            mq.journalFence("q")
            mq.crashForTesting()
            replayed(dir, "q").shouldBeEmpty()
        }
    }

    test("a DROP_NEWEST id is never handed out again after a restart (it is journaled as used)") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val dropped = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>("q", QueueOptions(capacity = 1, overflow = OverflowPolicy.DROP_NEWEST, onDrop = { dropped += it.id }, durable = true)) {}
            val ids = (0 until 3).map { mq.publish("q", "m$it") }
            dropped.toList() shouldContainExactly listOf(2L, 3L) // the drop listener and the publishers saw ids 2 and 3
            mq.journalFence("q")
            mq.crashForTesting()

            val second = durableBus(dir)
            second.registerQueue<String>("q", QueueOptions(capacity = 1, overflow = OverflowPolicy.DROP_NEWEST, durable = true)) {}
            val next = second.publish("q", "after restart")
            second.shutdown()
            withClue("ids handed out before the restart: $ids (2 and 3 dropped); the first id after it must be new") {
                next shouldBeGreaterThan ids.max()
            }
        }
    }

    // ------------------------------------------------------------------ request withdrawal

    test("durable x request timeout: the withdrawn message is journaled as ended and not replayed after a crash (Kotlin and Java doors)") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            mq.registerQueue<String>("q", QueueOptions(durable = true)) {} // never started: nothing is taken
            val kept = mq.publish("q", "kept")
            shouldThrow<TimeoutCancellationException> { mq.request<Unit>("q", "withdrawn", timeout = 50.milliseconds) }
            val keptToo = mq.publish("q", "kept too")
            mq.stats("q").withdrawn shouldBe 1L
            mq.stats("q").pending shouldBe 2L
            mq.journalFence("q")
            mq.crashForTesting()
            replayed(dir, "q").map { it.id } shouldContainExactly listOf(kept, keptToo)

            val javaDir = tempDir()
            val bus = javaDurableBus(javaDir, JournalFileSystem.Default)
            bus.registerQueue("q", QueueOptions(durable = true), MessageHandler<String> {})
            val first = bus.publish("q", "kept").get()
            val request = bus.request<Any?>("q", "withdrawn", java.time.Duration.ofMillis(50))
            val failure = shouldThrow<ExecutionException> { request.get(10, TimeUnit.SECONDS) }
            failure.cause!!::class shouldBe TimeoutException::class
            bus.stats("q").withdrawn shouldBe 1L
            val last = bus.publish("q", "kept too").get() // stored after the withdrawal's completion (one FIFO writer)
            bus.stats("q").pending shouldBe 2L
            // crash the Java bus the way MQ does
            val inner = MessageBus::class.java.getDeclaredField("bus").apply { isAccessible = true }.get(bus) as io.relaymq.internal.Bus
            inner.crashForTesting()
            replayed(javaDir, "q").map { it.id } shouldContainExactly listOf(first, last)
        }
    }

    // ------------------------------------------------------------------ retries, keys, crash

    test("durable x retries with backoff x ordering keys x crash: replayed at the journaled attempt, not before due; a key waiting for a retry keeps its line") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val clock = ShiftClock()
            val retry = RetryPolicy(maxAttempts = 3, initialBackoff = 1.hours, maxBackoff = 2.hours, jitter = 0.0)
            val options = QueueOptions(concurrency = 4, retry = retry, durable = true)
            val mq = durableBus(dir, clock = clock)
            val firstRun = ConcurrentLinkedQueue<String>()
            val failedAt = AtomicLong()
            mq.registerQueue<String>("q", options) {
                firstRun += "${it.data}@${it.attempt}"
                if (it.data == "k1") {
                    failedAt.set(clock.millis())
                    throw IllegalStateException("fails on its first attempt")
                }
            }
            mq.start()
            mq.publish("q", "k1", PublishOptions(key = "k"))
            waitUntil { mq.stats("q").retried == 1L }
            for (i in 2..4) mq.publish("q", "k$i", PublishOptions(key = "k"))
            for (i in 1..3) mq.publish("q", "j$i", PublishOptions(key = "j"))
            waitUntil { firstRun.count { it.startsWith("j") } == 3 }
            firstRun.filter { it.startsWith("k") } shouldContainExactly listOf("k1@1") // k2..k4 wait behind k1's retry
            mq.journalFence("q")
            mq.crashForTesting()

            val second = durableBus(dir, clock = clock)
            val secondRun = ConcurrentLinkedQueue<Message<String>>()
            val handledAt = java.util.concurrent.ConcurrentHashMap<String, Long>()
            second.registerQueue<String>("q", options) {
                handledAt[it.data] = clock.millis()
                secondRun += it
            }
            withClue("recovered: k1 waits for its retry (delayed), k2..k4 behind it, the j's ended") {
                second.stats("q").pending shouldBe 4L
                second.stats("q").delayed shouldBe 1L
            }
            second.start()
            second.publish("q", "marker")
            waitUntil { secondRun.any { it.data == "marker" } }
            withClue("nothing of key k may run before k1's retry is due") {
                secondRun.map { it.data } shouldContainExactly listOf("marker")
            }
            // Move past the due time; a delayed publish wakes the scheduler, which then reads the clock.
            clock.shift.addAndGet(2.hours.inWholeMilliseconds)
            second.publish("q", "wake-up", PublishOptions(delay = 1.hours)) // stays delayed; the bus is crashed at the end
            waitUntil { secondRun.count { it.key == "k" } == 4 }
            val k = secondRun.filter { it.key == "k" }
            k.map { it.data } shouldContainExactly listOf("k1", "k2", "k3", "k4")
            k.first().attempt shouldBe 2
            handledAt.getValue("k1") shouldBeGreaterThanOrEqual failedAt.get() + 1.hours.inWholeMilliseconds
            second.crashForTesting()
        }
    }

    // ------------------------------------------------------------------ dead letters

    test("durable x dead letters into a durable DLQ x crash at a random moment: every acknowledged message is replayed in its queue or has its letter in the DLQ") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            mq.registerQueue<DeadLetter>("dlq", QueueOptions(durable = true)) {}
            mq.registerQueue<String>("src", QueueOptions(concurrency = 4, deadLetterQueue = "dlq", durable = true)) {
                throw IllegalStateException("always fails")
            }
            mq.pause("dlq") // letters stay in the DLQ's journal
            mq.start()
            val acked = ConcurrentLinkedQueue<Long>()
            val stop = AtomicBoolean()
            // Not children of the test: a publisher caught by the crash waits forever (its writer is gone).
            val producerScope = CoroutineScope(Dispatchers.Default + SupervisorJob())
            (0 until 4).forEach { p ->
                producerScope.launch {
                    var i = 0
                    while (!stop.get()) {
                        try {
                            acked += mq.publish("src", "p$p-${i++}")
                        } catch (e: Exception) {
                            break
                        }
                    }
                }
            }
            waitUntil { mq.stats("src").deadLettered >= 150 }
            mq.crashForTesting()
            stop.set(true)

            val second = durableBus(dir)
            val letters = ConcurrentLinkedQueue<Long>()
            val again = ConcurrentLinkedQueue<Long>()
            second.registerQueue<DeadLetter>("dlq", QueueOptions(durable = true)) { letters += it.data.messageId }
            second.registerQueue<String>("src", QueueOptions(deadLetterQueue = "dlq", durable = true)) { again += it.id }
            second.start()
            second.awaitIdle()
            second.shutdown()
            val missing = acked.toSet() - letters.toSet() - again.toSet()
            withClue("acked ${acked.size}, letters ${letters.size}, replayed ${again.size}") { missing.shouldBeEmpty() }
            producerScope.cancel()
        }
    }

    test("durable x dead letters: a DLQ whose journal write fails leaves the source message in the source's journal") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val failing = AtomicBoolean()
            fs.beforeWrite = { file, _ -> if (failing.get() && file.isSegmentOf("dlq")) throw IOException("injected write failure") }
            val mq = durableBus(dir, fs = fs)
            mq.registerQueue<DeadLetter>("dlq", QueueOptions(durable = true)) {}
            val attempts = AtomicInteger()
            mq.registerQueue<String>("src", QueueOptions(deadLetterQueue = "dlq", durable = true)) {
                attempts.incrementAndGet()
                throw IllegalStateException("fails")
            }
            mq.start()
            failing.set(true)
            val id = mq.publish("src", "m")
            waitUntil { mq.stats("dlq").rejected == 1L } // the letter was refused by the DLQ's journal
            failing.set(false)
            mq.journalFence("src")
            mq.crashForTesting()
            replayed(dir, "src", QueueOptions(deadLetterQueue = null, durable = true)).map { it.id } shouldContainExactly listOf(id)
        }
    }

    test("durable x dead letters: a non-durable DLQ for a durable source is refused with a clear message (at registration and at start)") {
        val dir = tempDir()
        val running = durableBus(dir)
        running.registerQueue<DeadLetter>("dlq") {}
        running.start()
        val e = shouldThrow<IllegalArgumentException> {
            running.registerQueue<String>("src", QueueOptions(deadLetterQueue = "dlq", durable = true)) {}
        }
        e.message shouldContain "'src' is durable"
        e.message shouldContain "'dlq' is not"
        running.close()

        val fresh = durableBus(tempDir())
        fresh.registerQueue<String>("src", QueueOptions(deadLetterQueue = "dlq", durable = true)) {}
        fresh.registerQueue<DeadLetter>("dlq") {}
        val atStart = shouldThrow<IllegalArgumentException> { fresh.start() }
        atStart.message shouldContain "Make 'dlq' durable"
        fresh.crashForTesting()
    }

    test("an in-memory queue's dead letters reach its durable dead-letter queue (the source's payloads cross the disk with its codec)") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val letters = ConcurrentLinkedQueue<DeadLetter>()
            mq.registerQueue<DeadLetter>("dlq", QueueOptions(durable = true)) { letters += it.data }
            mq.registerQueue<String>("src", QueueOptions(deadLetterQueue = "dlq")) { throw IllegalStateException("fails") }
            mq.start()
            mq.publish("src", "m")
            mq.awaitIdle()
            mq.stats("src").deadLettered shouldBe 1L
            withClue("the DLQ got ${mq.stats("dlq").published} letter(s); the configuration was accepted at registration") {
                letters.size shouldBe 1
            }
            mq.shutdown()
        }
    }

    // ------------------------------------------------------------------ pause, resume, setConcurrency

    test("durable x pause/resume and setConcurrency under load: every id handled once; nothing replayed after a fenced crash") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val handled = ConcurrentLinkedQueue<Long>()
            mq.registerQueue<String>("q", QueueOptions(concurrency = 4, durable = true)) {
                if (it.id % 3 == 0L) delay(1)
                handled += it.id
            }
            mq.start()
            val done = AtomicBoolean()
            val chaos = launch {
                var n = 0
                while (!done.get()) {
                    mq.pause("q")
                    yield()
                    mq.setConcurrency("q", 1 + (n++ % 6))
                    mq.resume("q")
                    delay(1)
                }
            }
            val ids = (0 until 4).map { p -> async { (0 until 250).map { mq.publish("q", "$p:$it") } } }.awaitAll().flatten()
            done.set(true)
            chaos.join()
            mq.resume("q")
            mq.awaitIdle()
            handled.size shouldBe handled.toSet().size
            handled.toSet() shouldBe ids.toSet()
            mq.stats("q").shouldBalance("pause/resize")

            // and a paused queue's backlog survives a crash
            mq.pause("q")
            val waiting = (0 until 5).map { mq.publish("q", "w$it") }
            mq.journalFence("q")
            mq.crashForTesting()
            replayed(dir, "q").map { it.id } shouldContainExactly waiting
        }
    }

    // ------------------------------------------------------------------ the Java door

    test("durable x Java publish futures: complete only once stored; dependents never run on the journal writer") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val hold = CountDownLatch(1)
            val held = CountDownLatch(1)
            val armed = AtomicBoolean()
            fs.beforeForce = { file ->
                if (armed.get() && file.isSegmentOf("q")) {
                    held.countDown()
                    hold.await(20, TimeUnit.SECONDS)
                }
            }
            val bus = javaDurableBus(dir, fs)
            val handled = ConcurrentLinkedQueue<String>()
            bus.registerQueue("q", QueueOptions(durable = true), MessageHandler<String> { handled += it.data })
            bus.publish("q", "warm-up").get(10, TimeUnit.SECONDS)
            armed.set(true)
            val future = bus.publish("q", "held")
            withContext(Dispatchers.IO) { held.await(10, TimeUnit.SECONDS) } shouldBe true
            future.isDone shouldBe false // its fsync has not returned
            val dependentThread = future.thenApply { Thread.currentThread().name }
            armed.set(false)
            hold.countDown()
            dependentThread.get(10, TimeUnit.SECONDS) shouldNotStartWith "relaymq-journal-"
            future.get() shouldBe 2L

            // one publisher keeping 500 publishes in flight: ids in call order, handled in that order
            val futures = (0 until 500).map { bus.publish("q", "f$it") }
            val ids = futures.map { it.get(10, TimeUnit.SECONDS) }
            ids shouldContainExactly ids.sorted()
            bus.start()
            bus.idle().get(10, TimeUnit.SECONDS)
            handled.filter { it.startsWith("f") } shouldContainExactly (0 until 500).map { "f$it" }
            bus.close()
        }
    }

    test("a Java request whose journal write fails fails its reply off the journal writer's thread") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val hold = CountDownLatch(1)
            val held = CountDownLatch(1)
            val armed = AtomicBoolean()
            fs.beforeForce = { file ->
                if (armed.get() && file.isSegmentOf("q")) {
                    held.countDown()
                    hold.await(20, TimeUnit.SECONDS)
                    throw IOException("injected fsync failure")
                }
            }
            val bus = javaDurableBus(dir, fs)
            bus.registerReplyingQueue("q", QueueOptions(durable = true), MessageFunction<String, String> { "reply" })
            bus.publish("q", "warm-up").get(10, TimeUnit.SECONDS)
            armed.set(true)
            val reply = bus.request<String>("q", "x")
            withContext(Dispatchers.IO) { held.await(10, TimeUnit.SECONDS) } shouldBe true
            reply.isDone shouldBe false // its record's fsync is held
            val dependentThread = reply.handle { _, _ -> Thread.currentThread().name }
            armed.set(false)
            hold.countDown()
            // Wait on the dependent, not on the reply: a thread blocked in reply.get() helps run the
            // reply's dependents and could run this one itself.
            withClue("the requester's dependent stage ran on") {
                dependentThread.get(10, TimeUnit.SECONDS) shouldNotStartWith "relaymq-journal-"
            }
            val failure = shouldThrow<ExecutionException> { reply.get(10, TimeUnit.SECONDS) }
            failure.cause!!::class shouldBe JournalException::class
            bus.close()
        }
    }

    test("a Java durable publish future refuses cancel() once its record is being stored (the message is accepted and handled)") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val hold = CountDownLatch(1)
            val held = CountDownLatch(1)
            val armed = AtomicBoolean()
            fs.beforeForce = { file ->
                if (armed.get() && file.isSegmentOf("q")) {
                    held.countDown()
                    hold.await(20, TimeUnit.SECONDS)
                }
            }
            val bus = javaDurableBus(dir, fs)
            val handled = ConcurrentLinkedQueue<String>()
            bus.registerQueue("q", QueueOptions(durable = true), MessageHandler<String> { handled += it.data })
            bus.publish("q", "warm-up").get(10, TimeUnit.SECONDS)
            armed.set(true)
            val future = bus.publish("q", "cancelled?")
            withContext(Dispatchers.IO) { held.await(10, TimeUnit.SECONDS) } shouldBe true
            val cancelled = future.cancel(true)
            armed.set(false)
            hold.countDown()
            bus.start()
            bus.idle().get(10, TimeUnit.SECONDS)
            bus.close()
            withClue("cancel() returned $cancelled (the caller was told the publish is off); handled: $handled") {
                (cancelled && "cancelled?" in handled) shouldBe false
            }
        }
    }

    // ------------------------------------------------------------------ journal faults

    test("durable x journal fault: an in-memory queue on the same bus keeps working; the failed publishes are refused and accounted; the durable queue recovers") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val fs = HookedJournalFs()
            val failing = AtomicBoolean()
            fs.beforeWrite = { file, _ -> if (failing.get() && file.isSegmentOf("d")) throw IOException("No space left on device (injected)") }
            fs.beforeForce = { file -> if (failing.get() && file.isSegmentOf("d")) throw IOException("injected fsync failure") }
            val mq = durableBus(dir, fs = fs)
            val durable = ConcurrentLinkedQueue<Long>()
            val memory = AtomicInteger()
            mq.registerQueue<String>("d", QueueOptions(concurrency = 2, durable = true)) { durable += it.id }
            mq.registerQueue<String>("m", QueueOptions(concurrency = 2)) { memory.incrementAndGet() }
            mq.start()
            val before = (0 until 10).map { mq.publish("d", "before$it") }
            failing.set(true)
            val refused = (0 until 5).map { async { runCatching { mq.publish("d", "during$it") } } }
            repeat(2_000) { mq.publish("m", "x$it") }
            val outcomes = refused.awaitAll()
            outcomes.forEach { it.exceptionOrNull()!!::class shouldBe JournalException::class }
            mq.awaitIdle() // not held up by the durable queue's refused publishes
            memory.get() shouldBe 2_000
            mq.stats("m").shouldBalance("in-memory")
            mq.stats("d").shouldBalance("durable during the fault")
            mq.stats("d").published shouldBe 10L
            failing.set(false)
            val after = (0 until 10).map { mq.publish("d", "after$it") }
            mq.awaitIdle()
            durable.toSet() shouldBe (before + after).toSet()
            mq.stats("d").shouldBalance("durable after the fault")
            mq.shutdown()
            replayed(dir, "d").shouldBeEmpty() // the refused publishes are not replayed either
        }
    }

    test("close returns while the journal keeps failing (the writer gives up on what it carries)") {
        val dir = tempDir()
        val fs = HookedJournalFs()
        val failing = AtomicBoolean()
        fs.beforeWrite = { file, _ -> if (failing.get() && file.isSegmentOf("q")) throw IOException("No space left on device (injected)") }
        fs.beforeForce = { file -> if (failing.get() && file.isSegmentOf("q")) throw IOException("injected fsync failure") }
        val mq = durableBus(dir, fs = fs, drainTimeout = 500.milliseconds)
        mq.registerQueue<String>("q", QueueOptions(durable = true)) {}
        runBlocking { repeat(20) { mq.publish("q", "m$it") } }
        failing.set(true) // say the disk fills up
        mq.start()
        runBlocking { withTimeout(10.seconds) { waitUntil { mq.stats("q").succeeded == 20L } } } // 20 completions the writer cannot write
        val closing = onOwnDaemonThread("closer") { mq.close() }
        val returned = try {
            closing.get(5, TimeUnit.SECONDS)
            true
        } catch (e: TimeoutException) {
            false
        }
        failing.set(false) // the disk frees up: the close can finish now
        closing.get(30, TimeUnit.SECONDS)
        withClue("MQ.close() with drainTimeout 500 ms returned within 5 s while the journal kept failing") { returned shouldBe true }
    }

    test("a failed batch that crossed a segment roll: its publishes left in the older segment get tombstones referring to it, and never come back after a crash") {
        val dir = tempDir().resolve("journal").also { Files.createDirectories(it) }
        val fs = HookedJournalFs()
        val hold = CountDownLatch(1)
        val held = CountDownLatch(1)
        val holdNext = AtomicBoolean()
        val failNextBatchForceOf = AtomicLong(-1) // segment index whose second force (the first after its header) fails
        val forcesOf = java.util.concurrent.ConcurrentHashMap<Long, AtomicInteger>()
        fs.beforeForce = { file ->
            val index = JournalFormat.segmentIndexOf(file.fileName.toString())!!
            val n = forcesOf.computeIfAbsent(index) { AtomicInteger() }.incrementAndGet()
            if (holdNext.compareAndSet(true, false)) {
                held.countDown()
                hold.await(20, TimeUnit.SECONDS)
            }
            if (index == failNextBatchForceOf.get() && n == 2) throw IOException("injected fsync failure (EIO)")
        }
        val recovered = JournalRecovery.recover("q", dir, fs, strict = false)
        val writer = JournalWriter("q", dir, fs, FsyncPolicy.perGroupCommit(), 4096, recovered.book, AtomicLong(), Clock.systemUTC())
        writer.begin(emptyList()) // segment 1
        writer.start()

        val outcome = java.util.concurrent.ConcurrentHashMap<Long, CompletableFuture<Boolean>>()
        fun append(id: Long, payloadBytes: Int) {
            val result = CompletableFuture<Boolean>()
            outcome[id] = result
            val frame = JournalFormat.messageFrame(id, System.currentTimeMillis(), 0L, Long.MIN_VALUE, 1, null, ByteArray(payloadBytes) { 'x'.code.toByte() })
            writer.submit(
                JournalEntry.Append(
                    id, frame,
                    object : JournalCallback {
                        override fun stored() {
                            result.complete(true)
                        }

                        override fun failed(error: io.relaymq.JournalException) {
                            result.complete(false)
                        }
                    },
                ),
            )
        }

        append(1, 100)
        outcome.getValue(1).get(10, TimeUnit.SECONDS) shouldBe true
        // Hold the next batch's fsync so that 3..8 queue up and go in one batch.
        holdNext.set(true)
        append(2, 100)
        held.await(10, TimeUnit.SECONDS) shouldBe true
        for (id in 3L..8L) append(id, 900) // ~950-byte frames: 3, 4, 5 fit into segment 1, 6 rolls to segment 2
        failNextBatchForceOf.set(2) // the batch's fsync in segment 2 fails (EIO)
        hold.countDown()
        outcome.getValue(2).get(10, TimeUnit.SECONDS) shouldBe true
        for (id in 3L..8L) withClue("publish $id") { outcome.getValue(id).get(10, TimeUnit.SECONDS) shouldBe false } // all told "not accepted"
        // The tombstones go to segment 3. A large record rolls segment 3 out, so it can be deleted.
        append(9, 4000)
        outcome.getValue(9).get(10, TimeUnit.SECONDS) shouldBe true
        val barrier = CompletableFuture<Unit>()
        writer.submit(JournalEntry.Barrier(barrier))
        barrier.get(10, TimeUnit.SECONDS)
        writer.crash()

        val left = dir.toFile().list()!!.filter { it.endsWith(".seg") }.sorted()
        val pending = JournalRecovery.recover("q", dir, JournalFileSystem.Default, strict = false).messages.map { it.id }
        withClue("segments left: $left; publishes 3..8 were refused, so only 1, 2 and 9 may be pending") {
            pending shouldContainExactly listOf(1L, 2L, 9L)
        }
    }

    test("a durable queue accepts messages in id order (id and journal record are one step), so recovery rebuilds a key's line as it was: a message behind a retry stays behind it") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val clock = HoldingClock("publisher-A")
            val options = QueueOptions(concurrency = 2, retry = RetryPolicy(maxAttempts = 2, initialBackoff = 1.hours, maxBackoff = 1.hours, jitter = 0.0), durable = true)
            val mq = durableBus(dir, clock = clock)
            val firstRun = ConcurrentLinkedQueue<String>()
            mq.registerQueue<String>("q", options) {
                firstRun += "${it.data}@${it.attempt}"
                if (it.data == "A") throw IllegalStateException("A fails its first attempt")
            }
            mq.start()
            // A takes id 1 and is held right after (the clock is read then): B cannot overtake it.
            val a = onOwnDaemonThread("publisher-A") { runBlocking { mq.publish("q", "A", PublishOptions(key = "k")) } }
            withContext(Dispatchers.IO) { clock.entered.await(10, TimeUnit.SECONDS) } shouldBe true
            val b = async(Dispatchers.IO) { mq.publish("q", "B", PublishOptions(key = "k")) }
            delay(50) // B is given every chance to overtake (it must not); no assertion depends on this time
            mq.stats("q").published shouldBe 1L
            clock.release.countDown()
            a.get(10, TimeUnit.SECONDS) shouldBe 1L
            b.await() shouldBe 2L
            waitUntil { mq.stats("q").retried == 1L } // A ran and failed: it holds key k until its retry
            waitUntil { mq.stats("q").waitingForKey == 1L } // B waits behind A in k's line
            firstRun.toList() shouldContainExactly listOf("A@1")
            mq.journalFence("q")
            mq.crashForTesting()

            val second = durableBus(dir)
            val secondRun = ConcurrentLinkedQueue<String>()
            second.registerQueue<String>("q", options) { secondRun += it.data }
            second.start()
            second.publish("q", "marker")
            waitUntil { "marker" in secondRun }
            withClue("before the crash B waited behind A's retry in key k's line; after it") {
                secondRun.toList() shouldContainExactly listOf("marker")
            }
            second.stats("q").waitingForKey shouldBe 1L
            second.crashForTesting()
        }
    }

    test("journal model check: random publishes, retries and completions over many segment rolls and deletions, crash after a barrier, recover exactly the pending messages at their attempts") {
        val dir = tempDir().resolve("journal").also { Files.createDirectories(it) }
        val random = kotlin.random.Random(11)
        val model = LinkedHashMap<Long, Int>() // pending id -> attempt
        var nextId = 0L
        var mostSegments = 0
        repeat(40) { round ->
            val recovered = JournalRecovery.recover("q", dir, JournalFileSystem.Default, strict = false)
            withClue("round $round: recovered pending messages and attempts") {
                recovered.messages.associate { it.id to it.attempt } shouldBe model
                recovered.corrupt.shouldBeEmpty()
            }
            nextId = maxOf(nextId, recovered.maxId)
            val sequence = AtomicLong(nextId)
            val writer = JournalWriter("q", dir, JournalFileSystem.Default, FsyncPolicy.perGroupCommit(), 4096, recovered.book, sequence, Clock.systemUTC())
            writer.begin(recovered.relocations)
            writer.start()
            repeat(300) {
                val pending = model.keys.toList()
                val op = random.nextInt(10)
                when {
                    op < 4 || pending.isEmpty() -> {
                        val id = ++nextId
                        sequence.set(id)
                        val frame = JournalFormat.messageFrame(id, 1L, 0L, Long.MIN_VALUE, 1, null, ByteArray(random.nextInt(10, 700)))
                        writer.submit(JournalEntry.Append(id, frame, null))
                        model[id] = 1
                    }
                    op < 6 -> {
                        val id = pending[random.nextInt(pending.size)]
                        val attempt = model.getValue(id) + 1
                        writer.submit(JournalEntry.Retry(id, attempt, 5L, 2L))
                        model[id] = attempt
                    }
                    else -> {
                        // mostly the oldest, so that old segments empty out and get deleted
                        val id = if (random.nextInt(3) > 0) pending.first() else pending[random.nextInt(pending.size)]
                        writer.submit(JournalEntry.Complete(id))
                        model.remove(id)
                    }
                }
                if (random.nextInt(25) == 0) {
                    val done = CompletableFuture<Unit>()
                    writer.submit(JournalEntry.Barrier(done))
                    done.get(10, TimeUnit.SECONDS)
                }
            }
            val done = CompletableFuture<Unit>()
            writer.submit(JournalEntry.Barrier(done))
            done.get(10, TimeUnit.SECONDS)
            mostSegments = maxOf(mostSegments, dir.toFile().list()!!.count { it.endsWith(".seg") })
            writer.crash()
        }
        withClue("segments on disk follow the backlog (${model.size} pending at the end), not the history") {
            (mostSegments < 60) shouldBe true
        }
    }

    test("journal model check with injected write and fsync faults: refused publishes never come back, acknowledged ones never go missing") {
        val dir = tempDir().resolve("journal").also { Files.createDirectories(it) }
        val random = kotlin.random.Random(3)
        val fs = HookedJournalFs()
        val faulty = AtomicBoolean()
        // Every 17th write and every 13th fsync fails: deterministic in count, whatever the batches look like.
        val writes = java.util.concurrent.atomic.AtomicInteger()
        val forces = java.util.concurrent.atomic.AtomicInteger()
        fs.beforeWrite = { _, position -> if (faulty.get() && position > 0 && writes.incrementAndGet() % 17 == 0) throw IOException("injected write failure") }
        fs.beforeForce = { _ -> if (faulty.get() && forces.incrementAndGet() % 13 == 0) throw IOException("injected fsync failure") }
        val model = LinkedHashMap<Long, Int>() // stored and pending: id -> attempt
        val refused = HashSet<Long>()
        val pendingAppends = HashSet<Long>() // outcome not known yet
        var nextId = 0L
        repeat(25) { round ->
            val recovered = JournalRecovery.recover("q", dir, JournalFileSystem.Default, strict = false)
            withClue("round $round: recovered pending messages and attempts (refused publishes among them: ${recovered.messages.map { it.id }.filter { it in refused }})") {
                recovered.messages.associate { it.id to it.attempt } shouldBe model
            }
            nextId = maxOf(nextId, recovered.maxId)
            val sequence = AtomicLong(nextId)
            val writer = JournalWriter("q", dir, fs, FsyncPolicy.perGroupCommit(), 4096, recovered.book, sequence, Clock.systemUTC())
            writer.begin(recovered.relocations)
            writer.start()
            faulty.set(true)
            val outcomes = java.util.concurrent.ConcurrentHashMap<Long, Boolean>()
            repeat(300) {
                val op = random.nextInt(10)
                val stored = model.keys.filter { it !in pendingAppends } // acknowledged
                when {
                    op < 4 || stored.isEmpty() -> {
                        val id = ++nextId
                        sequence.set(id)
                        val frame = JournalFormat.messageFrame(id, 1L, 0L, Long.MIN_VALUE, 1, null, ByteArray(random.nextInt(10, 900)))
                        pendingAppends += id
                        model[id] = 1
                        writer.submit(
                            JournalEntry.Append(
                                id, frame,
                                object : JournalCallback {
                                    override fun stored() {
                                        outcomes[id] = true
                                    }

                                    override fun failed(error: io.relaymq.JournalException) {
                                        outcomes[id] = false
                                    }
                                },
                            ),
                        )
                    }
                    op < 6 -> {
                        val id = stored[random.nextInt(stored.size)]
                        val attempt = model.getValue(id) + 1
                        writer.submit(JournalEntry.Retry(id, attempt, 5L, 2L))
                        model[id] = attempt
                    }
                    else -> {
                        val id = if (random.nextInt(3) > 0) stored.first() else stored[random.nextInt(stored.size)]
                        writer.submit(JournalEntry.Complete(id))
                        model.remove(id)
                    }
                }
                // learn outcomes: a refused publish leaves the model
                for (id in pendingAppends.toList()) {
                    when (outcomes[id]) {
                        true -> pendingAppends -= id
                        false -> {
                            pendingAppends -= id
                            model.remove(id)
                            refused += id
                        }
                        null -> {}
                    }
                }
            }
            faulty.set(false)
            val done = CompletableFuture<Unit>()
            writer.submit(JournalEntry.Barrier(done))
            done.get(10, TimeUnit.SECONDS)
            for (id in pendingAppends.toList()) {
                if (outcomes.getValue(id)) pendingAppends -= id else { pendingAppends -= id; model.remove(id); refused += id }
            }
            writer.crash()
        }
        withClue("the faults were exercised") { refused.isNotEmpty() shouldBe true }
    }

    test("LongIntMap (the segment book's id -> segment map) agrees with a HashMap under random puts and removes") {
        val random = kotlin.random.Random(5)
        val map = io.relaymq.internal.LongIntMap(16)
        val reference = HashMap<Long, Int>()
        repeat(200_000) {
            val key = 1L + random.nextInt(3_000) * 7L
            when (random.nextInt(3)) {
                0, 1 -> random.nextInt(1_000).let { map.put(key, it); reference[key] = it }
                else -> map.remove(key) shouldBe (reference.remove(key) ?: -1)
            }
            if (it % 997 == 0) {
                map.size shouldBe reference.size
                for ((k, v) in reference) map.get(k) shouldBe v
            }
        }
    }

    // ------------------------------------------------------------------ order, snapshots

    test("durable x 8 concurrent producers: per-producer order at concurrency 1, live and after a crash") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir)
            val live = ConcurrentLinkedQueue<String>()
            mq.registerQueue<String>("q", QueueOptions(durable = true)) { live += it.data }
            mq.registerQueue<String>("later", QueueOptions(durable = true)) { error("crashes before it runs") }
            mq.pause("later")
            mq.start()
            coroutineScopeProducers(8, 200) { p, i -> mq.publish("q", "$p:$i"); mq.publish("later", "$p:$i") }
            waitUntil { mq.stats("q").succeeded == 1_600L } // not awaitIdle: "later" stays paused
            checkProducerOrder(live.toList(), 8, 200)
            mq.journalFence("later")
            mq.crashForTesting()
            checkProducerOrder(replayed(dir, "later").map { it.data }, 8, 200)
        }
    }

    test("durable x SNAPSHOT_IMMEDIATELY on a bus whose snapshot directory is the journal directory: durable messages stay in the journal only, in-memory ones go to the snapshot") {
        onRealThreadsBlocking {
            val dir = tempDir()
            val mq = durableBus(dir, snapshots = true)
            mq.registerQueue<String>("d", QueueOptions(durable = true)) { error("not started") }
            mq.registerQueue<String>("m") { error("not started") }
            val d = (0 until 5).map { mq.publish("d", "d$it") }
            val m = (0 until 5).map { mq.publish("m", "m$it") }
            val summary = mq.shutdown()
            summary.queues.getValue("d").saved shouldBe 5L
            summary.queues.getValue("m").saved shouldBe 5L
            Files.exists(dir.resolve(QueueFileNames.fileName("d"))) shouldBe false
            mq.stats("d").shouldBalance("durable")

            val second = durableBus(dir, snapshots = true)
            val seenD = ConcurrentLinkedQueue<Long>()
            val seenM = ConcurrentLinkedQueue<Long>()
            second.registerQueue<String>("d", QueueOptions(durable = true)) { seenD += it.id }
            second.registerQueue<String>("m") { seenM += it.id }
            second.start()
            second.awaitIdle()
            second.shutdown()
            seenD.toList() shouldContainExactly d
            seenM.toList() shouldContainExactly m
        }
    }

    test("with one directory for snapshots and journals, leftover snapshot temp files are removed even when a durable queue took the shared lock first") {
        val dir = tempDir()
        val leftover = dir.resolve(QueueFileNames.fileName("m") + ".tmp-" + "crashed-writer")
        Files.write(leftover, byteArrayOf(1, 2, 3))
        val mq = durableBus(dir, snapshots = true)
        mq.registerQueue<String>("d", QueueOptions(durable = true)) {}
        mq.registerQueue<String>("m") {}
        mq.start()
        val stillThere = Files.exists(leftover)
        mq.close()
        withClue("a bus whose snapshot directory is not shared removes $leftover when it opens the directory") { stillThere shouldBe false }
    }
})

private suspend fun coroutineScopeProducers(producers: Int, each: Int, publish: suspend (Int, Int) -> Unit) {
    kotlinx.coroutines.coroutineScope {
        (0 until producers).map { p -> launch { for (i in 0 until each) publish(p, i) } }.joinAll()
    }
}

private fun checkProducerOrder(seen: List<String>, producers: Int, each: Int) {
    for (p in 0 until producers) {
        withClue("producer $p") {
            seen.filter { it.startsWith("$p:") }.map { it.substringAfter(':').toInt() } shouldContainExactly (0 until each).toList()
        }
    }
}
