package io.relaymq

/**
 * Fails the result of a request whose message was dropped by its queue's overflow policy, or withdrawn
 * or not processed because the bus closed, so that no caller waits forever.
 */
public class MessageDroppedException(
    /** The queue of the message. */
    @get:JvmName("queueName") public val queueName: String,
    /** The message's id. */
    @get:JvmName("messageId") public val messageId: Long,
    reason: String,
) : IllegalStateException("Message $messageId of queue '$queueName' was not processed: $reason")
