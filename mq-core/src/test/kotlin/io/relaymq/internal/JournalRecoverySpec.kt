package io.relaymq.internal

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.assertions.withClue
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.collections.shouldBeEmpty
import io.kotest.matchers.collections.shouldContainExactly
import io.kotest.matchers.ints.shouldBeGreaterThan
import io.kotest.matchers.ints.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeGreaterThanOrEqual
import io.kotest.matchers.longs.shouldBeInRange
import io.kotest.matchers.shouldBe
import io.kotest.matchers.string.shouldContain
import io.relaymq.DeadLetter
import io.relaymq.DeadLetterHandler
import io.relaymq.JournalException
import io.relaymq.MQ
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import io.relaymq.RetryPolicy
import io.relaymq.TestDirs
import io.relaymq.capturedLog
import io.relaymq.durableMq
import io.relaymq.segmentsOf
import io.relaymq.tempDir
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.slf4j.LoggerFactory
import org.slf4j.spi.LocationAwareLogger
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.security.MessageDigest
import java.time.Instant
import java.util.Collections
import kotlin.io.path.listDirectoryEntries
import kotlin.io.path.name
import kotlin.random.Random
import kotlin.time.Duration.Companion.hours
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.minutes
import kotlin.time.Duration.Companion.seconds

// ------------------------------------------------------------------------------------------------
// Helpers shared with JournalFaultSpec.

/** A message as the journal holds it, every field that recovery must give back. */
internal data class JournalView(
    val id: Long,
    val publishedAt: Long,
    val payload: String,
    val dueAt: Long,
    val firstFailureAt: Long,
    val attempt: Int,
    val key: String?,
)

internal fun MessageRecord.view(): JournalView =
    JournalView(id, publishedAtMillis, String(payload, Charsets.UTF_8), dueAtMillis, firstFailureAtMillis, attempt, key)

/**
 * The format's rule, written out on its own: records apply in file order, a RETRY or COMPLETE only
 * touches a MESSAGE of the same id written before it. The pending messages in id order.
 */
internal fun pendingAfter(records: List<JournalRecord>): List<JournalView> {
    val pending = HashMap<Long, MessageRecord>()
    for (r in records) {
        when (r.type) {
            JournalFormat.MESSAGE -> pending[r.id] = r.message!!
            JournalFormat.RETRY -> pending[r.id]?.let { pending[r.id] = it.retried(r.attempt, r.dueAtMillis, r.firstFailureAtMillis) }
            JournalFormat.COMPLETE -> pending.remove(r.id)
        }
    }
    return pending.values.map { it.view() }.sortedBy { it.id }
}

internal fun queueJournalDir(root: Path, queue: String): Path = root.resolve(QueueFileNames.journalDirectoryName(queue))

/** Reads a queue's journal back the way registration does (no repair beyond what recovery itself does). */
internal fun recoverQueue(root: Path, queue: String, strict: Boolean = false): RecoveredJournal =
    JournalRecovery.recover(queue, queueJournalDir(root, queue), JournalFileSystem.Default, strict)

/** Every record of every segment of [queue], in order (for tests that wait until something reached the file). */
internal fun journalRecords(root: Path, queue: String): List<JournalRecord> =
    segmentsOf(root, queue).flatMap { JournalFormat.scan(Files.readAllBytes(it)).records }

/** Files of [dir] (not recursive) and a digest of each: equal maps mean byte-identical directories. */
internal fun directoryContents(dir: Path): Map<String, String> =
    dir.listDirectoryEntries().filter { Files.isRegularFile(it) }.associate { path ->
        path.name to MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(path)).joinToString("") { "%02x".format(it) }
    }

internal fun asideFiles(dir: Path, kind: String): List<Path> =
    dir.listDirectoryEntries().filter { it.name.contains(".seg.$kind-") }.sortedBy { it.name }

/**
 * Runs [block] with the journal's loggers at WARN, so that [capturedLog] sees the warnings of
 * recovery and the writer (the tests' logging configuration shows only errors of io.relaymq).
 * slf4j-simple computes a logger's level once; this sets it on the very instances RelayMQ logs through.
 */
internal inline fun <R> journalWarningsShown(block: () -> R): R {
    val loggers = listOf("io.relaymq.internal.JournalRecovery", "io.relaymq.internal.JournalWriter").map { LoggerFactory.getLogger(it) }
    val field = generateSequence<Class<*>>(loggers.first().javaClass) { it.superclass }
        .firstNotNullOf { type -> type.declaredFields.firstOrNull { it.name == "currentLogLevel" } }
        .apply { isAccessible = true }
    val previous = loggers.map { field.getInt(it) }
    loggers.forEach { field.setInt(it, LocationAwareLogger.WARN_INT) }
    try {
        return block()
    } finally {
        loggers.forEachIndexed { i, logger -> field.setInt(logger, previous[i]) }
    }
}

/** A test body on real threads, cancelled (with a stack trace) if any suspending wait in it hangs. */
internal fun journalTest(block: suspend CoroutineScope.() -> Unit) {
    runBlocking { withTimeout(90.seconds) { block() } }
}

internal suspend fun waitUntil(what: String, timeoutMillis: Long = 15_000, condition: () -> Boolean) {
    val end = System.nanoTime() + timeoutMillis * 1_000_000
    while (!condition()) {
        check(System.nanoTime() < end) { "timed out waiting until $what" }
        delay(2)
    }
}

/** One frame of a clean segment, located by this test's own reading of the format, with its record. */
internal class FrameAt(val start: Int, val end: Int, val record: JournalRecord) {
    override fun toString(): String = "frame[$start, $end) type ${record.type} id ${record.id}"
}

internal class CleanSegment(val bytes: ByteArray, val headerEnd: Int, val baseId: Long, val frames: List<FrameAt>) {
    val dataEnd: Int get() = frames.lastOrNull()?.end ?: headerEnd

    /** The frame holding byte [offset], or `null` for the header (and the zeros after the frames). */
    fun frameOf(offset: Int): FrameAt? = frames.firstOrNull { offset >= it.start && offset < it.end }
}

/** Reads an undamaged segment: header size from its name length, frames by their length fields. */
internal fun readCleanSegment(bytes: ByteArray): CleanSegment {
    val nameLength = ((bytes[32].toInt() and 0xFF) shl 8) or (bytes[33].toInt() and 0xFF)
    val headerEnd = 34 + nameLength + 4
    val scan = JournalFormat.scan(bytes)
    check(scan.header != null && scan.damageAt == -1L) { "not a clean segment: ${scan.why}" }
    val frames = ArrayList<FrameAt>()
    var pos = headerEnd
    while (pos + 8 <= bytes.size) {
        val length = ByteBuffer.wrap(bytes, pos, 4).int
        if (length == 0) break
        val record = scan.records[frames.size]
        check(bytes[pos + 8].toInt() == record.type) { "frame at $pos is not the record the scan read there" }
        frames += FrameAt(pos, pos + 8 + length, record)
        pos += 8 + length
    }
    check(frames.size == scan.records.size) { "${frames.size} frames, ${scan.records.size} records" }
    return CleanSegment(bytes, headerEnd, scan.header.baseId, frames)
}

/**
 * A copy of the journal directory [from] of [queue] into a fresh root: inside [parent] when given,
 * else a temp directory (deleted by the caller with TestDirs.delete).
 */
internal fun copyJournal(from: Path, queue: String, parent: Path? = null): Path {
    val root = if (parent != null) Files.createTempDirectory(parent, "copy") else tempDir("relaymq-journal-copy")
    val target = Files.createDirectories(queueJournalDir(root, queue))
    for (file in queueJournalDir(from, queue).listDirectoryEntries()) Files.copy(file, target.resolve(file.name))
    return root
}

/**
 * A scratch directory for loops that repair thousands of damaged copies: on tmpfs (/dev/shm) where
 * there is one, so that the fsyncs of recovery's repairs cost nothing; else in java.io.tmpdir. The
 * caller deletes it ([withScratchDir]).
 */
internal inline fun <R> withScratchDir(prefix: String, block: (Path) -> R): R {
    val shm = Path.of("/dev/shm")
    val dir = if (Files.isDirectory(shm) && Files.isWritable(shm)) Files.createTempDirectory(shm, prefix) else tempDir(prefix)
    try {
        return block(dir)
    } finally {
        dir.toFile().deleteRecursively()
    }
}

internal fun strictMq(dir: Path, strict: Boolean, segmentBytes: Int = 4096) = MQ(
    BusSettings(Dispatchers.Default, journalDirectory = dir, journalSegmentBytes = segmentBytes, strictJournal = strict),
)

// ------------------------------------------------------------------------------------------------

private enum class Tear { TRUNCATED, ZEROED, GARBLED }

/** What the publishing side did, to check recovery against: id to (payload, key). */
private class Published {
    val byId = Collections.synchronizedMap(HashMap<Long, Pair<String, String?>>())

    suspend fun publish(mq: MQ, queue: String, payload: String, options: PublishOptions = PublishOptions()): Long =
        mq.publish(queue, payload, options).also { byId[it] = payload to options.key }

    /** Every field recovery may not change: id, payload, key (and the message must have been published). */
    fun check(view: JournalView) {
        val (payload, key) = checkNotNull(byId[view.id]) { "recovery invented message ${view.id}: $view" }
        withClue("message ${view.id}") {
            view.payload shouldBe payload
            view.key shouldBe key
        }
    }
}

/**
 * 20 messages through a real bus, then a crash: delayed ones with keys, one that failed once (a RETRY
 * record) and one that succeeded (a COMPLETE record), so that the last frames are of all three kinds:
 * ... M18, RETRY 18, M19, COMPLETE 19, M20. 4 KiB segments, the smallest: recovery scans the
 * zero-filled rest of a damaged segment byte by byte, and the tests below do that thousands of times.
 */
private suspend fun tornJournal(root: Path, published: Published) {
    val mq = durableMq(root, segmentBytes = 4096)
    val retry = RetryPolicy(maxAttempts = 3, initialBackoff = 1.hours, maxBackoff = 2.hours, jitter = 0.0)
    mq.registerQueue<String>("torn", QueueOptions(durable = true, retry = retry)) { if (it.data.startsWith("fail")) error("fails on purpose") }
    mq.start()
    for (i in 1..17) {
        published.publish(mq, "torn", "message-$i", PublishOptions(key = if (i % 3 == 0) null else "key-${i % 3}", delay = (i * 7).minutes))
    }
    published.publish(mq, "torn", "fail-18", PublishOptions(key = "key-f"))
    waitUntil("message 18 failed once") { mq.stats("torn").retried == 1L }
    published.publish(mq, "torn", "ok-19")
    waitUntil("message 19 succeeded") { mq.stats("torn").succeeded == 1L }
    published.publish(mq, "torn", "message-20", PublishOptions(key = "key-last", delay = 3.hours))
    mq.crashForTesting()
}

/**
 * A small journal with every kind of record, through a real bus, then a crash: delayed and keyed
 * messages, one retried then completed, one retried twice (pending at attempt 3), one completed at
 * once, one held in its handler at the crash (pending at attempt 1).
 */
private suspend fun smallJournal(root: Path, published: Published) {
    val mq = durableMq(root, segmentBytes = 4096)
    val retry = RetryPolicy(maxAttempts = 5, initialBackoff = 20.milliseconds, multiplier = 1_000.0, maxBackoff = 1.hours, jitter = 0.0)
    mq.registerQueue<String>("flip", QueueOptions(durable = true, concurrency = 4, retry = retry)) { m ->
        when {
            m.data.startsWith("once") && m.attempt == 1 -> error("fails once on purpose")
            m.data.startsWith("always") -> error("fails on purpose")
            m.data.startsWith("held") -> awaitCancellation()
        }
    }
    mq.start()
    published.publish(mq, "flip", "later-1", PublishOptions(key = "a", delay = 1.hours))
    published.publish(mq, "flip", "ok-2", PublishOptions(key = "b"))
    published.publish(mq, "flip", "once-3", PublishOptions(key = "c"))
    published.publish(mq, "flip", "always-4")
    published.publish(mq, "flip", "held-5", PublishOptions(key = "d"))
    published.publish(mq, "flip", "later-6", PublishOptions(delay = 2.hours))
    waitUntil("ok-2 and once-3 succeeded, once-3 and always-4 (twice) retried, held-5 in its handler") {
        val s = mq.stats("flip")
        s.succeeded == 2L && s.retried == 3L && s.inFlight == 1L
    }
    // Its batch carries every record submitted before it.
    published.publish(mq, "flip", "later-7", PublishOptions(key = "a", delay = 3.hours))
    mq.crashForTesting()
}

class JournalRecoverySpec : FunSpec({

    test("a torn tail at every byte offset of the last records: exactly the whole frames before the cut are recovered, the rest copied aside, the segment truncated, a second recovery clean") {
        journalTest {
            val root = tempDir()
            val published = Published()
            tornJournal(root, published)
            val segment = segmentsOf(root, "torn").single()
            val clean = readCleanSegment(Files.readAllBytes(segment))
            // The journal holds what the test did, in this order.
            clean.frames.map { it.record.type to it.record.id }.takeLast(5) shouldContainExactly listOf(
                JournalFormat.MESSAGE to 18L, JournalFormat.RETRY to 18L, JournalFormat.MESSAGE to 19L,
                JournalFormat.COMPLETE to 19L, JournalFormat.MESSAGE to 20L,
            )
            clean.frames.size shouldBe 22
            val all = pendingAfter(clean.frames.map { it.record })
            all.map { it.id } shouldBe (1L..18L) + 20L
            all.forEach(published::check)
            all.single { it.id == 18L }.attempt shouldBe 2
            all.single { it.id == 7L }.let { it.publishedAt + 49.minutes.inWholeMilliseconds - it.dueAt } shouldBeInRange 0L..50L // its delay (the clock read just before)

            withScratchDir("relaymq-torn") { scratch ->
                val work = Files.createDirectories(scratch.resolve("journal"))
                val file = work.resolve(segment.name)
                val random = Random(20240611)
                val from = clean.frames[clean.frames.size - 5].start
                var torn = 0
                for (cut in from..clean.dataEnd) {
                    for (tear in Tear.entries) {
                        val damaged = when (tear) {
                            Tear.TRUNCATED -> clean.bytes.copyOf(cut)
                            Tear.ZEROED -> clean.bytes.copyOf().also { it.fill(0, cut, it.size) }
                            Tear.GARBLED -> clean.bytes.copyOf().also {
                                it.fill(0, cut, it.size)
                                for (i in cut until minOf(it.size, clean.dataEnd + 24)) it[i] = (1 + random.nextInt(255)).toByte()
                            }
                        }
                        work.listDirectoryEntries().forEach(Files::delete)
                        Files.write(file, damaged)
                        val whole = clean.frames.filter { it.end <= cut }
                        val validEnd = whole.lastOrNull()?.end ?: clean.headerEnd
                        val lastNonZero = damaged.indexOfLast { it != 0.toByte() }
                        val isTorn = lastNonZero >= validEnd
                        if (isTorn) torn++
                        withClue("cut at $cut ($tear), last whole frame ${whole.lastOrNull()}") {
                            var first: RecoveredJournal? = null
                            val log = journalWarningsShown { capturedLog { first = JournalRecovery.recover("torn", work, JournalFileSystem.Default, false) } }
                            val recovered = first!!
                            val expected = pendingAfter(whole.map { it.record })
                            recovered.messages.map { it.view() } shouldBe expected
                            recovered.messages.forEach { published.check(it.view()) }
                            recovered.maxId shouldBe maxOf(clean.baseId, whole.maxOf { it.record.id })
                            recovered.corrupt.shouldBeEmpty()
                            recovered.relocations.shouldBeEmpty()
                            val tornFiles = asideFiles(work, "torn")
                            if (isTorn) {
                                tornFiles.size shouldBe 1
                                (Files.readAllBytes(tornFiles.single()) contentEquals damaged.copyOfRange(validEnd, lastNonZero + 1)) shouldBe true
                                Files.size(file) shouldBe validEnd.toLong()
                                (Files.readAllBytes(file) contentEquals clean.bytes.copyOf(validEnd)) shouldBe true
                                log shouldContain "ended in a torn write"
                                log shouldContain file.toString()
                            } else {
                                tornFiles.shouldBeEmpty()
                                (Files.readAllBytes(file) contentEquals damaged) shouldBe true
                                log.trim() shouldBe ""
                            }
                            // A second recovery finds nothing to repair and says nothing.
                            val before = directoryContents(work)
                            var second: RecoveredJournal? = null
                            val again = journalWarningsShown { capturedLog { second = JournalRecovery.recover("torn", work, JournalFileSystem.Default, false) } }
                            again.trim() shouldBe ""
                            directoryContents(work) shouldBe before
                            second!!.messages.map { it.view() } shouldBe expected
                        }
                    }
                }
                torn shouldBeGreaterThan 500 // most cases were torn; the rest were cuts on a frame boundary or into zero bytes
            }

            // The same through a bus: a write torn in the middle of the last frame, then the queue goes on.
            val last = clean.frames.last()
            val bytes = clean.bytes.copyOf().also { it.fill(0, last.start + (last.end - last.start) / 2, it.size) }
            Files.write(segment, bytes)
            val second = durableMq(root, segmentBytes = 4096)
            second.registerQueue<String>("torn", QueueOptions(durable = true)) { error("not started") }
            second.stats("torn").pending shouldBe 18
            second.stats("torn").delayed shouldBe 18 // 17 delayed, and 18 waits for its retry
            second.publish("torn", "after") shouldBe 20 // 20 was never acknowledged: its id is free again
            asideFiles(queueJournalDir(root, "torn"), "torn").size shouldBe 1
            second.crashForTesting()
            val third = recoverQueue(root, "torn")
            third.messages.map { it.view() }.filter { it.id <= 19 } shouldBe pendingAfter(clean.frames.dropLast(1).map { it.record })
            third.messages.last().view().payload shouldBe "after"
        }
    }

    test("a crash while rolling over: a newest segment torn anywhere in its header is removed (its bytes copied aside) and the older one recovered in full") {
        journalTest {
            val root = tempDir()
            val published = Published()
            tornJournal(root, published)
            val first = segmentsOf(root, "torn").single()
            val clean = readCleanSegment(Files.readAllBytes(first))
            val expected = pendingAfter(clean.frames.map { it.record })
            // The header a roll-over writes: base id above every id used (25: publishes whose write failed took ids).
            val header = JournalFormat.header("torn", 2, 25, System.currentTimeMillis())
            val nextName = JournalFormat.segmentFileName(2)
            withScratchDir("relaymq-unborn") { scratch ->
                val work = Files.createDirectories(scratch.resolve("journal"))
                for (cut in 0..header.size) {
                    for (zeroFilled in listOf(true, false)) {
                        withClue("header cut at $cut, ${if (zeroFilled) "zero-filled" else "truncated"}") {
                            work.listDirectoryEntries().forEach(Files::delete)
                            Files.copy(first, work.resolve(first.name))
                            val next = if (zeroFilled) ByteArray(4096).also { header.copyInto(it, 0, 0, cut) } else header.copyOf(cut)
                            Files.write(work.resolve(nextName), next)
                            var result: RecoveredJournal? = null
                            val log = journalWarningsShown { capturedLog { result = JournalRecovery.recover("torn", work, JournalFileSystem.Default, false) } }
                            val recovered = result!!
                            recovered.messages.map { it.view() } shouldBe expected
                            recovered.corrupt.shouldBeEmpty()
                            // A cut that only drops zero bytes (a CRC may end in 0x00) leaves, zero-filled, the whole header.
                            val whole = cut == header.size || (zeroFilled && header.copyOfRange(cut, header.size).all { it == 0.toByte() })
                            if (whole) {
                                // A whole header: a segment with no record yet, kept, and its base id counts.
                                recovered.maxId shouldBe 25
                                Files.exists(work.resolve(nextName)) shouldBe true
                                log.trim() shouldBe ""
                            } else {
                                recovered.maxId shouldBe 20
                                Files.exists(work.resolve(nextName)) shouldBe false
                                log shouldContain "which a crash left without a header"
                                // Its bytes up to the last non-zero one are copied aside (none: nothing to copy).
                                val written = header.copyOf(cut).let { it.copyOf(it.indexOfLast { b -> b != 0.toByte() } + 1) }
                                if (written.isNotEmpty()) {
                                    (Files.readAllBytes(asideFiles(work, "torn").single()) contentEquals written) shouldBe true
                                } else {
                                    asideFiles(work, "torn").shouldBeEmpty()
                                }
                            }
                            (Files.readAllBytes(work.resolve(first.name)) contentEquals Files.readAllBytes(first)) shouldBe true
                            val before = directoryContents(work)
                            val again = journalWarningsShown { capturedLog { JournalRecovery.recover("torn", work, JournalFileSystem.Default, false) } }
                            again.trim() shouldBe ""
                            directoryContents(work) shouldBe before
                        }
                    }
                }
            }
            // Through a bus: the queue goes on above the highest id it still knows of.
            Files.write(queueJournalDir(root, "torn").resolve(nextName), ByteArray(4096).also { header.copyInto(it, 0, 0, 30) })
            val mq = durableMq(root, segmentBytes = 4096)
            mq.registerQueue<String>("torn", QueueOptions(durable = true)) { error("not started") }
            mq.stats("torn").pending shouldBe expected.size.toLong()
            mq.publish("torn", "after") shouldBe 21
            mq.crashForTesting()
        }
    }

    test("a bit flip at every bit of a small journal: recovery never throws, never invents, loses at most the record hit; strict (one bit per byte) refuses middle damage and changes nothing") {
        journalTest {
            val root = tempDir()
            val published = Published()
            smallJournal(root, published)
            val segment = segmentsOf(root, "flip").single()
            val clean = readCleanSegment(Files.readAllBytes(segment))
            val types = clean.frames.map { it.record.type }
            types.count { it == JournalFormat.MESSAGE } shouldBe 7
            types.count { it == JournalFormat.RETRY } shouldBe 3
            types.count { it == JournalFormat.COMPLETE } shouldBe 2
            val all = pendingAfter(clean.frames.map { it.record })
            all.map { it.payload } shouldContainExactly listOf("later-1", "always-4", "held-5", "later-6", "later-7")
            all.single { it.id == 4L }.attempt shouldBe 3
            all.single { it.id == 4L }.firstFailureAt shouldBeGreaterThanOrEqual all.single { it.id == 4L }.publishedAt
            all.forEach(published::check)

            withScratchDir("relaymq-flip") { scratch ->
                val work = Files.createDirectories(scratch.resolve("journal"))
                val strictWork = Files.createDirectories(scratch.resolve("strict"))
                val file = work.resolve(segment.name)
                val strictFile = strictWork.resolve(segment.name)
                val lastFrame = clean.frames.last()
                for (offset in 0 until clean.dataEnd) {
                    val hit = clean.frameOf(offset)
                    val expected = pendingAfter(clean.frames.filter { it !== hit }.map { it.record })
                    val tornTail = hit === lastFrame
                    for (bit in 0 until 8) {
                        val damaged = clean.bytes.copyOf()
                        damaged[offset] = (damaged[offset].toInt() xor (1 shl bit)).toByte()
                        withClue("bit $bit of byte $offset (${hit ?: "header"})") {
                            work.listDirectoryEntries().forEach(Files::delete)
                            Files.write(file, damaged)
                            var result: RecoveredJournal? = null
                            val log = capturedLog { result = JournalRecovery.recover("flip", work, JournalFileSystem.Default, false) }
                            val recovered = result!!
                            recovered.messages.map { it.view() } shouldBe expected
                            recovered.messages.forEach { published.check(it.view()) }
                            if (tornTail) {
                                recovered.corrupt.shouldBeEmpty()
                                asideFiles(work, "torn").size shouldBe 1
                                Files.size(file) shouldBe lastFrame.start.toLong()
                            } else {
                                // The file is left for the writer to move aside once what it meant is relocated.
                                recovered.corrupt shouldBe listOf(file)
                                recovered.relocations.size shouldBe expected.size
                                log shouldContain "journal segment $file is corrupt"
                                (Files.readAllBytes(file) contentEquals damaged) shouldBe true
                            }

                            if (bit != offset % 8) return@withClue // strict: one bit per byte is enough
                            strictWork.listDirectoryEntries().forEach(Files::delete)
                            Files.write(strictFile, damaged)
                            if (tornTail) {
                                JournalRecovery.recover("flip", strictWork, JournalFileSystem.Default, true).messages.map { it.view() } shouldBe expected
                            } else {
                                val before = directoryContents(strictWork)
                                val e = shouldThrow<JournalException> { JournalRecovery.recover("flip", strictWork, JournalFileSystem.Default, true) }
                                e.message shouldContain strictFile.toString()
                                e.message shouldContain "'flip'"
                                directoryContents(strictWork) shouldBe before
                            }
                        }
                    }
                }
            }
        }
    }

    // Regression: on e649cb7 this failed at the first middle damage. Recovery put the corrupt newest
    // segment into the SegmentBook (book.activate(maxIndex)); the writer's first write (the relocations)
    // deleted it as finished, and moving it aside failed with NoSuchFileException: the file was gone.
    test("a bit flip at every byte of a small journal, through a bus: registration recovers, moves a corrupt segment aside (never deletes it), and a crash right after recovers the same messages") {
        journalTest {
            val root = tempDir()
            val published = Published()
            smallJournal(root, published)
            val segment = segmentsOf(root, "flip").single()
            val clean = readCleanSegment(Files.readAllBytes(segment))
            withScratchDir("relaymq-flip-bus") { scratch ->
                for (offset in 0 until clean.dataEnd) {
                    val hit = clean.frameOf(offset)
                    val expected = pendingAfter(clean.frames.filter { it !== hit }.map { it.record })
                    val damaged = clean.bytes.copyOf()
                    damaged[offset] = (damaged[offset].toInt() xor (1 shl (offset % 8))).toByte()
                    val copy = copyJournal(root, "flip", scratch)
                    val dir = queueJournalDir(copy, "flip")
                    Files.write(dir.resolve(segment.name), damaged)
                    withClue("bit ${offset % 8} of byte $offset (${hit ?: "header"})") {
                        val mq = durableMq(copy, segmentBytes = 4096)
                        val log = capturedLog { mq.registerQueue<String>("flip", QueueOptions(durable = true)) { error("not started") } }
                        mq.stats("flip").pending shouldBe expected.size.toLong()
                        if (hit !== clean.frames.last()) {
                            log shouldContain "is corrupt"
                            log shouldContain dir.resolve(segment.name).toString()
                            val aside = asideFiles(dir, "corrupt")
                            aside.size shouldBe 1
                            (Files.readAllBytes(aside.single()) contentEquals damaged) shouldBe true
                            Files.exists(dir.resolve(segment.name)) shouldBe false
                        }
                        mq.crashForTesting()
                        val before = directoryContents(dir)
                        var again: RecoveredJournal? = null
                        val second = journalWarningsShown { capturedLog { again = recoverQueue(copy, "flip") } }
                        again!!.messages.map { it.view() } shouldBe expected
                        second.trim() shouldBe ""
                        directoryContents(dir) shouldBe before
                    }
                    copy.toFile().deleteRecursively()
                }
            }
        }
    }

    test("damage in any frame or header of an older segment, through a bus: the rest of its messages, retries and completions are kept (relocated), the file moved aside, a crash right after recovers the same") {
        journalTest {
            val root = tempDir()
            val published = Published()
            // Small segments; the retry and completion records go to later segments than their messages.
            val first = durableMq(root, segmentBytes = 4096)
            val retry = RetryPolicy(maxAttempts = 5, initialBackoff = 1.hours, maxBackoff = 2.hours, jitter = 0.0)
            first.registerQueue<String>("old", QueueOptions(durable = true, concurrency = 2, retry = retry)) { m ->
                if (m.data.startsWith("fail")) error("fails on purpose")
            }
            val pad = "p".repeat(700)
            for (i in 1..8) published.publish(first, "old", "later-$i-$pad", PublishOptions(key = "k${i % 2}", delay = 1.hours))
            first.start()
            first.pause("old")
            published.publish(first, "old", "fail-9", PublishOptions(key = "f"))
            published.publish(first, "old", "ok-10")
            for (i in 11..16) published.publish(first, "old", "later-$i-$pad", PublishOptions(delay = 1.hours))
            first.resume("old")
            waitUntil("9 retried, 10 done") { first.stats("old").let { it.retried == 1L && it.succeeded == 1L } }
            for (i in 17..24) published.publish(first, "old", "later-$i-$pad", PublishOptions(delay = 1.hours))
            first.crashForTesting()

            val segments = segmentsOf(root, "old")
            segments.size shouldBeGreaterThanOrEqual 5
            val clean = segments.map { readCleanSegment(Files.readAllBytes(it)) }
            val allFrames = clean.flatMap { it.frames }
            val all = pendingAfter(allFrames.map { it.record })
            all.size shouldBe 23
            all.single { it.id == 9L }.attempt shouldBe 2
            // The cross-segment references this test is about.
            val segmentOf = { type: Int, id: Long -> clean.indexOfFirst { s -> s.frames.any { it.record.type == type && it.record.id == id } } }
            segmentOf(JournalFormat.RETRY, 9L) shouldBeGreaterThan segmentOf(JournalFormat.MESSAGE, 9L)
            segmentOf(JournalFormat.COMPLETE, 10L) shouldBeGreaterThan segmentOf(JournalFormat.MESSAGE, 10L)

            var cases = 0
            for ((s, segment) in clean.withIndex()) {
                if (s == clean.lastIndex) continue // the newest: see the bit flip tests
                for (hit in listOf<FrameAt?>(null) + segment.frames) {
                    val at = if (hit == null) 10 else (hit.start + hit.end) / 2
                    val damaged = segment.bytes.copyOf().also { it[at] = (it[at].toInt() xor 0x20).toByte() }
                    if (hit != null && hit === segment.frames.last()) continue // a torn tail, not corruption (tested above)
                    val expected = pendingAfter(allFrames.filter { it !== hit }.map { it.record })
                    val copy = copyJournal(root, "old")
                    val dir = queueJournalDir(copy, "old")
                    val file = dir.resolve(segments[s].name)
                    Files.write(file, damaged)
                    withClue("segment ${s + 1}, ${hit ?: "header"}") {
                        val mq = durableMq(copy, segmentBytes = 4096)
                        val log = capturedLog { mq.registerQueue<String>("old", QueueOptions(durable = true)) { error("not started") } }
                        log shouldContain "journal segment $file is corrupt"
                        mq.stats("old").pending shouldBe expected.size.toLong()
                        val aside = asideFiles(dir, "corrupt")
                        aside.size shouldBe 1
                        (Files.readAllBytes(aside.single()) contentEquals damaged) shouldBe true
                        mq.crashForTesting()
                        val again = recoverQueue(copy, "old")
                        again.messages.map { it.view() } shouldBe expected
                        again.corrupt.shouldBeEmpty()
                        expected.forEach(published::check)
                    }
                    TestDirs.delete(copy)
                    cases++
                }
            }
            cases shouldBeGreaterThanOrEqual 15
        }
    }

    test("strict mode through a bus: damage in the middle fails registration with JournalException naming the file and leaves every file byte-identical; a torn tail is repaired") {
        journalTest {
            val root = tempDir()
            val published = Published()
            smallJournal(root, published)
            val segment = segmentsOf(root, "flip").single()
            val clean = readCleanSegment(Files.readAllBytes(segment))
            // The header, and the first, a middle and the second-to-last frame: refused. The last frame: repaired.
            val offsets = listOf(3, clean.headerEnd - 1) +
                listOf(clean.frames[0], clean.frames[clean.frames.size / 2], clean.frames[clean.frames.size - 2]).flatMap { listOf(it.start, it.start + 5, it.end - 1) }
            for (offset in offsets) {
                val copy = copyJournal(root, "flip")
                val dir = queueJournalDir(copy, "flip")
                val damaged = clean.bytes.copyOf().also { it[offset] = (it[offset].toInt() xor 0x04).toByte() }
                Files.write(dir.resolve(segment.name), damaged)
                val before = directoryContents(dir)
                withClue("byte $offset") {
                    val mq = strictMq(copy, strict = true)
                    val e = shouldThrow<JournalException> { mq.registerQueue<String>("flip", QueueOptions(durable = true)) { error("not started") } }
                    e.message shouldContain dir.resolve(segment.name).toString()
                    e.message shouldContain "strictJournal"
                    directoryContents(dir) shouldBe before
                    mq.close()
                }
                TestDirs.delete(copy)
            }
            val copy = copyJournal(root, "flip")
            val dir = queueJournalDir(copy, "flip")
            val last = clean.frames.last()
            Files.write(dir.resolve(segment.name), clean.bytes.copyOf().also { it.fill(0, last.end - 3, it.size) })
            val mq = strictMq(copy, strict = true)
            mq.registerQueue<String>("flip", QueueOptions(durable = true)) { error("not started") }
            mq.stats("flip").pending shouldBe pendingAfter(clean.frames.dropLast(1).map { it.record }).size.toLong()
            asideFiles(dir, "torn").size shouldBe 1
            mq.crashForTesting()
        }
    }

    test("retries, delays and ordering keys survive a crash with their attempts, due times and first failure; ids continue above every id seen, completed ones included") {
        journalTest {
            val root = tempDir()
            val retry = RetryPolicy(maxAttempts = 3, initialBackoff = 500.milliseconds, multiplier = 3.0, maxBackoff = 10.seconds, jitter = 0.0)
            val pad = "x".repeat(1_000) // three records per 4 KiB segment: a message's records spread over segments
            val first = durableMq(root, segmentBytes = 4096)
            first.registerQueue<String>("jobs", QueueOptions(durable = true, concurrency = 3, retry = retry)) { m ->
                when {
                    m.data.startsWith("fail") -> error("fails on purpose")
                    m.data.startsWith("k") -> awaitCancellation() // k1 holds key K until the crash
                }
            }
            first.start()
            val failId = first.publish("jobs", "fail$pad", PublishOptions(key = "F"))
            waitUntil("the first failure") { first.stats("jobs").retried == 1L }
            // Published during the 500 ms before attempt 2: its next RETRY goes to a later segment.
            val keyed = (1..3).map { first.publish("jobs", "k$it$pad", PublishOptions(key = "K")) }
            waitUntil("the second failure") { first.stats("jobs").retried == 2L }
            val laterId = first.publish("jobs", "later$pad", PublishOptions(key = "L", delay = 1500.milliseconds))
            val okId = first.publish("jobs", "ok$pad")
            waitUntil("ok done, k1 in its handler") { first.stats("jobs").let { it.succeeded == 1L && it.inFlight == 1L } }
            // The COMPLETE of the highest id is written lazily: wait until it is in the file before the crash.
            waitUntil("the completion of $okId is in the journal") {
                journalRecords(root, "jobs").any { it.type == JournalFormat.COMPLETE && it.id == okId }
            }
            first.crashForTesting()
            okId shouldBe 6L
            val segmentOfRecord = segmentsOf(root, "jobs").flatMapIndexed { i, path ->
                JournalFormat.scan(Files.readAllBytes(path)).records.map { Triple(it.type, it.id, it.attempt) to i }
            }.toMap()
            val messageSegment = segmentOfRecord.getValue(Triple(JournalFormat.MESSAGE, failId, 0))
            segmentOfRecord.getValue(Triple(JournalFormat.RETRY, failId, 3)) shouldBeGreaterThan messageSegment

            val read = recoverQueue(root, "jobs").also { it.maxId shouldBe okId }.messages.map { it.view() }.associateBy { it.id }
            read.keys shouldBe setOf(failId) + keyed + laterId
            val failed = read.getValue(failId)
            failed.attempt shouldBe 3
            failed.key shouldBe "F"
            val firstFailure = failed.firstFailureAt
            firstFailure shouldBeInRange failed.publishedAt..failed.publishedAt + 1_000
            // 500 ms after the first failure came attempt 2; its failure set attempt 3 due 1.5 s later.
            failed.dueAt - firstFailure shouldBeInRange 2_000L..2_900L
            keyed.forEach { id ->
                read.getValue(id).let {
                    it.key shouldBe "K"
                    it.attempt shouldBe 1
                    it.dueAt shouldBe 0L
                }
            }
            read.getValue(laterId).let {
                it.key shouldBe "L"
                it.publishedAt + 1_500 - it.dueAt shouldBeInRange 0L..50L
            }

            class Delivery(val id: Long, val data: String, val attempt: Int, val key: String?, val start: Long, val end: Long)
            val deliveries = Collections.synchronizedList(ArrayList<Delivery>())
            val letters = Collections.synchronizedList(ArrayList<DeadLetter>())
            val second = durableMq(root, segmentBytes = 4096)
            val options = QueueOptions(durable = true, concurrency = 3, retry = retry, deadLetterHandler = DeadLetterHandler { letters += it })
            second.registerQueue<String>("jobs", options) { m ->
                val start = System.currentTimeMillis()
                if (m.data.startsWith("k")) delay(30)
                deliveries += Delivery(m.id, m.data.removeSuffix(pad), m.attempt, m.key, start, System.currentTimeMillis())
                if (m.data.startsWith("fail")) error("fails on purpose")
            }
            second.stats("jobs").pending shouldBe 5
            second.publish("jobs", "fresh") shouldBe okId + 1 // above the completed 6, the highest id seen
            second.start()
            waitUntil("the failing message dead-lettered and the rest delivered") { letters.size == 1 && deliveries.size == 6 }
            second.awaitIdle()
            val letter = letters.single()
            letter.messageId shouldBe failId
            letter.attempts shouldBe 3
            letter.firstFailureAt shouldBe Instant.ofEpochMilli(firstFailure)
            deliveries.single { it.id == failId }.let {
                it.attempt shouldBe 3
                it.key shouldBe "F"
                it.start shouldBeGreaterThanOrEqual failed.dueAt
            }
            deliveries.single { it.id == laterId }.let {
                it.key shouldBe "L"
                it.attempt shouldBe 1
                it.start shouldBeGreaterThanOrEqual read.getValue(laterId).dueAt
            }
            val k = deliveries.filter { it.data.startsWith("k") }
            k.map { it.id } shouldContainExactly keyed // in publish order, one at a time
            k.forEach { it.key shouldBe "K" }
            k.zipWithNext().forEach { (a, b) -> b.start shouldBeGreaterThanOrEqual a.end }
            second.stats("jobs").let {
                it.succeeded shouldBe 5
                it.failed shouldBe 1
                it.deadLettered shouldBe 1
                it.pending shouldBe 0
            }
            second.crashForTesting()

            // Ids go on above every id seen, after a crash and after a clean close, whatever segments are gone.
            val third = durableMq(root, segmentBytes = 4096)
            third.registerQueue<String>("jobs", QueueOptions(durable = true)) {}
            third.publish("jobs", "third") shouldBe okId + 2
            third.start()
            third.awaitIdle()
            third.shutdown()
            val fourth = durableMq(root, segmentBytes = 4096)
            fourth.registerQueue<String>("jobs", QueueOptions(durable = true)) {}
            fourth.stats("jobs").pending shouldBe 0
            fourth.publish("jobs", "fourth") shouldBe okId + 3
            fourth.crashForTesting()
            val fifth = durableMq(root, segmentBytes = 4096)
            fifth.registerQueue<String>("jobs", QueueOptions(durable = true)) {}
            fifth.publish("jobs", "fifth") shouldBe okId + 4
            fifth.crashForTesting()
        }
    }
})
