package io.relaymq

/**
 * A Java handler that returns a result, registered with [MessageBus.registerReplyingQueue]; the
 * caller of [MessageBus.request] receives that result (or the exception thrown) through its future.
 * It may block, like [MessageHandler].
 *
 * @param T the payload type.
 * @param R the result type.
 */
public fun interface MessageFunction<T, R> {
    /** Processes [message] and returns the result for the requester. */
    @Throws(Exception::class)
    public fun apply(message: Message<T>): R
}
