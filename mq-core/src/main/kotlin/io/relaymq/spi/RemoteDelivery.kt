package io.relaymq.spi

/** A message handed to this bus by [RemoteQueue.fetch]; pass it back to end, release or extend it. */
public class RemoteDelivery(
    /** The message's id (what its publish returned). */
    @get:JvmName("id") public val id: Long,
    /** The store's own reference to this delivery (a stream entry id, say). */
    @get:JvmName("handle") public val handle: String,
    /** The message. */
    @get:JvmName("message") public val message: RemoteMessage,
) {
    override fun toString(): String = "RemoteDelivery(id=$id, handle=$handle)"
}
