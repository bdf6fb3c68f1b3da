package io.relaymq.spi

/**
 * A message as it crosses a [RemoteBackend]: the payload already encoded by the queue's codec, and what
 * the engine needs to run it and to answer its requester.
 */
public class RemoteMessage(
    /** The payload, encoded by the queue's codec. */
    @get:JvmName("payload") public val payload: ByteArray,
    /** When it was published (epoch millis, the publisher's clock). */
    @get:JvmName("publishedAtMillis") public val publishedAtMillis: Long,
    /** Not before this time (epoch millis); 0 when due at once. */
    @get:JvmName("dueAtMillis") public val dueAtMillis: Long,
    /** Where the outcome goes ([RemoteBackend.openReplies]'s address), or `null` when nobody waits for it. */
    @get:JvmName("replyTo") public val replyTo: String?,
    /** Which of [replyTo]'s requests this is; 0 without [replyTo]. */
    @get:JvmName("correlation") public val correlation: Long,
    /** Its attempt: 1, or more once a handler failed and the retry policy sent it back ([RemoteQueue.retry]). */
    @get:JvmName("attempt") public val attempt: Int = 1,
    /** When its first attempt failed (epoch millis); [Long.MIN_VALUE] before any failure. */
    @get:JvmName("firstFailureAtMillis") public val firstFailureAtMillis: Long = Long.MIN_VALUE,
) {
    override fun toString(): String =
        "RemoteMessage(payload=${payload.size} bytes, publishedAt=$publishedAtMillis, dueAt=$dueAtMillis, replyTo=$replyTo, " +
            "correlation=$correlation, attempt=$attempt)"
}
