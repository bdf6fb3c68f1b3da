package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import io.relaymq.internal.DeadLetterPayload
import java.time.Instant

/**
 * A message its queue gave up on: after its last attempt, or a failure its [RetryPolicy] does not retry.
 * Delivered to the queue's dead-letter queue (as the payload of a new message) or to its
 * [DeadLetterHandler]; never silently dropped.
 *
 * On a bus with a snapshot directory a dead-letter queue needs no codec: dead letters cross the disk
 * with RelayMQ's own format, their payload with the source queue's codec.
 */
public class DeadLetter internal constructor(
    /** The queue that gave up. */
    @get:JvmName("queue") public val queue: String,
    /** The message's id in that queue. */
    @get:JvmName("messageId") public val messageId: Long,
    @get:JvmSynthetic internal val payload: DeadLetterPayload,
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
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    /**
     * The original payload. For a dead letter restored from a snapshot it is decoded on first access
     * with the codec of the source [queue]: register that queue (on the same bus) before reading it.
     * @throws IllegalStateException when the dead letter was restored and [queue] is not registered.
     */
    @get:JvmName("data")
    public val data: Any
        get() = payload.value()

    override fun toString(): String =
        "DeadLetter(queue=$queue, messageId=$messageId, attempts=$attempts, failure=$failureClass: $failureMessage)"
}
