package io.relaymq.internal

import io.relaymq.DeadLetter
import io.relaymq.DeadLetterHandler
import io.relaymq.Message
import io.relaymq.RetryPolicy
import java.time.Clock
import java.time.Instant
import kotlin.random.Random

private val logger = relayLogger("io.relaymq.internal.FailureRouting")

/**
 * What happens to a message whose handler failed: another attempt later ([retryOf]), or the end, with
 * a [DeadLetter] for the dead-letter queue and handler ([deadLetter], [notifyHandler]).
 *
 * The consumer calls [retryOf] while the message is still claimable by the close (it runs the user's
 * retry predicate, which may take its time), [deadLetter] while it still holds the message (so the
 * dead-letter queue has the letter before the source counts the message as ended: a close that waits
 * for the source and then for the dead-letter queue cannot miss it), and [notifyHandler] after (user
 * code, outside everything).
 */
internal class FailureRouting<T>(
    private val queue: String,
    private val retry: RetryPolicy?,
    private val deadLetterQueue: String?,
    private val deadLetterHandler: DeadLetterHandler?,
    private val clock: Clock,
    private val counters: QueueCounters,
    /**
     * Publishes a dead letter into the named queue of the same bus and calls `watch.safe()` once it is safe
     * there (at once, or once journaled in a durable queue; never when that write fails); throws when
     * the queue refuses it at once.
     */
    private val publishDeadLetter: (queue: String, letter: DeadLetter, watch: LetterWatch) -> Unit,
) {
    /** The next attempt of [message] if the policy allows one, or `null` when [failure] is final. */
    fun retryOf(message: Message<T>, failure: Throwable): RichMessage<T>? {
        val policy = retry ?: return null
        if (message.attempt >= policy.maxAttempts) return null
        val retryable = try {
            policy.retryOn.isRetryable(failure)
        } catch (e: Exception) {
            logger.warn(e) { "Retry predicate of queue '$queue' threw; treating the failure as final" }
            false
        }
        if (!retryable) return null
        val now = clock.millis()
        // Random.Default is thread-safe; consumers of one queue run on many threads at once.
        val wait = policy.backoff(message.attempt, Random.Default)
        logger.info { "Queue '$queue': message ${message.id} failed on attempt ${message.attempt} ($failure); retrying in $wait" }
        return richOf(message).retry(dueAt = now + wait.inWholeMilliseconds, firstFailureAt = firstFailureOf(message, now))
    }

    /**
     * [message] failed for good: routes its [DeadLetter] to the dead-letter queue and returns it for
     * [notifyHandler]; `null` (after logging the failure) when the queue has neither. [whenSafe] runs
     * once the message may leave its own journal: at once, or once a durable dead-letter queue stored
     * the letter (never when that fails: the message is then delivered again after a restart).
     */
    fun deadLetter(message: Message<T>, failure: Throwable, whenSafe: LetterWatch): DeadLetter? {
        if (deadLetterQueue == null && deadLetterHandler == null) {
            whenSafe.safe()
            logger.warn(failure) {
                "Handler of queue '$queue' failed on message ${message.id}" +
                    (if (message.attempt > 1) " (attempt ${message.attempt}, final)" else "") + "; the queue carries on"
            }
            return null
        }
        val now = clock.millis()
        val letter = DeadLetter(
            queue = queue,
            messageId = message.id,
            payload = DeadLetterPayload.Decoded(message.data as Any),
            key = message.key,
            attempts = message.attempt,
            failureClass = failure.javaClass.name,
            failureMessage = failure.message,
            firstFailureAt = Instant.ofEpochMilli(firstFailureOf(message, now)),
            lastFailureAt = Instant.ofEpochMilli(now),
            failure = failure,
        )
        counters.deadLettered.increment()
        logger.warn(failure) { "Queue '$queue': message ${message.id} failed for good after ${message.attempt} attempt(s); dead-lettered" }
        if (deadLetterQueue != null) {
            try {
                publishDeadLetter(deadLetterQueue, letter, whenSafe)
            } catch (e: Exception) {
                logger.error(e) { "Dead-letter queue '$deadLetterQueue' refused a dead letter of queue '$queue'; it is logged here: $letter" }
                whenSafe.safe()
            }
        } else {
            whenSafe.safe()
        }
        return letter
    }

    /** Hands [letter] to the dead-letter handler, if any (user code: call outside every gate). */
    fun notifyHandler(letter: DeadLetter) {
        val handler = deadLetterHandler ?: return
        try {
            handler.onDeadLetter(letter)
        } catch (e: Exception) {
            logger.error(e) { "Dead-letter handler of queue '$queue' threw on message ${letter.messageId}; the dead letter is logged here: $letter" }
        }
    }

    private fun firstFailureOf(message: Message<T>, now: Long): Long =
        (message as? RichMessage<T>)?.firstFailureAtMillis?.takeIf { it != RichMessage.NEVER_FAILED } ?: now

    private fun richOf(message: Message<T>): RichMessage<T> =
        message as? RichMessage<T>
            ?: RichMessage(message.queueOrigin, message.data, message.packedIdAndTime, null, null, 1, 0, RichMessage.NEVER_FAILED)
}
