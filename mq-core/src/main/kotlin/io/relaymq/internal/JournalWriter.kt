package io.relaymq.internal

import io.relaymq.FsyncPolicy
import io.relaymq.JournalException
import java.nio.ByteBuffer
import java.nio.file.Path
import java.time.Clock
import java.util.ArrayDeque
import java.util.concurrent.CompletableFuture
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.locks.LockSupport

private val logger = relayLogger("io.relaymq.internal.JournalWriter")

/** Told, on the writer thread, how the write of a MESSAGE record ended. Must be short and never block. */
internal interface JournalCallback {
    /** The record is written (and forced, under [FsyncPolicy.perGroupCommit]). */
    fun stored()

    /** The record's batch failed; the message was not accepted. */
    fun failed(error: JournalException)
}

/** What the writer is asked to do; see [JournalFormat] for the records. */
internal sealed class JournalEntry {
    class Append(val id: Long, val frame: ByteArray, val callback: JournalCallback?) : JournalEntry()

    class Retry(val id: Long, val attempt: Int, val dueAt: Long, val firstFailureAt: Long) : JournalEntry()

    class Complete(val id: Long) : JournalEntry()

    /** A COMPLETE record for an id that was used but never journaled (DROP_NEWEST), forced like a publish. */
    class Used(val id: Long, val callback: JournalCallback) : JournalEntry()

    /** A COMPLETE record for a message whose record may lie in [segment] without being pending (failed write, recovery). */
    class Tombstone(val id: Long, val segment: Int) : JournalEntry()

    /** Forces everything written so far, then completes [done]. */
    class Barrier(val done: CompletableFuture<Unit>) : JournalEntry()
}

/**
 * The one thread that writes a durable queue's journal: group commit.
 *
 * Publishers build their MESSAGE frame (CRC included) on their own thread and [submit] it; consumers
 * submit RETRY and COMPLETE entries. The writer takes everything that arrived while it was busy (the
 * previous fsync, mostly), writes it in one positional write, forces it once when the batch holds a
 * publish (under [FsyncPolicy.perGroupCommit]), then tells exactly the publishers of that batch, in
 * order. Nothing waits on a timer: a lone publisher is written and forced at once, and under load the
 * batches grow by themselves. Completions and retries ride along in whatever batch comes next; they
 * are forced with the next publish, the next interval or at close.
 *
 * ## Invariants
 * - Only this thread touches the files, the [book] and the positions; other threads only [submit].
 * - Frames are written at [position], which only grows within a segment; the file is zero-filled ahead
 *   of it in chunks ([allocated]), so a zero length marks the end of the frames (see [JournalFormat]).
 * - A segment is forced before the next one is created, so only the newest can have a torn tail after
 *   a crash (under every policy but [FsyncPolicy.none]).
 * - The [book] learns of a record only once its batch was written (and forced when it had to be): a
 *   failed batch changes nothing in it.
 * - A failed batch: its publishes fail (their callbacks), its completions and retries are carried to
 *   the next batch, tombstones for its publishes go first into that batch (forced), and the next batch
 *   goes to a new segment. So no failed publish is replayed and no acknowledged record is lost.
 */
internal class JournalWriter(
    private val queue: String,
    private val directory: Path,
    private val fs: JournalFileSystem,
    private val policy: FsyncPolicy,
    private val segmentBytes: Int,
    val book: SegmentBook,
    /** The queue's id sequence: new segment headers record its value as their base id. */
    private val sequence: AtomicLong,
    private val clock: Clock,
) {
    private val entries = ConcurrentLinkedQueue<JournalEntry>()
    private val asleep = AtomicBoolean()
    @Volatile private var stopping = false
    @Volatile private var crashed = false
    @Volatile private var thread: Thread? = null

    private var file: JournalFile? = null
    private var position = 0L
    private var allocated = 0L
    private var unsynced = false
    private var lastSync = System.nanoTime()
    private var mustRoll = false
    private var lastWriteFailed = false
    private var buffer: ByteBuffer = ByteBuffer.allocateDirect(INITIAL_BUFFER)
    private val carried = ArrayDeque<JournalEntry>()
    private val errors = RateLimitedLog(logger, "Queue '$queue' journal")
    private val syncEveryBatch = policy.syncsEachCommit()
    private val intervalNanos = policy.syncInterval().map { it.toNanos() }.orElse(0L)

    // Reused per batch: the entries written, and the segment each went to.
    private val written = ArrayList<JournalEntry>()
    private var segmentOf = IntArray(64)

    fun submit(entry: JournalEntry) {
        entries.add(entry)
        if (asleep.get() && asleep.compareAndSet(true, false)) LockSupport.unpark(thread)
    }

    /** Creates the first segment and writes [initial] (recovery's relocations) on the calling thread, forced. */
    fun begin(initial: List<JournalEntry>) {
        roll()
        if (initial.isNotEmpty()) {
            write(initial, forceAlways = true)
            check(!mustRoll) { "writing the recovered records failed" }
        }
    }

    fun start() {
        thread = Thread(::run, "relaymq-journal-$queue").apply {
            isDaemon = true
            start()
        }
    }

    /**
     * Stops after writing and forcing everything submitted so far (giving up on what a failing disk will
     * not take); call after a [JournalEntry.Barrier] completed or failed. Waits at most [waitMillis] for
     * the thread (a disk that hangs in an fsync keeps it; it is a daemon thread).
     */
    fun stop(waitMillis: Long = 0) {
        stopping = true
        thread?.let { LockSupport.unpark(it) }
        thread?.join(waitMillis)
        if (thread?.isAlive != true) {
            file?.close()
            file = null
        }
    }

    /** Dies like a killed process: no more writes or forces once the current one returns; files closed. */
    fun crash() {
        crashed = true
        stopping = true
        thread?.let { LockSupport.unpark(it) }
        thread?.join()
        try {
            file?.close()
        } catch (e: Exception) {
            // closing after an interrupted write may fail; the file is abandoned like a dead process's
        }
        file = null
        // Unlike a dead process, this one goes on: whoever waits for a queued record is told it is gone.
        val gone = JournalException("Queue '$queue': the bus crashed (test support) before this record was written")
        while (true) {
            when (val entry = entries.poll() ?: break) {
                is JournalEntry.Append -> entry.callback?.failed(gone)
                is JournalEntry.Used -> entry.callback.failed(gone)
                is JournalEntry.Barrier -> entry.done.completeExceptionally(gone)
                else -> {}
            }
        }
    }

    private fun run() {
        val batch = ArrayList<JournalEntry>()
        while (true) {
            batch.clear()
            while (carried.isNotEmpty()) batch.add(carried.poll())
            var bytes = 0L
            while (bytes < MAX_BATCH_BYTES && batch.size < MAX_BATCH_ENTRIES) {
                val entry = entries.poll() ?: break
                batch.add(entry)
                bytes += sizeOf(entry)
            }
            if (batch.isEmpty()) {
                if (stopping) return
                idle()
                continue
            }
            if (crashed) return
            write(batch, forceAlways = false)
            if (stopping && lastWriteFailed && entries.isEmpty()) {
                // Closing while the disk keeps failing: give up on what is carried rather than hang the close.
                if (carried.isNotEmpty()) {
                    errors.warn { "closing with ${carried.size} record(s) the journal could not write; their messages may be delivered again after a restart" }
                }
                for (entry in carried) if (entry is JournalEntry.Used) notifyStored(entry.callback)
                carried.clear()
                return
            }
        }
    }

    /** Parks until an entry arrives, or the sync interval is due. */
    private fun idle() {
        if (unsynced && intervalNanos > 0) {
            val wait = lastSync + intervalNanos - System.nanoTime()
            if (wait <= 0) {
                syncNow()
                return
            }
            asleep.set(true)
            if (entries.isEmpty() && !stopping) LockSupport.parkNanos(this, wait)
            asleep.set(false)
            return
        }
        asleep.set(true)
        if (entries.isEmpty() && !stopping) LockSupport.park(this)
        asleep.set(false)
    }

    private fun syncNow() {
        try {
            file?.force()
            unsynced = false
            lastSync = System.nanoTime()
        } catch (e: Exception) {
            lastSync = System.nanoTime() // try again next interval
            errors.warn { "forcing the journal to disk failed ($e); publishes acknowledged since the last sync may be lost on power loss. Retrying." }
        }
    }

    private fun write(batch: List<JournalEntry>, forceAlways: Boolean) {
        written.clear()
        if (segmentOf.size < batch.size) segmentOf = IntArray(batch.size * 2)
        var mustForce = forceAlways
        val startPosition = position
        var rolled = false
        try {
            if (mustRoll || file == null) {
                roll()
                rolled = true
            }
            buffer.clear()
            for (entry in batch) {
                val size = sizeOf(entry)
                if (position + buffer.position() + size > segmentBytes && position + buffer.position() > headerEnd) {
                    flush()
                    roll()
                    rolled = true
                }
                ensureRoom(size)
                when (entry) {
                    is JournalEntry.Append -> {
                        buffer.put(entry.frame)
                        if (syncEveryBatch) mustForce = true
                    }
                    is JournalEntry.Retry -> JournalFormat.putRetry(buffer, entry.id, entry.attempt, entry.dueAt, entry.firstFailureAt)
                    is JournalEntry.Complete -> JournalFormat.putComplete(buffer, entry.id)
                    is JournalEntry.Used -> {
                        JournalFormat.putComplete(buffer, entry.id)
                        if (syncEveryBatch) mustForce = true
                    }
                    is JournalEntry.Tombstone -> {
                        JournalFormat.putComplete(buffer, entry.id)
                        mustForce = true
                    }
                    is JournalEntry.Barrier -> mustForce = true
                }
                segmentOf[written.size] = book.active
                written.add(entry)
            }
            flush()
            // Under an interval policy a busy writer never idles: it forces here once the interval is up.
            if (mustForce || (intervalNanos > 0 && System.nanoTime() - lastSync >= intervalNanos)) {
                file!!.force()
                unsynced = false
                lastSync = System.nanoTime()
            } else {
                unsynced = true
            }
        } catch (e: Throwable) { // an Error too (a huge record's buffer): the writer must outlive it
            failed(batch, e, if (rolled) -1 else startPosition)
            return
        }
        lastWriteFailed = false
        for (i in written.indices) {
            val segment = segmentOf[i]
            when (val entry = written[i]) {
                is JournalEntry.Append -> book.published(entry.id, segment)
                is JournalEntry.Retry -> book.retried(entry.id, segment)
                is JournalEntry.Complete -> book.completed(entry.id, segment)
                is JournalEntry.Tombstone -> book.refer(segment, entry.segment)
                is JournalEntry.Used, is JournalEntry.Barrier -> {}
            }
        }
        for (entry in written) {
            when (entry) {
                is JournalEntry.Append -> entry.callback?.let(::notifyStored)
                is JournalEntry.Used -> notifyStored(entry.callback)
                is JournalEntry.Barrier -> entry.done.complete(Unit)
                else -> {}
            }
        }
        deleteFinished()
    }

    private fun notifyStored(callback: JournalCallback) {
        try {
            callback.stored()
        } catch (e: Throwable) {
            logger.error(e) { "Queue '$queue': accepting a journaled message failed" }
        }
    }

    private fun failed(batch: List<JournalEntry>, cause: Throwable, truncateTo: Long) {
        val error = JournalException(
            "Queue '$queue': the journal could not write a batch of ${batch.size} record(s) in $directory ($cause). " +
                "Its publishes were not accepted; publish them again. The journal goes on with a new segment once the fault clears" +
                (if (cause.message?.contains("No space left", ignoreCase = true) == true) ": free disk space." else "."),
            cause,
        )
        errors.warn { error.message!! }
        if (truncateTo >= 0) {
            try {
                file?.truncate(truncateTo)
            } catch (e: Exception) {
                // The tombstones below make whatever stays there harmless.
            }
        }
        mustRoll = true
        lastWriteFailed = true
        // Tombstones go first into the next batch (forced), then what this batch carried over. `written`
        // is the prefix of the batch that reached the buffer, with the segment each entry went to (a
        // roll may have moved the rest to a new one): a publish's frame may be on disk there, so its
        // tombstone must refer to that segment. A publish that never reached the buffer needs none.
        val tombstones = ArrayList<JournalEntry>()
        val rest = ArrayList<JournalEntry>()
        for ((i, entry) in batch.withIndex()) {
            when (entry) {
                is JournalEntry.Append -> {
                    if (i < written.size) tombstones += JournalEntry.Tombstone(entry.id, segmentOf[i])
                    try {
                        entry.callback?.failed(error)
                    } catch (e: Throwable) {
                        logger.error(e) { "Queue '$queue': refusing a message whose journal write failed failed" }
                    }
                }
                is JournalEntry.Barrier -> entry.done.completeExceptionally(error)
                else -> rest += entry // completions, retries, used ids (their publish waits), earlier tombstones
            }
        }
        carried.clear() // everything it held was in this batch
        carried.addAll(tombstones)
        carried.addAll(rest)
        if (carried.size > MAX_CARRIED) {
            // A fault that lasts: keep memory bounded. Completions dropped here only cost redeliveries
            // after a crash; a used id's publish is answered (its message was dropped anyway).
            val dropped = carried.size - MAX_CARRIED
            repeat(dropped) { (carried.pollLast() as? JournalEntry.Used)?.let { notifyStored(it.callback) } }
            errors.warn { "$dropped completion record(s) could not be journaled; those messages may be delivered again after a restart" }
        }
        // Back off a little so that a persistent fault does not spin the disk.
        LockSupport.parkNanos(this, FAILURE_BACKOFF_NANOS)
    }

    private fun flush() {
        if (buffer.position() == 0) return
        buffer.flip()
        val length = buffer.remaining()
        allocate(position + length)
        file!!.write(buffer, position)
        position += length
        buffer.clear()
    }

    /** Zero-fills the file ahead of the frames up to at least [end]. */
    private fun allocate(end: Long) {
        if (end <= allocated) return
        val target = maxOf(end, minOf(segmentBytes.toLong(), (end / ALLOCATION_CHUNK + 1) * ALLOCATION_CHUNK))
        var at = allocated
        while (at < target) {
            val n = minOf(ZEROS.capacity().toLong(), target - at).toInt()
            val zeros = ZEROS.duplicate()
            zeros.limit(n)
            file!!.write(zeros, at)
            at += n
        }
        allocated = target
    }

    private fun ensureRoom(size: Int) {
        if (buffer.remaining() >= size) return
        if (buffer.position() > 0) flush()
        if (buffer.capacity() < size) buffer = ByteBuffer.allocateDirect(size)
    }

    private var headerEnd = 0L

    /** Seals the current segment (forced) and starts the next one: header, first zero chunk, forced, directory forced. */
    private fun roll() {
        file?.let { old ->
            file = null
            try {
                old.force() // sealed segments are never torn, whatever the policy
                unsynced = false
            } finally {
                old.close()
            }
        }
        val index = book.active + 1
        val path = directory.resolve(JournalFormat.segmentFileName(index.toLong()))
        fs.delete(path) // a leftover of a roll that failed: it never held an acknowledged record
        val created = fs.create(path)
        try {
            val header = JournalFormat.header(queue, index.toLong(), sequence.get(), clock.millis())
            file = created
            position = 0
            allocated = 0
            allocate(header.size.toLong())
            created.write(ByteBuffer.wrap(header), 0)
            position = header.size.toLong()
            headerEnd = position
            created.force()
            fs.forceDirectory(directory)
        } catch (e: Exception) {
            file = null
            try {
                created.close()
            } catch (suppressed: Exception) {
                e.addSuppressed(suppressed)
            }
            throw e
        }
        book.activate(index)
        mustRoll = false
    }

    private fun deleteFinished() {
        for (index in book.takeDeletable()) {
            val path = directory.resolve(JournalFormat.segmentFileName(index.toLong()))
            try {
                fs.delete(path)
                logger.debug { "Queue '$queue': journal segment $path finished; deleted" }
            } catch (e: Exception) {
                errors.warn { "could not delete finished journal segment $path ($e); it is deleted on the next start" }
            }
        }
    }

    private fun sizeOf(entry: JournalEntry): Int = when (entry) {
        is JournalEntry.Append -> entry.frame.size
        is JournalEntry.Retry -> JournalFormat.RETRY_FRAME_BYTES
        is JournalEntry.Complete, is JournalEntry.Tombstone, is JournalEntry.Used -> JournalFormat.COMPLETE_FRAME_BYTES
        is JournalEntry.Barrier -> 0
    }

    private companion object {
        const val INITIAL_BUFFER = 256 * 1024
        const val MAX_BATCH_BYTES = 4L * 1024 * 1024
        const val MAX_BATCH_ENTRIES = 16_384
        const val ALLOCATION_CHUNK = 1024L * 1024
        const val MAX_CARRIED = 1_000_000
        const val FAILURE_BACKOFF_NANOS = 10_000_000L
        val ZEROS: ByteBuffer = ByteBuffer.allocateDirect(256 * 1024).asReadOnlyBuffer()
    }
}
