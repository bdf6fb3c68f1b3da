package io.relaymq.internal

import io.relaymq.Message

/**
 * Per-key ordering: messages of one queue with the same key run one at a time, in publish order.
 *
 * Order is fixed at publish: [register] appends the message's id to its key's line *before* the message
 * enters the queue. A message may run only when it is at the head of its line ([tryAcquire]); one that
 * is not is parked here and does not occupy a consumer. (Taking from the queue and acquiring the key are
 * two steps, so consumers can reach [tryAcquire] out of queue order; the line, not the arrival, decides.)
 * The head stays the head while its message waits for a retry, so later messages of the key wait too
 * ("a failing message holds its key"). When it ends for good, [release] removes it and hands back the
 * next message if it is already parked, for the releasing consumer to run; otherwise the consumer that
 * takes it will find it at the head. A message that will never run (dropped, withdrawn, refused) leaves
 * its line with [deregister].
 */
internal class KeyLocks<T> {
    private class Line<T> {
        val order = ArrayDeque<Long>()
        val parked = HashMap<Long, Message<T>>()
    }

    private val lines = HashMap<String, Line<T>>() // guarded by this

    /** Puts [id] at the end of [key]'s line. Call before the message can be taken. */
    @Synchronized
    fun register(key: String, id: Long) {
        lines.getOrPut(key) { Line() }.order.addLast(id)
    }

    /** `true` if [message] may run now (it heads its line); otherwise it is parked here. */
    @Synchronized
    fun tryAcquire(key: String, message: Message<T>): Boolean {
        val line = lines[key] ?: return true // not registered (cannot happen for published messages): run
        if (line.order.firstOrNull() == message.id) return true
        line.parked[message.id] = message
        return false
    }

    /** [id] (the head of [key]'s line) ended for good; returns the next message if it is parked, to run now. */
    @Synchronized
    fun release(key: String, id: Long): Message<T>? = leave(key, id)

    /**
     * [id] will never run (dropped, withdrawn, refused). Returns a parked message that now heads its line
     * and must be put back into the queue, or `null`.
     */
    @Synchronized
    fun deregister(key: String, id: Long): Message<T>? {
        lines[key]?.parked?.remove(id)
        return leave(key, id)
    }

    private fun leave(key: String, id: Long): Message<T>? {
        val line = lines[key] ?: return null
        val wasHead = line.order.firstOrNull() == id
        line.order.remove(id)
        if (line.order.isEmpty()) {
            lines.remove(key)
            return null
        }
        return if (wasHead) line.parked.remove(line.order.first()) else null
    }

    /** How many messages are parked waiting for their key. */
    @Synchronized
    fun waiting(): Int = lines.values.sumOf { it.parked.size }

    /** Every parked message, for close; forgets every line. */
    @Synchronized
    fun drain(): List<Message<T>> {
        val all = lines.values.flatMap { it.parked.values }
        lines.clear()
        return all
    }
}
