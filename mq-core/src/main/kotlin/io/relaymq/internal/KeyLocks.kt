package io.relaymq.internal

import io.relaymq.Message

/**
 * Per-key serialization for ordering keys: at most one message per key is being handled (or waiting
 * for its retry) at a time; later messages with that key wait here, in the order consumers took them
 * from the queue, which is publish order.
 *
 * A key is held by one message id from the moment a consumer starts it until it succeeds or fails for
 * good (a retry keeps holding it, so the retry runs before any later message with the key). Then the
 * releasing consumer takes the next waiting message of the key itself. Waiting messages do not occupy
 * a consumer.
 */
internal class KeyLocks<T> {
    private class State<T>(var holder: Long) {
        val waiting = ArrayDeque<Message<T>>()
    }

    private val keys = HashMap<String, State<T>>() // guarded by this

    /** `true` if [message] may run now (its key is free, or held by this very message); else it waits here. */
    @Synchronized
    fun tryAcquire(key: String, message: Message<T>): Boolean {
        val state = keys[key]
        if (state == null) {
            keys[key] = State(message.id)
            return true
        }
        if (state.holder == message.id) return true
        state.waiting.addLast(message)
        return false
    }

    /** Frees [key]; returns the next message waiting for it, which now holds the key, or `null`. */
    @Synchronized
    fun release(key: String): Message<T>? {
        val state = keys[key] ?: return null
        val next = state.waiting.removeFirstOrNull()
        if (next == null) keys.remove(key) else state.holder = next.id
        return next
    }

    /** How many messages wait for their key. */
    @Synchronized
    fun waiting(): Int = keys.values.sumOf { it.waiting.size }

    /** Every waiting message, for close. */
    @Synchronized
    fun drain(): List<Message<T>> {
        val all = keys.values.flatMap { it.waiting }
        keys.clear()
        return all
    }
}
