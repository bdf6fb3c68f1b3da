package io.relaymq

/**
 * A Java handler for the messages of one queue, registered with [MessageBus.registerQueue].
 *
 * The handler may block (JDBC, HTTP, file I/O): it runs on its queue's own threads, named
 * `relaymq-<queue>-<n>` (or on the executor given to [MessageBus.Builder.executor]), never on a thread
 * that other queues depend on. Returning normally marks the message as succeeded; throwing marks
 * it as failed (the failure is logged with queue and id, counted in [QueueStats.failed], and the queue
 * carries on with the next message).
 *
 * When the bus gives up on a handler at the end of the drain timeout, the handler's thread is
 * interrupted; a handler that ignores interrupts keeps its thread, and its message is reported as
 * abandoned.
 *
 * @param T the payload type of the queue.
 */
public fun interface MessageHandler<T> {
    /** Processes one message. Called by at most `concurrency` threads of this queue at once. */
    @Throws(Exception::class)
    public fun handle(message: Message<T>)
}
