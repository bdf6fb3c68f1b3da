package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.time.Clock
import java.util.PriorityQueue
import kotlin.time.Duration.Companion.milliseconds

/**
 * Holds one queue's messages that are not due yet (delayed deliveries and retries waiting for their
 * backoff) and hands each to [deliver] once its due time has come, in due-time order (publish order
 * among equal due times).
 *
 * One coroutine sleeps until the earliest due time, or until [schedule] brings an earlier one. Time
 * comes from [clock] and waiting from `delay`, so on a test dispatcher with a matching clock the whole
 * schedule runs on virtual time. Never early: a message is handed out only when `clock.millis()` has
 * reached its due time.
 */
internal class DelayScheduler<T>(
    private val queueName: String,
    private val clock: Clock,
    /** Puts a due message into the queue; `false` when the queue no longer accepts (closing). */
    private val deliver: (Message<T>) -> Boolean,
) {
    private class Entry<T>(val dueAt: Long, val order: Long, val message: Message<T>)

    private val lock = Any()
    private val waiting = PriorityQueue<Entry<T>>(compareBy<Entry<T>>({ it.dueAt }, { it.order })) // guarded by lock
    private var order = 0L // guarded by lock
    private val refused = ArrayList<Message<T>>() // guarded by lock: due, but the queue was closing
    private val wake = Channel<Unit>(Channel.CONFLATED)
    private var sealed = false // guarded by lock
    private val count = MutableStateFlow(0)

    /** Takes [message] until [dueAt]; `false` once [seal]ed (the queue is closing). */
    fun schedule(message: Message<T>, dueAt: Long): Boolean {
        synchronized(lock) {
            if (sealed) return false
            waiting.add(Entry(dueAt, order++, message))
            count.value = waiting.size
        }
        wake.trySend(Unit)
        return true
    }

    /** Forgets [message] (withdrawn by its requester) if it still waits here. */
    fun remove(message: Message<T>) {
        if (message.dueAtMillis == 0L) return
        synchronized(lock) {
            if (waiting.removeIf { it.message === message }) count.value = waiting.size + refused.size
        }
    }

    /** Removes and returns the message published first (lowest id) among those waiting, for DROP_OLDEST. */
    fun removeOldest(): Message<T>? = synchronized(lock) {
        val oldest = waiting.minByOrNull { it.message.id } ?: return null
        waiting.remove(oldest)
        count.value = waiting.size + refused.size
        oldest.message
    }

    /** Refuses every later [schedule]: what waits now is all there will be. */
    fun seal() {
        synchronized(lock) { sealed = true }
    }

    /** Suspends until every waiting message was handed out. Cancellation: only the waiting stops. */
    suspend fun awaitEmpty() {
        count.first { it == 0 }
    }

    fun size(): Int = synchronized(lock) { waiting.size + refused.size }

    fun start(scope: CoroutineScope): Job = scope.launch(CoroutineName("relaymq-delays-$queueName")) {
        while (true) {
            val now = clock.millis()
            val due = ArrayList<Message<T>>()
            val next: Long? = synchronized(lock) {
                while (waiting.isNotEmpty() && waiting.peek().dueAt <= now) due.add(waiting.poll().message)
                waiting.peek()?.dueAt
            }
            for (message in due) {
                if (!deliver(message)) synchronized(lock) { refused.add(message) }
            }
            if (due.isNotEmpty()) synchronized(lock) { count.value = waiting.size + refused.size }
            if (next == null) wake.receive() else withTimeoutOrNull((next - now).milliseconds) { wake.receive() }
        }
    }

    /** Everything still waiting, for close (saved with its due time, or abandoned). Call after the job ended. */
    fun drain(): List<Message<T>> = synchronized(lock) {
        val all = refused + waiting.map { it.message }
        waiting.clear()
        refused.clear()
        all
    }
}
