package io.relaymq

/**
 * Fails a request whose message was handled by another process (a bus sharing the queue through a
 * remote backend) and whose handler failed for good there. The original exception stays in that
 * process; its class and message are here.
 */
public class RemoteHandlerException(
    /** The queue of the message. */
    @get:JvmName("queueName") public val queueName: String,
    /** The message's id. */
    @get:JvmName("messageId") public val messageId: Long,
    /** The class name of the handler's exception. */
    @get:JvmName("failureClass") public val failureClass: String,
    /** The message of the handler's exception, if it had one. */
    @get:JvmName("failureMessage") public val failureMessage: String?,
) : RuntimeException("The handler of queue '$queueName' failed on message $messageId: $failureClass" + (failureMessage?.let { ": $it" } ?: ""))
