package io.relaymq.internal

import io.github.oshai.kotlinlogging.KotlinLogging
import io.relaymq.BusClosedException
import io.relaymq.Message
import io.relaymq.QueueStats
import kotlinx.coroutines.CompletableJob
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.job
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.AtomicReference
import java.util.concurrent.atomic.LongAdder
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.cancellation.CancellationException
import kotlin.time.Duration

private val logger = KotlinLogging.logger {}

/**
 * One registered queue: its id sequence, counters, handler and consumer coroutines, on top of a
 * [MessageTransport] that holds the messages.
 *
 * ## Accounting invariants
 * - `published` is incremented *before* a message is offered to the transport (and taken back if the
 *   offer is refused), and completions are read before `published` in [isSettled]. So [isSettled] can
 *   be late but never early: it never reports idle while an accepted message is unfinished.
 * - Each consumer owns one [slots] entry holding the message its handler is working on. Whoever
 *   clears the entry with a compare-and-set owns the outcome: the consumer (counts success or failure)
 *   or [abandonRemaining] (counts it abandoned). So a handler that finishes just as the drain deadline
 *   strikes is counted exactly once.
 */
internal class QueueEngine<T>(
    val name: String,
    val concurrency: Int,
    private val payloadType: Class<*>?,
    private val handler: suspend (Message<T>) -> Unit,
    /** Added to each consumer's context: a dispatcher for blocking handlers, markers. */
    private val consumerContext: CoroutineContext,
    private val transport: MessageTransport<T>,
    /** Called after each finished message; cheap unless someone waits for idleness. */
    private val onSettled: () -> Unit,
) {
    private val sequence = AtomicLong()
    private val published = LongAdder()
    private val delivered = LongAdder()
    private val succeeded = LongAdder()
    private val failed = LongAdder()

    // Written once, by the closing coroutine, in abandonRemaining().
    @Volatile private var abandonedPending = 0L
    @Volatile private var abandonedInFlight = 0L

    private val slots = Array(concurrency) { AtomicReference<Message<T>?>() }
    private var job: CompletableJob? = null
    private var relayJob: Job? = null

    /** Accepts [data] and returns its id. Throws [BusClosedException] when closed for publishing. */
    fun publish(data: Any): Long {
        if (payloadType != null && !payloadType.isInstance(data)) {
            throw IllegalArgumentException(
                "Queue '$name' takes ${payloadType.name} payloads, but got a ${data.javaClass.name}. " +
                    "Publish a ${payloadType.simpleName} or register a queue for this type.",
            )
        }
        val id = sequence.incrementAndGet()
        published.increment()
        @Suppress("UNCHECKED_CAST")
        if (transport.offer(Message(id, name, data as T, System.currentTimeMillis()))) return id
        published.decrement()
        throw BusClosedException(
            name,
            "Queue '$name' refused the message: the bus is closing or closed and accepts no more messages. " +
                "The message was not accepted; publish before close() or to a new bus.",
        )
    }

    /** Starts the relay and the consumers as children of [scope]. Called once. */
    fun start(scope: CoroutineScope) {
        val queueJob = SupervisorJob(scope.coroutineContext.job)
        val queueScope = CoroutineScope(scope.coroutineContext + queueJob)
        relayJob = transport.start(queueScope)
        for (i in slots.indices) {
            queueScope.launch(consumerContext + CoroutineName("relaymq-$name-$i")) { consume(slots[i]) }
        }
        job = queueJob
    }

    /** Stops accepting messages; what was accepted keeps flowing to the consumers. */
    fun closeForPublishing(): Unit = transport.closeForPublishing()

    /**
     * Suspends until every accepted message was processed and the consumers stopped. Call after
     * [closeForPublishing]. Cancellation: only the waiting is cancelled, not the queue.
     */
    suspend fun awaitDrained() {
        val queueJob = checkNotNull(job) { "queue '$name' was never started" }
        queueJob.complete()
        queueJob.join()
    }

    /**
     * Cancels the relay and the consumers, waits up to [grace] for handlers to react, and takes
     * ownership of every message not yet processed. Returns them in id order, already counted as
     * abandoned. A handler still running after [grace] (blocking and deaf to interrupts) keeps its
     * thread, but its message is reported here and its outcome is ignored.
     */
    suspend fun abandonRemaining(grace: Duration): List<Message<T>> {
        val queueJob = checkNotNull(job) { "queue '$name' was never started" }
        queueJob.cancel()
        // The relay only ever suspends, so it reacts to cancellation promptly; joining it makes its
        // buffer safe to read (ChannelRelay invariant 1).
        relayJob?.join()
        withTimeoutOrNull(grace) { queueJob.join() }
        val inFlight = slots.mapNotNull { it.getAndSet(null) }
        val inFlightIds = inFlight.mapTo(HashSet()) { it.id }
        val undelivered = transport.drainUndelivered()
            .filter { it.id !in inFlightIds }
            .distinctBy { it.id }
        abandonedInFlight += inFlight.size
        abandonedPending += undelivered.size
        return (inFlight + undelivered).sortedBy { it.id }
    }

    private suspend fun consume(slot: AtomicReference<Message<T>?>) {
        val context = currentCoroutineContext()
        while (true) {
            context.ensureActive()
            val message = transport.take() ?: return
            slot.set(message)
            delivered.increment()
            var failure: Throwable? = null
            try {
                handler(message)
            } catch (e: Throwable) {
                // Our own cancellation propagates (the message stays in the slot and is abandoned);
                // a CancellationException the handler made itself (say its own withTimeout) is a failure.
                if (e is CancellationException) context.ensureActive()
                failure = e
            }
            if (!slot.compareAndSet(message, null)) return // claimed by abandonRemaining(): not ours to count
            if (failure == null) {
                succeeded.increment()
            } else {
                failed.increment()
                logger.warn(failure) { "Handler of queue '$name' failed on message ${message.id}; the queue carries on" }
            }
            onSettled()
        }
    }

    /** `true` when every accepted message was processed or abandoned (never early; see class KDoc). */
    fun isSettled(): Boolean {
        val done = succeeded.sum() + failed.sum() + abandonedPending + abandonedInFlight
        return done >= published.sum()
    }

    /** Messages processed to the end (succeeded or failed). */
    fun processed(): Long = succeeded.sum() + failed.sum()

    fun stats(): QueueStats {
        val abandonedPending = abandonedPending
        val abandonedInFlight = abandonedInFlight
        val succeeded = succeeded.sum()
        val failed = failed.sum()
        val delivered = delivered.sum()
        val published = published.sum()
        return QueueStats(
            queue = name,
            concurrency = concurrency,
            published = published,
            delivered = delivered,
            succeeded = succeeded,
            failed = failed,
            abandoned = abandonedPending + abandonedInFlight,
            pending = (published - delivered - abandonedPending).coerceAtLeast(0),
            inFlight = (delivered - succeeded - failed - abandonedInFlight).coerceAtLeast(0),
        )
    }
}
