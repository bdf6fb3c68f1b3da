package io.relaymq.internal

import io.github.oshai.kotlinlogging.KotlinLogging
import io.relaymq.BusClosedException
import io.relaymq.Message
import io.relaymq.MessageCodec
import io.relaymq.QueueStats
import kotlinx.coroutines.CompletableJob
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.job
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.atomic.AtomicLong
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.cancellation.CancellationException
import kotlin.time.Duration

private val logger = KotlinLogging.logger {}

/**
 * One registered queue: its id sequence, counters, handler and consumer coroutines, on top of a
 * [MessageTransport] that holds the messages.
 *
 * ## Accounting invariants
 * - Published = ids handed out - publishes refused. An id is taken *before* the message is offered,
 *   and [isSettled] reads completions before it reads that figure, so [isSettled] can be late but never
 *   early: it never reports idle while an accepted message is unfinished.
 * - Each consumer owns one [ConsumerSlot]: the message its handler works on and its own outcome
 *   counters (single writer, no contended atomics on the hot path). Whoever clears the slot's message
 *   with a compare-and-set owns the outcome: the consumer (counts success or failure) or
 *   [abandonRemaining] (counts it abandoned). A handler finishing just as the deadline strikes is
 *   therefore counted exactly once.
 * - Idle waiters are woken by the consumer that finds the queue empty ([IdleWatch.onProgress] runs
 *   from the transport's `whenEmpty` hook), not once per message.
 *
 * ## Lifecycle
 * The relay runs from registration on, so messages published before `start()` already wait in the
 * compact buffer; consumers run from `start()` on.
 */
internal class QueueEngine<T>(
    val name: String,
    val concurrency: Int,
    private val payloadType: Class<*>?,
    private val handler: suspend (Message<T>) -> Unit,
    /** `true` for handlers that block their thread (Java): they are interrupted at the drain deadline. */
    private val blocking: Boolean,
    /** Added to each consumer's context: a dispatcher for blocking handlers, markers. */
    private val consumerContext: CoroutineContext,
    private val transport: MessageTransport<T>,
    private val idleWatch: IdleWatch,
    /** Where the queue's snapshot lives, with the codec its payloads cross the disk with; `null`: memory only. */
    private val snapshots: SnapshotStore?,
    private val codec: MessageCodec<T>?,
) {
    @Volatile private var origin = QueueOrigin(name, System.currentTimeMillis())
    private val sequence = AtomicLong()
    private val refused = AtomicLong()

    // Written once, by the closing coroutine, in settle().
    @Volatile private var abandonedPending = 0L
    @Volatile private var abandonedInFlight = 0L
    @Volatile private var savedPending = 0L
    @Volatile private var savedInFlight = 0L

    // Restored from a snapshot at registration; written before the queue is visible to anyone.
    private var idBase = 0L
    private var restoredCount = 0L
    private var restoredMaxId = 0L
    private val restoredRemaining = AtomicLong()

    /** Set by a snapshot close: consumers finish their current message and take no more. */
    @Volatile private var stopTaking = false

    private val slots = Array(concurrency) { ConsumerSlot<T>() }
    private val consumerJobs = ArrayList<Job>(concurrency)
    private val whenEmpty: () -> Unit = idleWatch::onProgress
    private lateinit var queueJob: CompletableJob
    private lateinit var queueScope: CoroutineScope
    private lateinit var relayJob: Job

    /** Accepts [data] and returns its id. Throws [BusClosedException] when closed for publishing. */
    fun publish(data: Any): Long {
        if (payloadType != null && !payloadType.isInstance(data)) {
            throw IllegalArgumentException(
                "Queue '$name' takes ${payloadType.name} payloads, but got a ${data.javaClass.name}. " +
                    "Publish a ${payloadType.simpleName} or register a queue for this type.",
            )
        }
        if (codec != null && !codec.canEncode(data)) {
            throw IllegalArgumentException(
                "Queue '$name' saves pending messages to snapshots with $codec, which cannot encode a " +
                    "${data.javaClass.name}. Publish a payload it can encode, or register the queue with a codec for this type.",
            )
        }
        val id = sequence.incrementAndGet()
        val now = System.currentTimeMillis()
        var base = origin
        var offset = base.offsetOf(now)
        if (offset == QueueOrigin.DOES_NOT_FIT) {
            // About every 24 days, or after the clock went back: start a new time base.
            base = QueueOrigin(name, now)
            origin = base
            offset = 0
        }
        @Suppress("UNCHECKED_CAST")
        if (transport.offer(Message(id, base, data as T, offset))) return id
        refused.incrementAndGet()
        throw BusClosedException(
            name,
            "Queue '$name' refused the message: the bus is closing or closed and accepts no more messages. " +
                "The message was not accepted; publish before close() or to a new bus.",
        )
    }

    /**
     * Puts the messages of a restored snapshot back, first and in their order, with their ids; the
     * sequence continues after the highest. Called at registration, before anyone can publish.
     */
    fun restore(restored: List<Pair<SnapshotRecord, T>>) {
        if (restored.isEmpty()) return
        for ((record, payload) in restored) {
            val offset = origin.offsetOf(record.publishedAtMillis)
            val base = if (offset == QueueOrigin.DOES_NOT_FIT) QueueOrigin(name, record.publishedAtMillis) else origin
            val message = Message(record.id, base, payload, if (offset == QueueOrigin.DOES_NOT_FIT) 0 else offset)
            check(transport.offer(message)) { "queue '$name' refused a restored message before it started" }
        }
        restoredMaxId = restored.last().first.id
        idBase = restoredMaxId
        sequence.set(restoredMaxId)
        restoredCount = restored.size.toLong()
        restoredRemaining.set(restoredCount)
        logger.info { "Queue '$name': restored ${restored.size} message(s) from its snapshot, ids up to $restoredMaxId" }
    }

    /** Starts the relay as a child of [scope]. Called once, at registration. */
    fun startRelay(scope: CoroutineScope) {
        queueJob = SupervisorJob(scope.coroutineContext.job)
        queueScope = CoroutineScope(scope.coroutineContext + queueJob)
        relayJob = transport.start(queueScope)
    }

    /** Starts the consumers. Called once, at `start()` (or at registration when already started). */
    fun startConsumers() {
        for (i in slots.indices) {
            consumerJobs += queueScope.launch(consumerContext + CoroutineName("relaymq-$name-$i")) { consume(slots[i]) }
        }
    }

    /** Stops accepting messages; what was accepted keeps flowing to the consumers. */
    fun closeForPublishing(): Unit = transport.closeForPublishing()

    /**
     * Suspends until every accepted message was processed and the consumers stopped. Call after
     * [closeForPublishing] and [startConsumers]. Cancellation: only the waiting is cancelled.
     */
    suspend fun awaitDrained() {
        queueJob.complete()
        queueJob.join()
    }

    /**
     * Consumers finish the message they are handling and take no more (the relay keeps its messages).
     * For a close that saves pending messages to a snapshot.
     */
    fun stopTaking() {
        stopTaking = true
        // Consumers waiting on an empty queue would never look at the flag: cancel those. One that just
        // took a message before the cancel keeps it in its slot, where it is processed or taken over
        // by takeRemaining(); none is lost.
        for (i in slots.indices) if (slots[i].current == null) consumerJobs.getOrNull(i)?.cancel()
    }

    /** Suspends until every consumer has stopped. Cancellation: only the waiting is cancelled. */
    suspend fun awaitConsumers() {
        consumerJobs.joinAll()
    }

    /**
     * Cancels the relay and the consumers (interrupting blocking handlers), waits up to [grace] for
     * handlers to react, and takes ownership of every message not yet processed: those whose handler
     * was cancelled and those still queued. Count them with [settle]. A handler still running after
     * [grace] (blocking and deaf to interrupts) keeps its thread, but its message is taken here and its
     * late outcome is ignored.
     */
    suspend fun takeRemaining(grace: Duration): Remaining<T> {
        queueJob.cancel()
        for (slot in slots) slot.interruptIfBlocked()
        // The relay only ever suspends, so it reacts to cancellation promptly; joining it makes its
        // buffer safe to read (ChannelRelay invariant 1).
        relayJob.join()
        withTimeoutOrNull(grace) { queueJob.join() }
        val inFlight = slots.mapNotNull { it.claim() }
        val inFlightIds = inFlight.mapTo(HashSet()) { it.id }
        val pending = transport.drainUndelivered()
            .filter { it.id !in inFlightIds }
            .distinctBy { it.id }
        return Remaining(inFlight, pending)
    }

    /** Counts [remaining] as saved to the snapshot or, when [saved] is false, as abandoned. */
    fun settle(remaining: Remaining<T>, saved: Boolean) {
        if (saved) {
            savedInFlight += remaining.inFlight.size
            savedPending += remaining.pending.size
        } else {
            abandonedInFlight += remaining.inFlight.size
            abandonedPending += remaining.pending.size
        }
        idleWatch.onProgress()
    }

    /** [settle] for a [Remaining] whose type parameter the caller does not know. */
    @Suppress("UNCHECKED_CAST")
    fun settleAny(remaining: Remaining<*>, saved: Boolean): Unit = settle(remaining as Remaining<T>, saved)

    /** The queue's snapshot codec, when the bus persists. */
    fun codec(): MessageCodec<T>? = codec

    /** Messages whose handler did not finish when close gave up on them, and messages still queued. */
    class Remaining<T>(val inFlight: List<Message<T>>, val pending: List<Message<T>>) {
        /** Every remaining message, in id (that is, queue) order. */
        val all: List<Message<T>> by lazy { (inFlight + pending).sortedBy { it.id } }
    }

    private suspend fun consume(slot: ConsumerSlot<T>) {
        val job = currentCoroutineContext().job // looked up once: a context lookup walks the whole context
        while (true) {
            job.ensureActive()
            if (stopTaking) return
            // poll() first: take() is a suspend call and allocates a continuation on every call.
            val message = transport.poll() ?: transport.take(whenEmpty) ?: return
            slot.begin(message)
            var failure: Throwable? = null
            try {
                if (blocking) {
                    slot.enterBlocking()
                    try {
                        handler(message)
                    } finally {
                        slot.exitBlocking()
                    }
                } else {
                    handler(message)
                }
            } catch (e: Throwable) {
                // Our own cancellation propagates (the message stays in the slot and is abandoned);
                // a CancellationException the handler made itself (say its own withTimeout) is a failure.
                if (e is CancellationException) job.ensureActive()
                failure = e
            }
            // A failure caused by the deadline (an interrupted blocking handler) is an abandonment:
            // leave the message in the slot for abandonRemaining() to claim.
            if (failure != null && !job.isActive) return
            if (!slot.finish(message)) return // claimed by abandonRemaining(): not ours to count
            if (failure == null) {
                slot.countSuccess()
            } else {
                slot.countFailure()
                logger.warn(failure) { "Handler of queue '$name' failed on message ${message.id}; the queue carries on" }
            }
            if (message.id <= restoredMaxId && restoredRemaining.decrementAndGet() == 0L) {
                // Every restored message is processed: the snapshot is no longer needed (issue: a crash
                // before this point restores them again, hence at-least-once after a restore).
                snapshots?.delete(name)
            }
        }
    }

    /** `true` when [thread] is running one of this queue's blocking handlers right now. */
    fun isHandlerThread(thread: Thread): Boolean = slots.any { it.isBlockedOn(thread) }

    private fun published(): Long = sequence.get() - idBase - refused.get() + restoredCount

    /** `true` when every accepted message was processed, saved or abandoned (never early; see class KDoc). */
    fun isSettled(): Boolean {
        var done = abandonedPending + abandonedInFlight + savedPending + savedInFlight
        for (slot in slots) done += slot.succeeded + slot.failed
        return done >= published()
    }

    /** Messages processed to the end (succeeded or failed). */
    fun processed(): Long = slots.sumOf { it.succeeded + it.failed }

    fun stats(): QueueStats {
        val abandonedPending = abandonedPending + savedPending
        val abandonedInFlight = abandonedInFlight + savedInFlight
        var succeeded = 0L
        var failed = 0L
        var busy = 0L
        for (slot in slots) {
            succeeded += slot.succeeded
            failed += slot.failed
            if (slot.isBusy()) busy++
        }
        val published = published()
        val delivered = succeeded + failed + busy + abandonedInFlight
        return QueueStats(
            queue = name,
            concurrency = concurrency,
            published = published,
            delivered = delivered,
            succeeded = succeeded,
            failed = failed,
            abandoned = this.abandonedPending + this.abandonedInFlight,
            saved = savedPending + savedInFlight,
            pending = (published - delivered - abandonedPending).coerceAtLeast(0),
            inFlight = busy,
        )
    }
}
