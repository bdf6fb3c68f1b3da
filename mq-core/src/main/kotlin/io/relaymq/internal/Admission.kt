package io.relaymq.internal

import io.relaymq.BusClosedException
import io.relaymq.JournalException
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
    /** The queue's journal when it is durable: accepted messages are journaled first ([accept]). */
    private val journal: QueueJournal<T>?,
) {
    private val origins = Origins(queue)

    /**
     * DROP_OLDEST drops a publisher could not do itself (nothing droppable was ready or delayed: the
     * waiting messages were parked for their key, or on their way between the relay's stores); consumers
     * pay them.
     */
    private val dropDebt = AtomicLong()

    /**
     * Accepts [data] without waiting and returns its id; [NO_ROOM] when a SUSPEND queue is full (nothing
     * was accepted: wait with `publishWhenRoom`). [internal] publishes (dead letters) are taken while
     * the queue drains at close, and whatever the room.
     * @throws IllegalArgumentException for a payload of the wrong type or one the codec cannot encode.
     * @throws QueueFullException for a full REJECT queue.
     * @throws BusClosedException when the queue no longer accepts messages.
     *
     * A durable queue needs [durable] (from [prepareDurable], which validated [data]): the id returned
     * is only reserved; [durable] learns whether the message was stored and accepted.
     */
    fun tryPublish(data: Any, reply: Any?, key: String?, dueAt: Long, internal: Boolean = false, durable: DurablePublish? = null): Long {
        if (durable == null) validate(data)
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
                            // It ended at once; its id is journaled as used so that no restart hands it out again.
                            if (durable != null) journal!!.recordUsed(message.id, durable)
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
            return admitNew(data, reply, key, dueAt, durable)
        } finally {
            publishers.exit(internal)
            dropped?.let { lifecycle.afterDrop(it, why) }
        }
    }

    /**
     * Validates [data] for a durable queue and encodes it (the codec is user code: call before any gate).
     * @throws IllegalArgumentException for a payload of the wrong type, one the codec cannot encode or
     *   that encodes to more than a journal record holds, or a key too long to store.
     */
    fun prepareDurable(data: Any, key: String?, make: (ByteArray) -> DurablePublish): DurablePublish {
        validate(data)
        val journal = checkNotNull(journal) { "queue '$queue' is not durable" }
        @Suppress("UNCHECKED_CAST")
        val payload = try {
            journal.codec.encode(data as T)
        } catch (e: Exception) {
            throw IllegalArgumentException("Queue '$queue': ${journal.codec} failed to encode the payload ($e); the message was not accepted.", e)
        }
        val keyBytes = key?.toByteArray(Charsets.UTF_8)
        require(keyBytes == null || keyBytes.size < 0xFFFF) {
            "Queue '$queue': the ordering key is ${keyBytes!!.size} UTF-8 bytes; a durable queue stores keys of at most 65534 bytes. Use a shorter key."
        }
        require(MessageRecord.bodySize(keyBytes, payload.size) + 1 <= JournalFormat.MAX_RECORD_BYTES) {
            "Queue '$queue': the payload encodes to ${payload.size} bytes; a durable queue stores at most " +
                "${JournalFormat.MAX_RECORD_BYTES} bytes per message. Publish a smaller payload (or a reference to it)."
        }
        return make(payload)
    }

    /** `true` when the queue is durable: publishes go through [prepareDurable]. */
    val isDurable: Boolean get() = journal != null

    /**
     * Waits for room in a full SUSPEND queue, then accepts. Cancellation is atomic: when this throws
     * [CancellationException], nothing was accepted and no room is held.
     * @throws BusClosedException when the queue closes while waiting (the message is not accepted).
     */
    suspend fun publishWhenRoom(data: Any, reply: Any?, key: String?, dueAt: Long, durable: DurablePublish? = null): Long {
        val gate = gate ?: return tryPublish(data, reply, key, dueAt, durable = durable)
        gate.enter()
        return admitGranted(data, reply, key, dueAt, durable) ?: throw closed()
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
        durable: DurablePublish?,
        onAccepted: (Long) -> Unit,
        onRefused: (Throwable) -> Unit,
    ): CapacityGate.Waiter {
        val gate = checkNotNull(gate) { "only a bounded queue makes publishers wait" }
        val waiter = object : CapacityGate.Waiter() {
            override fun granted() {
                val id = try {
                    admitGranted(data, reply, key, dueAt, durable)
                } catch (e: Throwable) {
                    onRefused(e)
                    return
                }
                // A durable publish is told by its DurablePublish once stored.
                if (id == null) onRefused(closed()) else if (durable == null) onAccepted(id)
            }

            override fun refused(failure: Throwable) = onRefused(failure)
        }
        gate.await(waiter)
        return waiter
    }

    /** A place in the gate was reserved for this publish: accept it, or give the place back when closed. */
    private fun admitGranted(data: Any, reply: Any?, key: String?, dueAt: Long, durable: DurablePublish?): Long? {
        if (!publishers.enter()) {
            gate?.leave()
            return null
        }
        try {
            return admitNew(data, reply, key, dueAt, durable)
        } finally {
            publishers.exit()
        }
    }

    /**
     * Takes an id for a new message and accepts it. For a durable queue the id is taken and the record
     * handed to the journal in one step ([journalOrder]), so that id order is the journal's order: the
     * order messages enter the queue, and so each ordering key's line, which recovery rebuilds by id.
     * Inside: no user code (the payload was encoded before), a few hundred nanoseconds.
     */
    private fun admitNew(data: Any, reply: Any?, key: String?, dueAt: Long, durable: DurablePublish?): Long {
        if (journal == null) return accept(newMessage(data, reply, key, dueAt), null)
        return synchronized(journalOrder) { accept(newMessage(data, reply, key, dueAt), durable) }
    }

    private val journalOrder = Any()

    /**
     * ACCEPTED → WAITING, or for a durable queue ACCEPTED → STORING: the message is journaled, and
     * enters the queue on the writer's thread once stored (in journal order, so a producer's messages
     * keep their order), or is refused there ([MessageLifecycle.notStored]).
     */
    private fun accept(message: Message<T>, durable: DurablePublish?): Long {
        if (journal == null) {
            val id = lifecycle.accept(message)
            if (message is RichMessage<T> && message.reply != null) watchForWithdrawal(message)
            return id
        }
        val publish = checkNotNull(durable) { "a publish to durable queue '$queue' must be prepared" }
        if (!publish.beginStoring()) {
            lifecycle.notStored(message, refused = false) // its caller cancelled it first: never accepted
            return message.id
        }
        val rich = message as? RichMessage<T>
        val frame = JournalFormat.messageFrame(
            message.id, message.publishedAtMillis, message.dueAtMillis, RichMessage.NEVER_FAILED, 1, message.key, publish.payload,
        )
        journal.append(
            message.id, frame,
            object : JournalCallback {
                override fun stored() {
                    lifecycle.accept(message)
                    if (rich != null && rich.reply != null) watchForWithdrawal(rich)
                    publish.stored(message.id)
                }

                override fun failed(error: JournalException) {
                    lifecycle.notStored(message, refused = true)
                    publish.failed(error) // fails a Java request's reply too, off this thread
                }
            },
        )
        return message.id
    }

    /**
     * A message fetched from the queue's remote backend enters this JVM's queue, with the id its
     * publisher got and its publish time: an internal publish (taken while the queue drains at close;
     * the local queue is unbounded, the store bounds the queue). `false` when the queue takes nothing
     * any more (its close collected what it held): the caller gives the message back to the store.
     */
    fun deliverRemote(data: Any, reply: RemoteReply, id: Long, publishedAt: Long, attempt: Int, firstFailureAt: Long): Boolean {
        if (!publishers.enter(internal = true)) return false
        try {
            sequence.incrementAndGet() // counts it (published = ids handed out): the id itself is the store's
            @Suppress("UNCHECKED_CAST")
            val origin = origins.originFor(id, publishedAt)
            val message = RichMessage(origin, data as T, origin.pack(id, publishedAt), reply, null, attempt, 0L, firstFailureAt)
            lifecycle.accept(message)
            return true
        } finally {
            publishers.exit(internal = true)
        }
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
            val ready = transport.pollOldest() ?: break
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
        val codec = journal?.codec ?: codec
        if (codec != null && !codec.canEncode(data)) {
            throw IllegalArgumentException(
                "Queue '$queue' ${if (journal != null) "journals" else "saves pending"} messages with $codec, which cannot encode a " +
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
        val origin = origins.originFor(id, now)
        val packed = origin.pack(id, now)
        @Suppress("UNCHECKED_CAST")
        val payload = data as T
        return if (reply == null && key == null && dueAt == 0L) {
            Message(origin, payload, packed)
        } else {
            RichMessage(origin, payload, packed, reply, key, attemptNumber = 1, dueAtMillis = dueAt, firstFailureAtMillis = RichMessage.NEVER_FAILED)
        }
    }
}
