package io.relaymq.internal

import io.relaymq.JournalException
import java.util.concurrent.atomic.AtomicReference
import kotlin.coroutines.Continuation
import kotlin.coroutines.intrinsics.COROUTINE_SUSPENDED
import kotlin.coroutines.intrinsics.intercepted
import kotlin.coroutines.intrinsics.suspendCoroutineUninterceptedOrReturn

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
    /**
     * Called once the message has its id, just before it is handed to the journal; `false` when the
     * caller gave up first (a cancelled Java future): the message is then not accepted.
     */
    open fun beginStoring(): Boolean = true

    abstract fun stored(id: Long)

    abstract fun failed(error: JournalException)
}

/**
 * A Kotlin publisher's [DurablePublish]: it suspends in [await] until its message is stored. One
 * object, no deferred or extra coroutine: the outcome and the waiting continuation meet in [state].
 */
internal class SuspendingDurablePublish(payload: ByteArray) : DurablePublish(payload) {
    /** `null` (nothing yet), the waiting continuation, or the outcome: the id (`Long`) or the failure. */
    private val state = AtomicReference<Any?>(null)

    override fun stored(id: Long) = finish(id)

    override fun failed(error: JournalException) = finish(Failure(error))

    private fun finish(outcome: Any) {
        while (true) {
            when (val current = state.get()) {
                null -> if (state.compareAndSet(null, outcome)) return
                is Continuation<*> -> {
                    state.set(outcome)
                    @Suppress("UNCHECKED_CAST")
                    (current as Continuation<Any?>).resumeWith(if (outcome is Failure) Result.failure(outcome.error) else Result.success(outcome))
                    return
                }
                else -> return // already finished (cannot happen: one outcome per publish)
            }
        }
    }

    /**
     * The id once stored. Not cancellable: once handed to the journal, the message will be accepted or
     * refused whatever the caller does, and a publish that throws `CancellationException` must not have
     * been accepted. The wait is one group commit; the caller resumes on its own dispatcher.
     */
    suspend fun await(): Long {
        state.get()?.let { return outcomeOf(it) }
        val result = suspendCoroutineUninterceptedOrReturn<Any?> { continuation ->
            if (state.compareAndSet(null, continuation.intercepted())) COROUTINE_SUSPENDED else state.get()
        }
        return outcomeOf(result)
    }

    private fun outcomeOf(value: Any?): Long = when (value) {
        is Long -> value
        is Failure -> throw value.error
        else -> error("unexpected outcome $value")
    }

    private class Failure(val error: JournalException)
}

/**
 * A Java publisher's [DurablePublish]: completes [accepted] (and fails [reply] when refused) through
 * [executor], so that the caller's dependent stages never run on the journal writer's thread.
 */
internal class FutureDurablePublish(
    payload: ByteArray,
    private val accepted: DurablePublishFuture,
    private val reply: java.util.concurrent.CompletableFuture<Any?>?,
    private val executor: java.util.concurrent.Executor,
) : DurablePublish(payload) {
    override fun beginStoring(): Boolean = accepted.beginStoring()

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
    private val whenSafe: LetterWatch,
) : DurablePublish(payload) {
    override fun stored(id: Long) {
        whenSafe.safe()
    }

    override fun failed(error: JournalException) {
        relayLogger("io.relaymq.internal.FailureRouting").error(error) {
            "Durable dead-letter queue '$queue' could not store a dead letter; it is logged here, and its message stays in " +
                "queue '${letter.queue}''s journal (delivered again after a restart): $letter"
        }
    }
}

/**
 * The future a Java publish to a durable queue returns. Cancelling it works while the publish waits
 * for room (nothing is accepted); once the message is handed to the journal it will be accepted or
 * refused whatever the caller does, so [cancel] then returns `false` and changes nothing, rather than
 * reporting cancelled a message that is then handled.
 */
internal class DurablePublishFuture : java.util.concurrent.CompletableFuture<Long>() {
    private val state = java.util.concurrent.atomic.AtomicInteger(WAITING)

    fun beginStoring(): Boolean = state.compareAndSet(WAITING, STORING)

    override fun cancel(mayInterruptIfRunning: Boolean): Boolean {
        if (!state.compareAndSet(WAITING, CANCELLED) && state.get() != CANCELLED) return false
        return super.cancel(mayInterruptIfRunning)
    }

    private companion object {
        const val WAITING = 0
        const val STORING = 1
        const val CANCELLED = 2
    }
}
