package io.relaymq.internal

import io.relaymq.JournalException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.withContext

/**
 * One publish to a durable queue, from the payload's encoding to the moment its record is stored:
 * [payload] is encoded by the publisher's thread before it enters any gate (the codec is user code),
 * and [stored] or [failed] is called exactly once, on the journal writer's thread, after the message
 * was accepted into the queue or refused. Implementations hand the outcome on without blocking or
 * running user code there: a coroutine resumes on its own dispatcher, a future completes through an
 * executor.
 *
 * A publish that never reaches the journal (dropped at once by DROP_NEWEST) is [stored] at once: its
 * id exists, and the message ended.
 */
internal abstract class DurablePublish(@JvmField val payload: ByteArray) {
    abstract fun stored(id: Long)

    abstract fun failed(error: JournalException)
}

/** A Kotlin publisher's [DurablePublish]: it suspends in [await] until its message is stored. */
internal class SuspendingDurablePublish(payload: ByteArray) : DurablePublish(payload) {
    private val outcome = CompletableDeferred<Long>()

    override fun stored(id: Long) {
        outcome.complete(id)
    }

    override fun failed(error: JournalException) {
        outcome.completeExceptionally(error)
    }

    /**
     * The id once stored. Not cancellable: once handed to the journal, the message will be accepted or
     * refused whatever the caller does, and a publish that throws `CancellationException` must not have
     * been accepted. The wait is one group commit.
     */
    suspend fun await(): Long = withContext(NonCancellable) { outcome.await() }
}

/**
 * A Java publisher's [DurablePublish]: completes [accepted] (and fails [reply] when refused) through
 * [executor], so that the caller's dependent stages never run on the journal writer's thread.
 */
internal class FutureDurablePublish(
    payload: ByteArray,
    private val accepted: java.util.concurrent.CompletableFuture<Long>,
    private val reply: java.util.concurrent.CompletableFuture<Any?>?,
    private val executor: java.util.concurrent.Executor,
) : DurablePublish(payload) {
    override fun stored(id: Long) {
        executor.execute { accepted.complete(id) }
    }

    override fun failed(error: JournalException) {
        executor.execute {
            reply?.completeExceptionally(error)
            accepted.completeExceptionally(error)
        }
    }
}

/** A dead letter for a durable dead-letter queue: its source message may leave its journal once it is stored. */
internal class DeadLetterDurablePublish(
    payload: ByteArray,
    private val queue: String,
    private val letter: io.relaymq.DeadLetter,
    private val whenSafe: () -> Unit,
) : DurablePublish(payload) {
    override fun stored(id: Long) {
        whenSafe()
    }

    override fun failed(error: JournalException) {
        relayLogger("io.relaymq.internal.FailureRouting").error(error) {
            "Durable dead-letter queue '$queue' could not store a dead letter; it is logged here, and its message stays in " +
                "queue '${letter.queue}''s journal (delivered again after a restart): $letter"
        }
    }
}
