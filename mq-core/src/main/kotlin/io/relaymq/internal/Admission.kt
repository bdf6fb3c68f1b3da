package io.relaymq.internal

import io.relaymq.BusClosedException
import io.relaymq.Message
import io.relaymq.MessageCodec
import io.relaymq.OverflowPolicy
import io.relaymq.QueueFullException
import java.time.Clock
import java.util.concurrent.atomic.AtomicLong
import kotlin.coroutines.cancellation.CancellationException

/** What the non-suspending part of a publish answers when a SUSPEND queue is full; never an id (ids are positive). */
@PublishedApi
internal const val NO_ROOM: Long = -1L

/** The default of optional [io.relaymq.PublishOptions] parameters, recognised by identity to skip the work. */
internal val NO_OPTIONS: io.relaymq.PublishOptions = io.relaymq.PublishOptions()

/**
 * The way into one queue: payload checks, the closed check, capacity and the overflow policies, ids,
 * and the hand-over to [MessageLifecycle.accept]. Every publish path (Kotlin, Java futures, fan-out,
 * dead letters, waiting for room) goes through [tryPublish] and, for a full SUSPEND queue, one of the
 * two `publishWhenRoom`s.
 *
 * Order of checks, the same on every path: payload (user code: the codec's `canEncode`, so before any
 * gate) → closed ([PublisherGate], which also lets the close wait out this publish) → room → id →
 * accept. A refused publish takes no id and leaves no trace but its counter (`rejected`).
 */
internal class Admission<T>(
    private val queue: String,
    private val overflow: OverflowPolicy,
    private val payloadType: Class<*>?,
    private val codec: MessageCodec<T>?,
    private val clock: Clock,
    private val gate: CapacityGate?,
    private val publishers: PublisherGate,
    private val lifecycle: MessageLifecycle<T>,
    private val counters: QueueCounters,
    private val sequence: AtomicLong,
    private val delays: DelayScheduler<T>,
    private val transport: MessageTransport<T>,
) {
    @Volatile private var origin = QueueOrigin(queue, clock.millis())

    /** DROP_OLDEST drops a publisher could not do itself (the oldest was still with the relay); consumers pay them. */
    private val dropDebt = AtomicLong()

    /**
     * Accepts [data] without waiting and returns its id; [NO_ROOM] when a SUSPEND queue is full (nothing
     * was accepted: wait with `publishWhenRoom`). [internal] publishes (dead letters) are taken while
     * the queue drains at close, and whatever the room.
     * @throws IllegalArgumentException for a payload of the wrong type or one the codec cannot encode.
     * @throws QueueFullException for a full REJECT queue.
     * @throws BusClosedException when the queue no longer accepts messages.
     */
    fun tryPublish(data: Any, reply: Any?, key: String?, dueAt: Long, internal: Boolean = false): Long {
        validate(data)
        if (!publishers.enter(internal)) throw closed()
        var dropped: Message<T>? = null
        var why = ""
        try {
            val gate = gate
            if (gate != null) {
                if (internal) {
                    gate.forceEnter()
                } else if (!gate.tryEnter()) {
                    when (overflow) {
                        OverflowPolicy.SUSPEND -> return NO_ROOM
                        OverflowPolicy.REJECT -> {
                            counters.rejected.increment()
                            throw QueueFullException(queue, gate.capacity)
                        }
                        OverflowPolicy.DROP_NEWEST -> {
                            val message = newMessage(data, reply, key, dueAt)
                            lifecycle.drop(message, counted = false)
                            dropped = message
                            why = "DROP_NEWEST: the queue was full"
                            return message.id
                        }
                        OverflowPolicy.DROP_OLDEST -> {
                            gate.forceEnter()
                            dropped = takeOldest()
                            if (dropped != null) lifecycle.drop(dropped, counted = true) else dropDebt.incrementAndGet()
                            why = "DROP_OLDEST: a newer message arrived while the queue was full"
                        }
                    }
                }
            }
            return accept(newMessage(data, reply, key, dueAt))
        } finally {
            publishers.exit(internal)
            dropped?.let { lifecycle.afterDrop(it, why) }
        }
    }

    /**
     * Waits for room in a full SUSPEND queue, then accepts. Cancellation is atomic: when this throws
     * [CancellationException], nothing was accepted and no room is held.
     * @throws BusClosedException when the queue closes while waiting (the message is not accepted).
     */
    suspend fun publishWhenRoom(data: Any, reply: Any?, key: String?, dueAt: Long): Long {
        val gate = gate ?: return tryPublish(data, reply, key, dueAt)
        gate.enter()
        return admitGranted(data, reply, key, dueAt) ?: throw closed()
    }

    /**
     * Non-suspending `publishWhenRoom` for callers that cannot wait (Java futures): joins the queue of
     * waiting publishers now, so a producer's publishes are admitted in the order it made them.
     * [onAccepted] or [onRefused] runs exactly once, on whichever thread let the waiter in: keep it short
     * (hand the result to an executor).
     */
    fun publishWhenRoom(
        data: Any,
        reply: Any?,
        key: String?,
        dueAt: Long,
        onAccepted: (Long) -> Unit,
        onRefused: (Throwable) -> Unit,
    ): CapacityGate.Waiter {
        val gate = checkNotNull(gate) { "only a bounded queue makes publishers wait" }
        val waiter = object : CapacityGate.Waiter() {
            override fun granted() {
                val id = try {
                    admitGranted(data, reply, key, dueAt)
                } catch (e: Throwable) {
                    onRefused(e)
                    return
                }
                if (id == null) onRefused(closed()) else onAccepted(id)
            }

            override fun refused(failure: Throwable) = onRefused(failure)
        }
        gate.await(waiter)
        return waiter
    }

    /** A place in the gate was reserved for this publish: accept it, or give the place back when closed. */
    private fun admitGranted(data: Any, reply: Any?, key: String?, dueAt: Long): Long? {
        if (!publishers.enter()) {
            gate?.leave()
            return null
        }
        try {
            return accept(newMessage(data, reply, key, dueAt))
        } finally {
            publishers.exit()
        }
    }

    private fun accept(message: Message<T>): Long {
        val id = lifecycle.accept(message)
        if (message is RichMessage<T> && message.reply != null) watchForWithdrawal(message)
        return id
    }

    /** A requester that stops waiting before a consumer took its message withdraws it (and frees its place) at once. */
    private fun watchForWithdrawal(message: RichMessage<T>) {
        when (val reply = message.reply) {
            is KotlinReply -> { // the requester withdraws it itself when it stops waiting
                reply.withdraw = withdrawer
                reply.message = message
            }
            is RequestFuture<*> -> {
                reply.beforeEnd = { withdraw(message) }
                if (reply.isDone) withdraw(message) // ended before the hook was set
            }
        }
    }

    @Suppress("UNCHECKED_CAST")
    private val withdrawer: (Message<*>) -> Unit = { withdraw(it as Message<T>) }

    private fun withdraw(message: Message<T>) {
        if ((message as RichMessage<T>).claimState != RichMessage.WAITING) return // taken or ended: nothing to withdraw
        if (!publishers.enter(internal = true)) return // closing: the close settles it
        try {
            if (message.tryWithdraw()) lifecycle.withdraw(message)
        } finally {
            publishers.exit(internal = true)
        }
    }

    /** A consumer took a message while DROP_OLDEST owed a drop: `true` if it must drop this one. */
    fun payDropDebt(): Boolean {
        while (true) {
            val debt = dropDebt.get()
            if (debt <= 0) return false
            if (dropDebt.compareAndSet(debt, debt - 1)) return true
        }
    }

    /** The oldest waiting message that can be dropped: ready ones first, then delayed ones; husks skipped. */
    private fun takeOldest(): Message<T>? {
        while (true) {
            val ready = transport.poll() ?: break
            if (ready.claim()) return ready
        }
        while (true) {
            val delayed = delays.removeOldest() ?: return null
            if (delayed.claim()) return delayed
        }
    }

    fun validate(data: Any) {
        if (payloadType != null && !payloadType.isInstance(data)) {
            throw IllegalArgumentException(
                "Queue '$queue' takes ${payloadType.name} payloads, but got a ${data.javaClass.name}. " +
                    "Publish a ${payloadType.simpleName} or register a queue for this type.",
            )
        }
        if (codec != null && !codec.canEncode(data)) {
            throw IllegalArgumentException(
                "Queue '$queue' saves pending messages with $codec, which cannot encode a " +
                    "${data.javaClass.name}. Publish a payload it can encode, or register the queue with a codec for this type.",
            )
        }
    }

    fun closed(): BusClosedException = BusClosedException(
        queue,
        "Queue '$queue' refused the message: the bus is closing or closed and accepts no more messages. " +
            "The message was not accepted; publish before close() or to a new bus.",
    )

    private fun newMessage(data: Any, reply: Any?, key: String?, dueAt: Long): Message<T> {
        val id = sequence.incrementAndGet()
        val now = clock.millis()
        var base = origin
        var offset = base.offsetOf(now)
        if (offset == QueueOrigin.DOES_NOT_FIT) {
            // About every 24 days, or after the clock went back: start a new time base.
            base = QueueOrigin(queue, now)
            origin = base
            offset = 0
        }
        @Suppress("UNCHECKED_CAST")
        val payload = data as T
        return if (reply == null && key == null && dueAt == 0L) {
            Message(id, base, payload, offset)
        } else {
            RichMessage(id, base, payload, offset, reply, key, attemptNumber = 1, dueAtMillis = dueAt, firstFailureAtMillis = RichMessage.NEVER_FAILED)
        }
    }
}
