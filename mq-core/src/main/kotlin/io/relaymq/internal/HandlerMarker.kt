package io.relaymq.internal

import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.CoroutineContext

/**
 * Put into every consumer coroutine's context so that the engine can tell when `shutdown()` is called
 * from one of its own handlers: such a call would wait for itself until the drain deadline.
 */
internal class HandlerMarker(val owner: Any) : AbstractCoroutineContextElement(Key) {
    companion object Key : CoroutineContext.Key<HandlerMarker>
}
