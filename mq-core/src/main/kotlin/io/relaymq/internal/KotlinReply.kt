package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CancellableContinuation
import kotlinx.coroutines.suspendCancellableCoroutine
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater
import kotlin.coroutines.cancellation.CancellationException

/**
 * What a Kotlin `request` waits on: a one-shot result, and the message once accepted, so that the
 * requester withdraws it itself when it stops waiting.
 *
 * Its own one-shot rather than a `CompletableDeferred`: a request is the round trip users measure
 * against a rendezvous ping-pong, and awaiting a deferred costs a job node, a completion handler and
 * an await continuation on top of the one continuation a suspension needs.
 *
 * [state] moves once from PENDING (or a waiting requester's continuation) to an [Outcome]; whoever
 * makes that move resumes the waiter, if any, and then runs [onDone]. Never calls user code.
 */
internal class KotlinReply {
    @Volatile private var state: Any? = PENDING

    /** Set by the admission once the message is accepted, before the publish returns. */
    @Volatile @JvmField var message: Message<*>? = null

    @Volatile @JvmField var withdraw: ((Message<*>) -> Unit)? = null

    /** Run once the outcome is set (a remote request forgets its correlation then). */
    @Volatile private var onDone: (() -> Unit)? = null

    private class Outcome(val value: Any?, val failure: Throwable?) {
        fun asResult(): Result<Any?> = if (failure == null) Result.success(value) else Result.failure(failure)
    }

    val isDone: Boolean get() = state is Outcome

    /** Sets the result; `false` if an outcome was set before. */
    fun complete(value: Any?): Boolean = finish(Outcome(value, null))

    /** Sets the failure; `false` if an outcome was set before. */
    fun completeExceptionally(failure: Throwable): Boolean = finish(Outcome(null, failure))

    /** Runs [action] once the outcome is set (at once if it is); it may run twice when both race: keep it idempotent. */
    fun invokeOnCompletion(action: () -> Unit) {
        onDone = action
        if (isDone) action()
    }

    private fun finish(outcome: Outcome): Boolean {
        while (true) {
            val current = state
            if (current is Outcome) return false
            if (STATE.compareAndSet(this, current, outcome)) {
                @Suppress("UNCHECKED_CAST")
                if (current is CancellableContinuation<*>) (current as CancellableContinuation<Any?>).resumeWith(outcome.asResult())
                onDone?.invoke()
                return true
            }
        }
    }

    /**
     * Waits for the outcome through the caller's continuation (no frame of its own: the suspension is
     * the tail call). Cancellation: the requester stops waiting, and the message is withdrawn if no
     * consumer took it yet ([stopWaiting]); the caller gets the `CancellationException`.
     */
    @Suppress("UNCHECKED_CAST")
    suspend fun <R> await(): R {
        val done = state
        if (done is Outcome) return done.asResult().getOrThrow() as R
        return suspendCancellableCoroutine { waiter ->
            waiter.invokeOnCancellation { stopWaiting() }
            while (true) {
                val current = state
                if (current is Outcome) {
                    waiter.resumeWith(current.asResult() as Result<R>)
                    break
                }
                if (STATE.compareAndSet(this, PENDING, waiter)) break
            }
        }
    }

    /** The requester stopped waiting: withdraws the message if no consumer took it yet. */
    fun stopWaiting() {
        completeExceptionally(CancellationException("the requester stopped waiting"))
        val accepted = message ?: return
        withdraw?.invoke(accepted)
    }

    private companion object {
        val PENDING = Any()
        val STATE: AtomicReferenceFieldUpdater<KotlinReply, Any?> =
            AtomicReferenceFieldUpdater.newUpdater(KotlinReply::class.java, Any::class.java, "state")
    }
}
