package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import io.relaymq.internal.QueueOrigin
import java.time.Instant

/**
 * One message of one queue, as a handler sees it.
 *
 * A message is created when [MQ.publish] (or [MessageBus.publish]) accepts a payload and is immutable
 * from then on. Only RelayMQ creates messages (to unit-test a handler, make one with `Message(queue, data)`,
 * Java `Messages.of(queue, data)`). Java reads its fields as `id()`, `queue()`, `data()` and `publishedAt()`.
 *
 * @param T the payload type the queue was registered with.
 */
public open class Message<T> internal constructor(
    // Name, id base and time base shared by a run of the queue's messages; the id and publish time
    // are offsets from them, packed into one Int. See QueueOrigin for why.
    private val origin: QueueOrigin,
    /** The payload, exactly the object that was published (never copied, never `null`). */
    @get:JvmName("data") public val data: T,
    private val idAndTime: Int,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    /**
     * The message's number in its queue: a per-queue sequence that starts at 1. Ids are unique within a
     * queue and increase in the order in which any one producer published; messages of concurrent
     * producers interleave.
     */
    @get:JvmName("id")
    public val id: Long
        get() = origin.idOf(idAndTime)

    /** The name of the queue that accepted this message. */
    @get:JvmName("queue")
    public val queue: String
        get() = origin.name

    /** When the message was accepted, with millisecond precision. */
    @get:JvmName("publishedAt")
    public val publishedAt: Instant
        get() = Instant.ofEpochMilli(publishedAtMillis)

    @get:JvmSynthetic
    internal val publishedAtMillis: Long
        get() = origin.millisOf(idAndTime)

    /** Which delivery this is: 1 for the first, 2 for the first retry, and so on (see [RetryPolicy]). */
    @get:JvmName("attempt")
    public val attempt: Int
        get() = attemptNumber()

    /**
     * The ordering key the message was published with, or `null`. Messages of one queue with the same
     * key are handled one at a time, in publish order.
     */
    @get:JvmName("key")
    public val key: String?
        get() = orderingKey()

    // Plain messages have neither; RichMessage overrides these (open properties cannot carry @JvmName).
    @JvmSynthetic
    internal open fun attemptNumber(): Int = 1

    @JvmSynthetic
    internal open fun orderingKey(): String? = null

    @get:JvmSynthetic
    internal val queueOrigin: QueueOrigin
        get() = origin

    @get:JvmSynthetic
    internal val packedIdAndTime: Int
        get() = idAndTime

    /** Messages are equal when they are the same message: same queue and same id. */
    override fun equals(other: Any?): Boolean =
        other is Message<*> && other.id == id && other.queue == queue

    override fun hashCode(): Int = 31 * queue.hashCode() + id.hashCode()

    override fun toString(): String =
        "Message(queue=$queue, id=$id, data=$data" + (if (attempt > 1) ", attempt=$attempt" else "") +
            (key?.let { ", key=$it" } ?: "") + ")"
}
