package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
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
 *
 * At close, [QueueEngine.takeAll] cancels and joins the coroutine before it [drain]s, and nothing
 * schedules after that (publishers are kept out by the [PublisherGate], consumers have stopped or lost
 * their message to a claim), so no message can be scheduled into a scheduler that was already emptied.
 */
internal class DelayScheduler<T>(
    private val queueName: String,
    private val clock: Clock,
    /** Puts a due message back into the queue (it never refuses: see [MessageLifecycle.putBack]). */
    private val deliver: (Message<T>) -> Unit,
) {
    private class Entry<T>(val dueAt: Long, val order: Long, val message: Message<T>)

    private val lock = Any()
    private val waiting = PriorityQueue<Entry<T>>(compareBy<Entry<T>>({ it.dueAt }, { it.order })) // guarded by lock
    private var order = 0L // guarded by lock
    private val wake = Channel<Unit>(Channel.CONFLATED)

    /** Takes [message] until [dueAt]. */
    fun schedule(message: Message<T>, dueAt: Long) {
        synchronized(lock) { waiting.add(Entry(dueAt, order++, message)) }
        wake.trySend(Unit)
    }

    /** Forgets [message] (withdrawn by its requester) if it still waits here. */
    fun remove(message: Message<T>) {
        if (message.dueAtMillis == 0L) return
        synchronized(lock) { waiting.removeIf { it.message === message } }
    }

    /** Removes and returns the message published first (lowest id) among those waiting, for DROP_OLDEST. */
    fun removeOldest(): Message<T>? = synchronized(lock) {
        val oldest = waiting.minByOrNull { it.message.id } ?: return null
        waiting.remove(oldest)
        oldest.message
    }

    fun size(): Int = synchronized(lock) { waiting.size }

    fun start(scope: CoroutineScope): Job = scope.launch(CoroutineName("relaymq-delays-$queueName")) {
        while (true) {
            val now = clock.millis()
            val due = ArrayList<Message<T>>()
            val next: Long? = synchronized(lock) {
                while (waiting.isNotEmpty() && waiting.peek().dueAt <= now) due.add(waiting.poll().message)
                waiting.peek()?.dueAt
            }
            for (message in due) deliver(message)
            if (next == null) wake.receive() else withTimeoutOrNull((next - now).milliseconds) { wake.receive() }
        }
    }

    /** Everything still waiting, for close (saved with its due time, or abandoned). Call after the job ended. */
    fun drain(): List<Message<T>> = synchronized(lock) {
        val all = waiting.map { it.message }
        waiting.clear()
        all
    }
}
