package io.relaymq.internal

import kotlinx.coroutines.ThreadContextElement
import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.Continuation
import kotlin.coroutines.CoroutineContext

/**
 * Marks the handlers of one bus, so that a close called from one of them is refused at once instead of
 * waiting for itself until the drain deadline. One question, [Bus.isInsideOwnHandler], answered from
 * two marks that together cover all handler code of every kind, for every close:
 *
 * 1. **The synchronous part of every handler call** (the whole call of a Java [io.relaymq.MessageHandler]
 *    or [io.relaymq.MessageFunction], the `handle()` call of an [io.relaymq.AsyncMessageHandler], a Kotlin
 *    handler up to its first suspension): the consumer's slot records the thread running it
 *    ([ConsumerSlot.syncThread]), two plain writes per message.
 * 2. **Everything a Kotlin handler runs after it suspended**, and the coroutines it starts in its own
 *    scope: this element is in the handler's coroutine context, and only there. As a context element
 *    it is seen by the suspending `MQ.shutdown()`; as a thread-context element it sets [RESUMED] while a
 *    resumed part of the handler runs on a thread, seen by the blocking `MQ.close()`.
 *
 * Why only the handler's context: the consumer coroutines run without this element, through a
 * [HandlerCompletion] that gives the handler its own context. A thread-context element in the
 * consumer's context cost a thread-local update on every resumption of every consumer (a third of a
 * request's round trip); here only handlers that suspend pay it, once per resumption, and a handler
 * that completes without suspending pays nothing.
 *
 * Not covered (documented): code that is not the handler's own, such as the body of a stage an
 * `AsyncMessageHandler` returned when it runs on the user's executor, or a coroutine started in a scope
 * other than the handler's.
 */
internal class OwnHandler(val bus: Any) : AbstractCoroutineContextElement(Key), ThreadContextElement<Any?> {
    companion object Key : CoroutineContext.Key<OwnHandler> {
        /** The bus whose handler's resumed part runs on this thread now, or `null`. */
        private val RESUMED = ThreadLocal<Any?>()

        /** `true` when this thread runs a resumed part of one of [bus]'s Kotlin handlers right now. */
        fun isResumedHandlerOf(bus: Any): Boolean = RESUMED.get() === bus

        /** Clears the mark while [block] runs RelayMQ's own code (the consumer after its handler ended). */
        inline fun <R> unmarked(block: () -> R): R {
            val previous = RESUMED.get() ?: return block()
            RESUMED.set(null)
            try {
                return block()
            } finally {
                RESUMED.set(previous)
            }
        }
    }

    override fun updateThreadContext(context: CoroutineContext): Any? {
        val previous = RESUMED.get()
        RESUMED.set(bus)
        return previous
    }

    override fun restoreThreadContext(context: CoroutineContext, oldState: Any?) {
        RESUMED.set(oldState)
    }
}

/**
 * The completion a consumer gives its handler's coroutine instead of its own continuation, so that the
 * handler runs in [context] (the consumer's context plus [OwnHandler]) while the consumer does not.
 * One per consumer, reused for every message: [target] is the consumer's continuation for the current
 * handler call, set before the call. Resumed only when a handler that suspended ends, and then it
 * resumes the consumer in place, on the same thread, with the handler's mark cleared (as the consumer's
 * own continuation would have been resumed).
 */
internal class HandlerCompletion(override val context: CoroutineContext) : Continuation<Any?> {
    @JvmField var target: Continuation<Any?>? = null

    override fun resumeWith(result: Result<Any?>) {
        val consumer = checkNotNull(target) { "a handler ended twice, or outside a handler call" }
        target = null
        OwnHandler.unmarked { consumer.resumeWith(result) }
    }
}
