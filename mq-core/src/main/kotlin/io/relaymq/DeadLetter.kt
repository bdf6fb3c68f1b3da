package io.relaymq

import java.time.Instant

/**
 * A message its queue gave up on: after its last attempt, or a failure its [RetryPolicy] does not retry.
 * Delivered to the queue's dead-letter queue (as the payload of a new message) or to its
 * [DeadLetterHandler]; never silently dropped.
 */
public class DeadLetter internal constructor(
    /** The queue that gave up. */
    @get:JvmName("queue") public val queue: String,
    /** The message's id in that queue. */
    @get:JvmName("messageId") public val messageId: Long,
    /** The original payload. */
    @get:JvmName("data") public val data: Any,
    /** The original ordering key, or `null`. */
    @get:JvmName("key") public val key: String?,
    /** How many deliveries were tried. */
    @get:JvmName("attempts") public val attempts: Int,
    /** Class name of the last failure. */
    @get:JvmName("failureClass") public val failureClass: String,
    /** Message of the last failure, or `null`. */
    @get:JvmName("failureMessage") public val failureMessage: String?,
    /** When the first attempt failed. */
    @get:JvmName("firstFailureAt") public val firstFailureAt: Instant,
    /** When the last attempt failed. */
    @get:JvmName("lastFailureAt") public val lastFailureAt: Instant,
    /** The last failure itself; in memory only (a dead letter restored from a snapshot has none). */
    @get:JvmName("failure") public val failure: Throwable?,
) {
    override fun toString(): String =
        "DeadLetter(queue=$queue, messageId=$messageId, attempts=$attempts, failure=$failureClass: $failureMessage)"
}
