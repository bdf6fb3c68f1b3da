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
) {
    override fun toString(): String =
        "RemoteMessage(payload=${payload.size} bytes, publishedAt=$publishedAtMillis, dueAt=$dueAtMillis, replyTo=$replyTo, correlation=$correlation)"
}
