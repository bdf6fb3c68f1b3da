package io.relaymq.internal

import io.relaymq.DeadLetter
import io.relaymq.Message
import kotlinx.coroutines.Job
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.job
import kotlin.coroutines.cancellation.CancellationException
import kotlin.coroutines.intrinsics.startCoroutineUninterceptedOrReturn
import kotlin.coroutines.intrinsics.suspendCoroutineUninterceptedOrReturn

/**
 * What one consumer coroutine of a queue does: take a message, run its handler, record the outcome,
 * repeat. The handler call is inlined into the loop ([handle]) on purpose: a separate suspend function
 * would allocate a continuation per message.
 *
 * ## Rules
 * - [mayTake] is the one answer to "may this consumer hand another message to a handler?", asked
 *   before every take and before running the next message of an ordering key that its predecessor's
 *   end released: active (not retired), not stopping (close), not paused. A keyed message that may not
 *   run now goes back to READY; its key's line keeps its place.
 * - A message taken while the queue began to stop goes back (it is saved or abandoned with the rest,
 *   in id order). One that reached the consumer as the queue was being paused is kept, unhandled, until
 *   the queue resumes (putting it back would reorder it): after `pause()` returns, no handler starts.
 * - The consumer holds every message in its [ConsumerSlot] from the take to the recorded outcome, and
 *   calls no user code while it holds one: user code runs inside the claimable handler phase (the
 *   handler, the retry predicate) or after the slot is released (reply callbacks, dead-letter handler,
 *   drop listener).
 * - Whenever it stops working (nothing to take, paused, retired, stopping) it wakes idle waiters.
 */
internal class ConsumerLoop<T>(
    private val handler: suspend (Message<T>) -> Any?,
    /** `true` for handlers that block their thread (Java): they are interrupted at the close deadline. */
    private val blocking: Boolean,
    private val control: QueueControl,
    private val transport: MessageTransport<T>,
    private val lifecycle: MessageLifecycle<T>,
    private val admission: Admission<T>,
    private val failures: FailureRouting<T>,
    private val idle: IdleWatch,
    /** Put into each handler's own context (not the consumer's): see [OwnHandler]. */
    private val ownHandler: OwnHandler,
) {
    private val whenEmpty: () -> Unit = idle::onProgress

    fun mayTake(slot: ConsumerSlot<T>): Boolean = slot.isActive() && !control.stopping && !control.paused

    suspend fun run(slot: ConsumerSlot<T>) {
        val context = currentCoroutineContext()
        val job = context.job // looked up once: a context lookup walks the whole context
        val completion = HandlerCompletion(context + ownHandler)
        try {
            consume(slot, job, completion)
        } finally {
            transport.retireTakeCounter(slot) // it takes nothing any more
            slot.exited()
            idle.onProgress()
        }
    }

    private suspend fun consume(slot: ConsumerSlot<T>, job: Job, completion: HandlerCompletion) {
        while (true) {
            job.ensureActive()
            if (!mayTake(slot)) {
                if (!slot.isActive()) {
                    if (slot.leave()) return // retired; otherwise reclaimed by a resize: carry on
                    continue
                }
                if (control.stopping) return
                idle.onProgress()
                control.awaitRunnable()
                continue
            }
            // poll() first, without suspending; waiting is a tail call into the channel (no allocation).
            var taken: Any? = transport.poll(slot)
            if (taken == null) {
                // poll() skips wake-ups: one meant for this consumer (pause, stop, retire) may have just
                // gone by. The flag it announces was set before it was sent, so look again before waiting.
                if (!mayTake(slot)) continue
                if (!transport.prepareToWait(whenEmpty)) return // closed and empty
                val raw = try {
                    transport.awaitNext()
                } catch (e: CancellationException) {
                    throw e
                } catch (e: Throwable) {
                    return // closed, normally or by a failed relay (already logged)
                }
                taken = transport.accept(raw, slot)
            }
            if (taken === TakeInterrupted) continue
            @Suppress("UNCHECKED_CAST")
            val message = taken as Message<T>
            slot.hold(message)
            if (control.paused && !awaitResumedHolding(slot, message)) return
            if (control.stopping || !job.isActive) {
                lifecycle.putBack(message) // a husk too: the close filters those
                slot.release()
                return
            }
            if (!lifecycle.taken(message)) {
                slot.release() // withdrawn while it waited; counted then
                continue
            }
            if (admission.payDropDebt()) {
                lifecycle.drop(message, counted = true)
                slot.release()
                slot.inUserCode = true
                lifecycle.afterDrop(message, "DROP_OLDEST: a newer message arrived while the queue was full")
                slot.inUserCode = false
                continue
            }
            if (lifecycle.parkForKey(message)) {
                slot.release() // waits for its key, not for a consumer
                continue
            }
            var current = message
            while (true) {
                val outcome = handle(slot, current, job, completion)
                if (outcome == STOPPED) return
                if (outcome == KEY_KEPT || current.key == null) break
                // Hand the key's line on. Holding the ended message as a marker first (then the stop
                // check) makes the close wait for this hand-over instead of missing the next message.
                slot.hold(current)
                if (control.stopping || !job.isActive) {
                    slot.release() // the close collects the line's parked messages
                    return
                }
                val next = lifecycle.releaseKey(current)
                if (next == null) {
                    slot.release()
                    break
                }
                slot.hold(next)
                if (!mayTake(slot)) {
                    lifecycle.putBack(next) // its line keeps its place; whoever takes it runs it
                    slot.release()
                    break
                }
                if (!lifecycle.taken(next)) {
                    slot.release() // its requester withdrew it as it was handed over; counted then
                    break
                }
                current = next
            }
        }
    }

    /**
     * The queue was paused while [message] was on its way to this consumer: keep it (in the slot) until
     * the queue resumes. `false` when the queue stops meanwhile: the message went back, and the consumer
     * must stop. Never loses the message to cancellation.
     */
    private suspend fun awaitResumedHolding(slot: ConsumerSlot<T>, message: Message<T>): Boolean {
        try {
            while (control.paused && !control.stopping) {
                idle.onProgress()
                control.awaitRunnable()
            }
        } catch (e: CancellationException) {
            lifecycle.putBack(message)
            slot.release()
            throw e
        }
        if (!control.stopping) return true
        lifecycle.putBack(message)
        slot.release()
        return false
    }

    /**
     * Runs [message]'s handler and records its outcome: [STOPPED] when the consumer must stop (the close
     * took the message), [KEY_KEPT] when the message keeps its key's line (a retry is pending),
     * [ENDED] when it ended for good (the caller hands its key's line on).
     */
    @Suppress("NOTHING_TO_INLINE") // inline: a separate suspend function would allocate a continuation per message
    private suspend inline fun handle(slot: ConsumerSlot<T>, message: Message<T>, job: Job, completion: HandlerCompletion): Int {
        lifecycle.toHandler()
        slot.enterHandler(message)
        var failure: Throwable? = null
        var result: Any? = null
        try {
            if (blocking) {
                slot.enterBlocking()
                slot.syncThread = Thread.currentThread()
                try {
                    result = handler(message)
                } finally {
                    slot.syncThread = null
                    slot.exitBlocking()
                }
            } else {
                // The handler runs in its own context (through `completion`, which resumes this consumer
                // when a handler that suspended ends), marked as ours (see OwnHandler): its synchronous
                // part through the slot, what runs after a suspension through the context's element.
                result = suspendCoroutineUninterceptedOrReturn { continuation ->
                    completion.target = continuation
                    slot.syncThread = Thread.currentThread()
                    try {
                        handler.startCoroutineUninterceptedOrReturn(message, completion)
                    } finally {
                        slot.syncThread = null
                    }
                }
            }
        } catch (e: Throwable) {
            // Our own cancellation propagates (the message stays in the slot for the close to claim);
            // a CancellationException the handler made itself (say its own withTimeout) is a failure.
            if (e is CancellationException) job.ensureActive()
            failure = e
        }
        // A failure caused by the close deadline (an interrupted blocking handler) is not the handler's
        // outcome: the message stays in the slot, and the close claims it.
        if (failure != null && !job.isActive) return STOPPED
        // Still claimable: the retry predicate is user code.
        val retry = if (failure != null) failures.retryOf(message, failure) else null
        if (!slot.commit(message)) return STOPPED // claimed by the close: not ours to count
        var letter: DeadLetter? = null
        if (failure == null) {
            lifecycle.succeeded(slot, message)
        } else if (retry != null) {
            lifecycle.retry(retry)
        } else {
            // Routed before it counts as ended: a close waiting for this queue to settle, then for the
            // dead-letter queue, cannot miss the letter.
            letter = failures.deadLetter(
                message, failure,
                object : LetterWatch {
                    override fun safe() = lifecycle.failureRecorded(message)
                    override fun lost() = lifecycle.failureNotRecorded(message)
                },
            )
            lifecycle.failed(slot, message)
        }
        slot.release()
        // Released: user code may run now (reply callbacks, the dead-letter handler).
        if (message is RichMessage<T> && retry == null || letter != null) {
            slot.inUserCode = true
            if (failure == null) {
                message.replyWith(result)
            } else if (retry == null) {
                message.replyWithFailure(failure)
                letter?.let(failures::notifyHandler)
            }
            slot.inUserCode = false
        }
        return if (retry != null) KEY_KEPT else ENDED
    }

    private companion object {
        const val STOPPED = 0
        const val KEY_KEPT = 1
        const val ENDED = 2
    }
}
