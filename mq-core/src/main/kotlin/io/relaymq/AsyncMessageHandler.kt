package io.relaymq

import java.util.concurrent.CompletionStage

/**
 * A non-blocking Java handler, registered with [MessageBus.registerAsyncQueue].
 *
 * The handler starts the work and returns at once with a [CompletionStage]; the message counts as being
 * handled (and occupies one of the queue's `concurrency` slots) until that stage completes. A stage that
 * completes exceptionally, or a handler that throws before returning one, marks the message as failed.
 * When the bus gives up at the end of the drain timeout, it stops waiting and tries to cancel the stage
 * (`toCompletableFuture().cancel(true)`); the message is reported as abandoned.
 *
 * Do not block inside [handle]: it runs on the bus's shared non-blocking threads.
 *
 * @param T the payload type of the queue.
 */
public fun interface AsyncMessageHandler<T> {
    /** Starts processing [message]; the returned stage completes when the processing is done. */
    public fun handle(message: Message<T>): CompletionStage<*>
}
