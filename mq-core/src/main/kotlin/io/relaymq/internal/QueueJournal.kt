package io.relaymq.internal

import io.relaymq.FsyncPolicy
import io.relaymq.JournalException
import io.relaymq.Message
import io.relaymq.MessageCodec
import kotlinx.coroutines.delay
import kotlinx.coroutines.future.await
import java.io.IOException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.attribute.PosixFilePermissions
import java.time.Clock
import java.util.concurrent.CompletableFuture
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * A durable queue's journal, as the rest of the engine sees it: recovery at registration ([open],
 * [begin]), then [append] for publishes, [retried] and [completed] for the transitions of
 * [MessageLifecycle], and [close]. The format is [JournalFormat]; the writing, [JournalWriter];
 * reading back, [JournalRecovery].
 *
 * [inFlight] counts publishes handed to the writer whose outcome ([JournalCallback]) has not run yet:
 * the close waits for it to reach 0 ([awaitStored]) before it collects what is left, so that no
 * message is accepted into a queue the close already emptied.
 */
internal class QueueJournal<T> private constructor(
    private val queue: String,
    val directory: Path,
    val codec: MessageCodec<T>,
    private val fs: JournalFileSystem,
    private val policy: FsyncPolicy,
    private val segmentBytes: Int,
    private val clock: Clock,
    private var recovered: RecoveredJournal?,
) {
    private var writer: JournalWriter? = null
    private val inFlight = AtomicInteger()

    /** The pending messages recovery found, in replay order, decoded (user code: call with no lock held). */
    fun recoveredMessages(): List<Pair<MessageRecord, T>> = checkNotNull(recovered).messages.map { record ->
        val payload = try {
            codec.decode(record.payload)
        } catch (e: Exception) {
            throw JournalException(
                "Queue '$queue': $codec cannot decode message ${record.id} recovered from its journal in $directory ($e). " +
                    "Register the queue with the codec its messages were written with.",
                e,
            )
        }
        record to payload
    }

    val recoveredMaxId: Long get() = checkNotNull(recovered).maxId

    /**
     * Starts writing: a new segment, the relocations recovery asked for (forced), corrupt files moved
     * aside, finished segments deleted, then the writer thread. [sequence] is the queue's id sequence,
     * already past every recovered id.
     */
    fun begin(sequence: AtomicLong) {
        val state = checkNotNull(recovered)
        val writer = JournalWriter(queue, directory, fs, policy, segmentBytes, state.book, sequence, clock)
        try {
            writer.begin(state.relocations)
        } catch (e: Exception) {
            throw JournalException("Queue '$queue': cannot start a new journal segment in $directory: $e", e)
        }
        try {
            JournalRecovery.moveAside(queue, directory, fs, state.corrupt)
        } catch (e: Exception) {
            writer.crash() // never started: just closes its segment
            throw e
        }
        recovered = null
        this.writer = writer
        writer.start()
        // Segments recovery found finished go with the writer's first batch; ask for one now.
        writer.submit(JournalEntry.Barrier(CompletableFuture()))
    }

    /**
     * Hands a publish's MESSAGE [frame] to the writer (or, with a `null` frame, a record that [id] was
     * used); [callback] runs on the writer thread when it is stored or failed.
     */
    fun append(id: Long, frame: ByteArray?, callback: JournalCallback) {
        inFlight.incrementAndGet()
        val wrapped = object : JournalCallback {
            override fun stored() {
                try {
                    callback.stored()
                } finally {
                    inFlight.decrementAndGet()
                }
            }

            override fun failed(error: JournalException) {
                try {
                    callback.failed(error)
                } finally {
                    inFlight.decrementAndGet()
                }
            }
        }
        val writer = writer
        if (writer == null) { // closed or crashed: the close waited out every publish, so only a crash gets here
            wrapped.failed(JournalException("Queue '$queue': the journal is closed; the message was not accepted"))
            return
        }
        writer.submit(if (frame != null) JournalEntry.Append(id, frame, wrapped) else JournalEntry.Used(id, wrapped))
    }

    /**
     * Records [id] as used by a message that ended before it was journaled (DROP_NEWEST), so that no
     * restart hands the id out again; [publish] is told once it is stored like a publish.
     */
    fun recordUsed(id: Long, publish: DurablePublish) {
        append(id, null, object : JournalCallback {
            override fun stored() = publish.stored(id)

            override fun failed(error: JournalException) = publish.stored(id) // dropped anyway: its publish returned an id
        })
    }

    /** [message] waits for attempt [next]'s due time. */
    fun retried(next: RichMessage<*>) {
        writer?.submit(JournalEntry.Retry(next.id, next.attempt, next.dueAtMillis, next.firstFailureAtMillis))
    }

    /** [message] ended: handled, dead-lettered, dropped or withdrawn. */
    fun completed(message: Message<*>) {
        writer?.submit(JournalEntry.Complete(message.id))
    }

    /**
     * Suspends until every publish handed to the writer was stored or failed, at most [timeout] (a disk
     * that hangs in an fsync); `false` when it timed out.
     */
    suspend fun awaitStored(timeout: kotlin.time.Duration): Boolean =
        kotlinx.coroutines.withTimeoutOrNull(timeout) {
            while (inFlight.get() > 0) delay(1)
            true
        } ?: false

    /**
     * Forces everything written, then stops the writer; waits at most [timeout] for the disk. The journal
     * keeps whatever did not end.
     * @throws JournalException when the final force failed or timed out (completions since the last
     *   force may be lost: those messages are delivered again on the next start).
     */
    suspend fun close(timeout: kotlin.time.Duration) {
        val writer = writer ?: return
        val done = CompletableFuture<Unit>()
        writer.submit(JournalEntry.Barrier(done))
        try {
            val forced = kotlinx.coroutines.withTimeoutOrNull(timeout) { done.await() }
            if (forced == null) throw JournalException("Queue '$queue': the journal in $directory did not finish its final write within $timeout")
        } finally {
            writer.stop(waitMillis = timeout.inWholeMilliseconds.coerceAtLeast(1))
            this.writer = null
        }
    }

    /** Test support: dies like a killed process. */
    fun crash() {
        writer?.crash()
        writer = null
    }

    companion object {
        /**
         * Opens [queue]'s journal directory inside [root] and reads it back ([JournalRecovery]); call
         * [begin] once the queue holds the recovered messages.
         */
        fun <T> open(queue: String, root: Path, codec: MessageCodec<T>, settings: BusSettings): QueueJournal<T> {
            val directory = root.resolve(QueueFileNames.journalDirectoryName(queue))
            try {
                if (!Files.isDirectory(directory)) {
                    if (posix(root)) {
                        Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")))
                    } else {
                        Files.createDirectories(directory)
                    }
                    settings.journalFileSystem.forceDirectory(root)
                }
            } catch (e: IOException) {
                throw JournalException("Queue '$queue': cannot create its journal directory $directory: $e", e)
            }
            val recovered = JournalRecovery.recover(queue, directory, settings.journalFileSystem, settings.strictJournal)
            return QueueJournal(
                queue, directory, codec, settings.journalFileSystem, settings.fsyncPolicy, settings.journalSegmentBytes,
                settings.clock, recovered,
            )
        }
    }
}
