package io.relaymq.internal

import io.kotest.assertions.fail
import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainAll
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.collections.shouldContainExactlyInAnyOrder
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.kotest.matchers.types.shouldBeInstanceOf
import io.relaymq.JournalException
import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import io.relaymq.QueueStats
import io.relaymq.capturedLog
import io.relaymq.durableMq
import io.relaymq.segmentsOf
import io.relaymq.tempDir
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.coroutineScope
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.util.Collections
import java.util.concurrent.CountDownLatch
import java.util.concurrent.ExecutionException
import java.util.concurrent.Semaphore
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.concurrent.thread
import kotlin.io.path.name
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.seconds

private const val ENOSPC = "No space left on device"
private const val EIO = "Input/output error"

/**
 * [JournalFileSystem.Default] with switchable faults. Each fault is a predicate (file, position) read
 * when the operation starts; `null` means no fault. [holdNextForce] parks the writer in its next force
 * until [release], so that a test can gather the publishes of one batch behind it.
 */
internal class FaultyJournalFileSystem(private val real: JournalFileSystem = JournalFileSystem.Default) : JournalFileSystem {
    /** Writes for which this returns true throw ENOSPC (after writing half the bytes when [partialWrites]). */
    @Volatile var failWrite: ((Path, Long) -> Boolean)? = null
    @Volatile var partialWrites = false
    /** Forces for which this returns true throw [forceError]. */
    @Volatile var failForce: ((Path) -> Boolean)? = null
    @Volatile var forceError = EIO
    @Volatile var failCreate: ((Path) -> Boolean)? = null
    @Volatile var failMove = false
    @Volatile var failForceDirectory = false

    /** Operations that failed on purpose. */
    val faults = AtomicInteger()

    private val hold = AtomicReference<CountDownLatch?>()
    private val held = Semaphore(0)

    fun holdNextForce() {
        hold.set(CountDownLatch(1))
    }

    /** Waits until a force is held. */
    fun awaitHeld() {
        check(held.tryAcquire(10, TimeUnit.SECONDS)) { "no force was held" }
    }

    @Volatile private var current: CountDownLatch? = null

    /** Lets the held force go on. */
    fun releaseHeld() {
        checkNotNull(current) { "no force is held" }.countDown()
    }

    fun clear() {
        failWrite = null
        partialWrites = false
        failForce = null
        forceError = EIO
        failCreate = null
        failMove = false
        failForceDirectory = false
    }

    private fun fault(message: String): Nothing {
        faults.incrementAndGet()
        throw IOException(message)
    }

    override fun create(file: Path): JournalFile {
        if (failCreate?.invoke(file) == true) fault(ENOSPC)
        return FaultyFile(file, real.create(file))
    }

    override fun openExisting(file: Path): JournalFile = FaultyFile(file, real.openExisting(file))

    override fun move(source: Path, target: Path) {
        if (failMove) fault("Operation not permitted")
        real.move(source, target)
    }

    override fun delete(file: Path) = real.delete(file)

    override fun forceDirectory(directory: Path) {
        if (failForceDirectory) fault(EIO)
        real.forceDirectory(directory)
    }

    private inner class FaultyFile(private val path: Path, private val file: JournalFile) : JournalFile {
        override fun write(buffer: ByteBuffer, position: Long) {
            if (failWrite?.invoke(path, position) == true) {
                if (partialWrites && buffer.remaining() > 1) {
                    val half = buffer.duplicate()
                    half.limit(half.position() + buffer.remaining() / 2)
                    file.write(half, position)
                }
                fault(ENOSPC)
            }
            file.write(buffer, position)
        }

        override fun read(buffer: ByteBuffer, position: Long): Int = file.read(buffer, position)

        override fun force() {
            // Decided when the force starts: a force held below keeps the outcome it had then.
            val fails = failForce?.invoke(path) == true
            hold.getAndSet(null)?.let { latch ->
                current = latch
                held.release()
                latch.await()
            }
            if (fails) fault(forceError)
            file.force()
        }

        override fun truncate(size: Long) = file.truncate(size)

        override fun size(): Long = file.size()

        override fun close() = file.close()
    }
}

private fun faultyMq(dir: Path, fs: JournalFileSystem, segmentBytes: Int = 64 * 1024) = MQ(
    BusSettings(Dispatchers.Default, drainTimeout = 2.seconds, journalDirectory = dir, journalSegmentBytes = segmentBytes, journalFileSystem = fs),
)

/**
 * Records handed to [queue]'s journal writer and not yet taken into a batch. Read through reflection
 * (test only), so that a test knows for sure which publishes the writer's next batch holds.
 */
private fun MQ.journalBacklog(queue: String): Int {
    val journal = checkNotNull(bus.engine(queue).journal) { "queue '$queue' is not durable" }
    val writer = QueueJournal::class.java.getDeclaredField("writer").apply { isAccessible = true }.get(journal)
    val entries = JournalWriter::class.java.getDeclaredField("entries").apply { isAccessible = true }.get(writer)
    return (entries as java.util.Queue<*>).size
}

private fun segmentIndex(path: Path): Long = JournalFormat.segmentIndexOf(path.name) ?: -1

/** Every accepted message ended exactly once or is still there: the accounting identity of QueueCounters. */
private fun QueueStats.shouldAddUp() {
    withClue(toString()) {
        published shouldBe succeeded + failed + dropped + withdrawn + abandoned + saved + pending + inFlight
        pending shouldBeGreaterThanOrEqual 0
    }
}

/** The outcome of one publish: its id, or why it failed. */
private class Outcome(val payload: String, val id: Long?, val error: Throwable?)

private suspend fun publishOutcome(mq: MQ, queue: String, payload: String, options: PublishOptions = PublishOptions()): Outcome =
    try {
        Outcome(payload, mq.publish(queue, payload, options), null)
    } catch (e: JournalException) {
        Outcome(payload, null, e)
    }

private fun CoroutineScope.publishLater(mq: MQ, queue: String, payload: String): Deferred<Outcome> =
    async(Dispatchers.Default) { publishOutcome(mq, queue, payload) }

/** Registers [queue] on a fresh bus over [dir], runs everything it holds, and returns the payloads delivered. */
private suspend fun deliverAll(dir: Path, queue: String, segmentBytes: Int = 64 * 1024): List<String> {
    val seen = Collections.synchronizedList(ArrayList<String>())
    val mq = durableMq(dir, segmentBytes = segmentBytes)
    mq.registerQueue<String>(queue, QueueOptions(durable = true, concurrency = 2)) { seen += it.data }
    mq.start()
    mq.awaitIdle()
    mq.stats(queue).shouldAddUp()
    mq.shutdown()
    return seen.toList()
}

private enum class BatchFault(val what: String) {
    WRITE_ENOSPC(ENOSPC), PARTIAL_WRITE_ENOSPC(ENOSPC), FORCE_EIO(EIO), FORCE_ENOSPC(ENOSPC)
}

class JournalFaultSpec : FunSpec({

    /**
     * Holds the writer in the force of publish `p0`, gathers [batch] publishes behind it (one batch),
     * arms [fault], lets the writer go: `p0` succeeds, exactly the batch fails. Then the fault clears
     * and the queue goes on. Returns the acknowledged payloads and the failed outcomes.
     */
    suspend fun failOneBatch(mq: MQ, fs: FaultyJournalFileSystem, fault: BatchFault, batch: Int, tag: String): Pair<List<String>, List<Outcome>> = coroutineScope {
        val acked = ArrayList<String>()
        repeat(3) { acked += publishOutcome(mq, "q", "$tag-before-$it").also { it.error shouldBe null }.payload }
        fs.holdNextForce()
        val p0 = publishLater(mq, "q", "$tag-p0")
        fs.awaitHeld()
        val publishedBefore = mq.stats("q").published
        val failing = (1..batch).map { publishLater(mq, "q", "$tag-failing-$it") }
        // One publish through the Java door too: its future must fail the same way.
        val future = mq.bus.publishAsync("q", "$tag-failing-future", null, null, 0L)
        waitUntil("the batch's publishes reached the journal writer") { mq.journalBacklog("q") == batch + 1 }
        mq.stats("q").published shouldBe publishedBefore + batch + 1
        when (fault) {
            BatchFault.WRITE_ENOSPC -> fs.failWrite = { _, _ -> true }
            BatchFault.PARTIAL_WRITE_ENOSPC -> {
                fs.partialWrites = true
                fs.failWrite = { _, _ -> true }
            }
            BatchFault.FORCE_EIO -> fs.failForce = { true }
            BatchFault.FORCE_ENOSPC -> {
                fs.forceError = ENOSPC
                fs.failForce = { true }
            }
        }
        fs.releaseHeld()
        p0.await().let {
            it.error shouldBe null
            acked += it.payload
        }
        val failed = failing.map { it.await() }
        val futureError = shouldThrow<ExecutionException> { future.get(10, TimeUnit.SECONDS) }.cause
        fs.clear()
        for (outcome in failed) {
            withClue(outcome.payload) {
                val e = outcome.error.shouldBeInstanceOf<JournalException>()
                e.message shouldContain "Queue 'q'"
                e.message shouldContain fault.what
                e.message shouldContain "could not write a batch of ${batch + 1} record(s)"
                e.message shouldContain "were not accepted"
                if (fault.what == ENOSPC) e.message shouldContain "free disk space"
                // (The coroutine may hand out a copy with a recovered stack trace: look down the chain.)
                generateSequence<Throwable>(e) { it.cause }.any { it is IOException && it.message == fault.what } shouldBe true
            }
        }
        futureError.shouldBeInstanceOf<JournalException>().message shouldContain fault.what
        // The queue goes on once the fault clears.
        repeat(3) { acked += publishOutcome(mq, "q", "$tag-after-$it").also { it.error shouldBe null }.payload }
        acked to (failed + Outcome("$tag-failing-future", null, futureError))
    }

    test("a failed write or fsync (ENOSPC, EIO, a half-written batch) fails exactly the publishes of its batch; none of them is ever delivered, every acknowledged one survives a crash") {
        journalTest {
            for (fault in BatchFault.entries) {
                withClue(fault) {
                    val dir = tempDir()
                    val fs = FaultyJournalFileSystem()
                    val mq = faultyMq(dir, fs)
                    mq.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") }
                    lateinit var result: Pair<List<String>, List<Outcome>>
                    val log = journalWarningsShown { capturedLog { result = failOneBatch(mq, fs, fault, batch = 8, tag = fault.name) } }
                    val (acked, failed) = result
                    // Reported, not hidden: the writer logs the failure (what failed, and for a full disk what to do).
                    log shouldContain "Queue 'q' journal: Queue 'q': the journal could not write a batch of 9 record(s)"
                    log shouldContain fault.what
                    failed.size shouldBe 9
                    acked.size shouldBe 7
                    fs.faults.get() shouldBeGreaterThanOrEqual 1
                    mq.stats("q").let {
                        it.published shouldBe 7
                        it.rejected shouldBe 9
                        it.pending shouldBe 7
                        it.shouldAddUp()
                    }
                    mq.crashForTesting()
                    // Nothing of the failed batch is in the journal (a half-written batch was cut off again);
                    // every acknowledged message is; nothing needs repair.
                    lateinit var recovered: RecoveredJournal
                    journalWarningsShown { capturedLog { recovered = recoverQueue(dir, "q") } }.trim() shouldBe ""
                    recovered.messages.map { it.view().payload } shouldContainExactly acked
                    asideFiles(queueJournalDir(dir, "q"), "torn").shouldBeEmpty()
                    asideFiles(queueJournalDir(dir, "q"), "corrupt").shouldBeEmpty()
                    deliverAll(dir, "q") shouldContainExactlyInAnyOrder acked
                }
            }
        }
    }

    test("after a failed fsync the live queue delivers exactly the acknowledged messages, stats add up, and a crash after it replays none of the failed ones") {
        journalTest {
            val dir = tempDir()
            val fs = FaultyJournalFileSystem()
            val mq = faultyMq(dir, fs)
            val seen = Collections.synchronizedList(ArrayList<String>())
            mq.registerQueue<String>("q", QueueOptions(durable = true, concurrency = 2)) { seen += it.data }
            lateinit var result: Pair<List<String>, List<Outcome>>
            capturedLog { result = failOneBatch(mq, fs, BatchFault.FORCE_EIO, batch = 20, tag = "live") }
            val (acked, failed) = result
            mq.start()
            mq.awaitIdle()
            seen shouldContainExactlyInAnyOrder acked
            mq.stats("q").let {
                it.published shouldBe acked.size.toLong()
                it.succeeded shouldBe acked.size.toLong()
                it.rejected shouldBe failed.size.toLong()
                it.pending shouldBe 0
                it.shouldAddUp()
            }
            mq.crashForTesting()
            // Completions are journaled lazily: some acknowledged messages may come again, never a failed one.
            val again = deliverAll(dir, "q")
            again.filter { it.contains("failing") }.shouldBeEmpty()
            acked.shouldContainAll(again)
        }
    }

    test("faults during segment roll-over (tiny segments): create, directory fsync, the new segment's writes, the old segment's sealing fsync") {
        journalTest {
            val faults = listOf<Pair<String, (FaultyJournalFileSystem, Long) -> Unit>>(
                "create fails (ENOSPC)" to { fs, _ -> fs.failCreate = { true } },
                "directory fsync fails" to { fs, _ -> fs.failForceDirectory = true },
                "writes of records into a new segment fail (ENOSPC)" to { fs, active -> fs.failWrite = { file, position -> segmentIndex(file) > active && position > 0 } },
                "every fsync fails" to { fs, _ -> fs.failForce = { true } },
            )
            for ((name, arm) in faults) {
                withClue(name) {
                    val dir = tempDir()
                    val fs = FaultyJournalFileSystem()
                    val mq = faultyMq(dir, fs, segmentBytes = 4096)
                    mq.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") }
                    val pad = "r".repeat(600) // six records per segment
                    val outcomes = ArrayList<Outcome>()
                    capturedLog {
                        for (i in 1..9) outcomes += publishOutcome(mq, "q", "a$i-$pad")
                        // Armed just after a roll-over for the write fault (which spares the active segment) and
                        // before the next one: publishes go on succeeding until one needs a new segment.
                        arm(fs, segmentsOf(dir, "q").maxOf(::segmentIndex))
                        var i = 10
                        while (outcomes.count { it.error != null } < 3) {
                            check(i < 40) { "no publish failed" }
                            outcomes += publishOutcome(mq, "q", "a${i++}-$pad")
                        }
                        fs.clear()
                        repeat(15) { outcomes += publishOutcome(mq, "q", "b$it-$pad") }
                    }
                    val failed = outcomes.filter { it.error != null }
                    val acked = outcomes.filter { it.error == null }.map { it.payload }
                    failed.size shouldBe 3
                    failed.forEach { it.error!!.message shouldContain "Queue 'q'" }
                    outcomes.takeLast(15).all { it.error == null } shouldBe true
                    mq.stats("q").let {
                        it.published shouldBe acked.size.toLong()
                        it.rejected shouldBe 3
                        it.shouldAddUp()
                    }
                    mq.crashForTesting()
                    recoverQueue(dir, "q").messages.map { it.view().payload } shouldContainExactly acked
                    deliverAll(dir, "q", segmentBytes = 4096) shouldContainExactlyInAnyOrder acked
                }
            }
        }
    }

    test("a batch that rolls over and then fails: the publish whose record went to the older segment is not replayed after a crash") {
        // One batch [A1, A2]: A1 fits in segment 1 and is written there, A2 needs segment 2, whose
        // write fails; both publishes fail. Segment 1 stays (it holds P, a delayed message), while the
        // segment with the tombstones for A1 and A2 finishes and is deleted. A1 must not come back.
        journalTest {
            val dir = tempDir()
            val fs = FaultyJournalFileSystem()
            val mq = faultyMq(dir, fs, segmentBytes = 4096)
            val seen = Collections.synchronizedList(ArrayList<String>())
            mq.registerQueue<String>("q", QueueOptions(durable = true)) { seen += it.data.take(2) } // P and X are delayed: never delivered here
            mq.start()
            val kb = "k".repeat(1_000)
            publishOutcome(mq, "q", "P-$kb", PublishOptions(delay = 1.hours)).error shouldBe null
            lateinit var a1: Outcome
            lateinit var a2: Outcome
            capturedLog {
                coroutineScope {
                    fs.holdNextForce()
                    val x = async(Dispatchers.Default) { publishOutcome(mq, "q", "X-$kb", PublishOptions(delay = 1.hours)) }
                    fs.awaitHeld()
                    val first = publishLater(mq, "q", "A1$kb")
                    waitUntil("A1 submitted") { mq.journalBacklog("q") == 1 }
                    val second = publishLater(mq, "q", "A2${kb}${"k".repeat(500)}")
                    waitUntil("A2 submitted") { mq.journalBacklog("q") == 2 }
                    fs.failWrite = { file, position -> segmentIndex(file) >= 2 && position > 0 }
                    fs.releaseHeld()
                    x.await().error shouldBe null
                    a1 = first.await()
                    a2 = second.await()
                    fs.clear()
                }
            }
            a1.error.shouldBeInstanceOf<JournalException>()
            a2.error.shouldBeInstanceOf<JournalException>()
            JournalFormat.scan(Files.readAllBytes(segmentsOf(dir, "q").first())).records.map { it.type to it.id } shouldContainExactly
                listOf(JournalFormat.MESSAGE to 1L, JournalFormat.MESSAGE to 2L, JournalFormat.MESSAGE to 3L) // A1 is in segment 1
            // Messages that fill the tombstones' segment and end, so that it may be deleted.
            for (i in 1..8) publishOutcome(mq, "q", "C$i$kb").error shouldBe null
            waitUntil("C1..C8 handled") { mq.stats("q").succeeded == 8L } // (never idle: P and X wait an hour)
            // Its batch comes after every completion, and deletes whatever segments are finished by then.
            publishOutcome(mq, "q", "Z-", PublishOptions(delay = 1.hours)).error shouldBe null
            seen shouldContainExactlyInAnyOrder (1..8).map { "C$it" }
            mq.crashForTesting()
            // Regression: on e649cb7 A1 came back. Its tombstone named segment 2, where A2 went, not segment 1,
            // where A1 went; so nothing kept the tombstone's segment until segment 1 was gone.
            recoverQueue(dir, "q").messages.map { it.view().payload.take(2) } shouldContainExactly listOf("P-", "X-", "Z-")
        }
    }

    test("registration: a failing create or directory fsync fails it with JournalException and changes nothing; a failing move of a corrupt segment leaves it in place; each retried once the fault clears recovers everything") {
        journalTest {
            val dir = tempDir()
            val seed = durableMq(dir, segmentBytes = 4096)
            seed.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") }
            val pad = "s".repeat(900)
            val acked = (1..10).map { "m$it-$pad".also { p -> seed.publish("q", p) } }
            seed.crashForTesting()
            val journal = queueJournalDir(dir, "q")
            segmentsOf(dir, "q").size shouldBeGreaterThanOrEqual 3

            for ((name, arm) in listOf<Pair<String, (FaultyJournalFileSystem) -> Unit>>(
                "create" to { it.failCreate = { true } },
                "directory fsync" to { it.failForceDirectory = true },
            )) {
                withClue(name) {
                    val before = directoryContents(journal)
                    val fs = FaultyJournalFileSystem().also(arm)
                    val mq = faultyMq(dir, fs, segmentBytes = 4096)
                    val e = shouldThrow<JournalException> { mq.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") } }
                    e.message shouldContain "Queue 'q'"
                    e.message shouldContain "cannot start a new journal segment"
                    e.message shouldContain (if (name == "create") ENOSPC else EIO)
                    mq.close()
                    // What was there is untouched (a segment the failed start created may stay: it holds no record).
                    directoryContents(journal).filterKeys { it in before } shouldBe before
                    recoverQueue(dir, "q").messages.map { it.view().payload } shouldContainExactly acked
                }
            }

            // Corruption in the middle of an older segment, and the move aside fails.
            val older = segmentsOf(dir, "q").first()
            val clean = readCleanSegment(Files.readAllBytes(older))
            check(clean.frames.size >= 2)
            val damaged = clean.bytes.copyOf().also { it[clean.frames.first().start + 20] = (it[clean.frames.first().start + 20].toInt() xor 1).toByte() }
            Files.write(older, damaged)
            val lost = clean.frames.first().record.id
            val expected = acked.filterIndexed { i, _ -> i + 1L != lost }
            val fs = FaultyJournalFileSystem().apply { failMove = true }
            val mq = faultyMq(dir, fs, segmentBytes = 4096)
            val e = shouldThrow<JournalException> { capturedLog { mq.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") } } }
            e.message shouldContain "could not move corrupt journal segment $older aside"
            mq.close()
            (Files.readAllBytes(older) contentEquals damaged) shouldBe true
            asideFiles(journal, "corrupt").shouldBeEmpty()
            lateinit var meanwhile: RecoveredJournal
            capturedLog { meanwhile = recoverQueue(dir, "q") }
            meanwhile.messages.map { it.view().payload } shouldContainExactly expected
            // Once the fault clears: recovered, moved aside, and the same after a crash.
            val retried = faultyMq(dir, FaultyJournalFileSystem(), segmentBytes = 4096)
            capturedLog { retried.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") } }
            retried.stats("q").pending shouldBe expected.size.toLong()
            (Files.readAllBytes(asideFiles(journal, "corrupt").single()) contentEquals damaged) shouldBe true
            retried.crashForTesting()
            recoverQueue(dir, "q").messages.map { it.view().payload } shouldContainExactly expected
            deliverAll(dir, "q", segmentBytes = 4096) shouldContainExactlyInAnyOrder expected
        }
    }

    test("close with a failing fsync is reported in the log and returns; what was acknowledged is still there") {
        journalTest {
            val dir = tempDir()
            val fs = FaultyJournalFileSystem()
            val mq = faultyMq(dir, fs)
            val seen = Collections.synchronizedList(ArrayList<String>())
            mq.registerQueue<String>("q", QueueOptions(durable = true)) { seen += it.data }
            mq.start()
            val done = (1..5).map { "done-$it".also { p -> mq.publish("q", p) } }
            mq.awaitIdle()
            // Due in an hour: the close's drain times out (2 s) and leaves them in the journal.
            val waiting = (1..3).map { "waiting-$it".also { p -> mq.publish("q", p, PublishOptions(delay = 1.hours)) } }
            fs.failForce = { true }
            val log = capturedLog {
                val closing = thread(name = "closing") { mq.close() }
                closing.join(15_000)
                if (closing.isAlive) {
                    fs.clear()
                    closing.join(15_000)
                    fail("close hung with a failing fsync")
                }
            }
            log shouldContain "Queue 'q': forcing its journal at close failed"
            log shouldContain EIO
            seen shouldContainExactlyInAnyOrder done
            // The waiting ones were forced when published; completions may come back (at least once).
            val again = recoverQueue(dir, "q").messages.map { it.view().payload }
            again.shouldContainAll(waiting)
            (done + waiting).shouldContainAll(again)
        }
    }

    test("close while a fault persists after a failed publish returns within the drain timeout instead of hanging") {
        journalTest {
            val dir = tempDir()
            val fs = FaultyJournalFileSystem()
            val mq = faultyMq(dir, fs)
            mq.registerQueue<String>("q", QueueOptions(durable = true)) { error("not started") }
            val acked = (1..3).map { "ok-$it".also { p -> mq.publish("q", p) } }
            fs.failForce = { true }
            var hung: String? = null
            capturedLog {
                publishOutcome(mq, "q", "refused").error.shouldBeInstanceOf<JournalException>()
                val closing = thread(name = "closing") { mq.close() }
                closing.join(6_000) // the drain timeout is 2 s
                if (closing.isAlive) {
                    hung = Thread.getAllStackTraces().filter { (t, stack) -> t.name.startsWith("relaymq-journal") || stack.any { "JournalWriter.stop" in it.toString() } }
                        .entries.joinToString("\n") { (t, stack) -> "thread ${t.name}:\n  at " + stack.take(6).joinToString("\n  at ") }
                    fs.clear() // lets the writer's retries through, so that the close ends and nothing leaks
                    closing.join(15_000)
                }
            }
            // Regression: on e649cb7 the writer retried the carried tombstone forever and close joined it.
            withClue("close hung while the fsync kept failing (it returned only once the fault was cleared); $hung") { hung shouldBe null }
            recoverQueue(dir, "q").messages.map { it.view().payload } shouldContainExactly acked
        }
    }
})
