package io.relaymq.internal

import kotlinx.coroutines.ThreadContextElement
import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.CoroutineContext

/**
 * Marks the consumers of one bus, so that a close called from one of its own handlers is refused
 * instead of waiting for itself until the drain deadline. One mechanism for every handler kind and
 * every close: it is a context element (seen by the suspending `MQ.shutdown()`, also from coroutines
 * the handler starts in its own scope) and a thread-context element that sets a thread-local while a
 * consumer coroutine runs on a thread (seen by the blocking `MQ.close()` and `MessageBus.close()`,
 * from Java blocking handlers, from the synchronous part of an `AsyncMessageHandler`, and from a
 * suspend handler that calls the blocking close).
 */
internal class OwnHandler(val bus: Any) : AbstractCoroutineContextElement(Key), ThreadContextElement<Any?> {
    companion object Key : CoroutineContext.Key<OwnHandler> {
        private val current = ThreadLocal<Any?>()

        /** `true` when the calling thread runs a consumer of [bus] right now. */
        fun isCurrentThreadIn(bus: Any): Boolean = current.get() === bus
    }

    override fun updateThreadContext(context: CoroutineContext): Any? {
        val previous = current.get()
        current.set(bus)
        return previous
    }

    override fun restoreThreadContext(context: CoroutineContext, oldState: Any?) {
        current.set(oldState)
    }
}
