package io.relaymq.internal

import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.CoroutineContext

/**
 * Marks the consumers of one bus, so that a close called from one of its own handlers is refused
 * instead of waiting for itself until the drain deadline. Two marks, one question
 * ([Bus.isInsideOwnHandler]):
 * - this context element, in every consumer coroutine's context: seen by the suspending
 *   `MQ.shutdown()`, also from coroutines a handler starts in its own scope;
 * - the consumer's slot records the thread that runs a handler's synchronous part
 *   ([ConsumerSlot.syncThread], the whole call for Java blocking handlers, the `handle()` call of an
 *   `AsyncMessageHandler`, a Kotlin handler's code up to its first suspension): seen by the blocking
 *   `MQ.close()` and `MessageBus.close()`.
 *
 * (A thread-context element would also cover a Kotlin handler that calls the blocking `close()` after
 * it suspended, but it costs a thread-local update on every resumption of every consumer: a third of a
 * request's round trip. Coroutines close with `shutdown()`, which is always detected.)
 */
internal class OwnHandler(val bus: Any) : AbstractCoroutineContextElement(Key) {
    companion object Key : CoroutineContext.Key<OwnHandler>
}
