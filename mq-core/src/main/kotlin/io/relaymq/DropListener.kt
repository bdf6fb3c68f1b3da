package io.relaymq

/**
 * Told about every message a bounded queue drops under [OverflowPolicy.DROP_OLDEST] or
 * [OverflowPolicy.DROP_NEWEST]. Runs on the publishing thread; keep it short and do not publish to the
 * same queue from it.
 */
public fun interface DropListener {
    /** [message] was dropped and will not be handled. */
    public fun onDrop(message: Message<*>)
}
