package io.relaymq.internal

import io.github.oshai.kotlinlogging.KotlinLogging
import io.relaymq.BusClosedException
import io.relaymq.DeadLetter
import io.relaymq.Message
import io.relaymq.NO_ROOM
import io.relaymq.MessageCodec
import io.relaymq.MessageDroppedException
import io.relaymq.OverflowPolicy
import io.relaymq.QueueFullException
import io.relaymq.QueueOptions
import io.relaymq.QueueStats
import kotlinx.coroutines.CompletableJob
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.ensureActive
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.job
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.time.Clock
import java.time.Instant
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.LongAdder
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.cancellation.CancellationException
import kotlin.random.Random
import kotlin.time.Duration

private val logger = KotlinLogging.logger {}

/**
 * One registered queue: its id sequence, counters, capacity, handler and consumer coroutines, on top
 * of a [MessageTransport] that holds the messages.
 *
 * ## Accounting invariants
 * - Published = ids handed out - publishes refused (+ restored). An id is taken *before* the message
 *   is offered, and [isSettled] reads completions before it reads that figure, so [isSettled] can be
 *   late but never early: it never reports idle while an accepted message is unfinished.
 * - Every published message ends exactly once as succeeded, failed, dropped, withdrawn, saved or
 *   abandoned. Each consumer owns one [ConsumerSlot]: the message its handler works on and its own
 *   outcome counters (single writer, no contended atomics on the hot path). Whoever clears the slot's
 *   message with a compare-and-set owns the outcome: the consumer (success or failure) or
 *   [takeRemaining] at close (saved or abandoned).
 * - Capacity ([gate]) counts messages accepted and not yet taken by a consumer; restored messages do
 *   not count. A consumer leaves the gate for each message it takes; a dropped or withdrawn message
 *   leaves it too.
 * - Idle waiters are woken by the consumer that finds the queue empty ([IdleWatch.onProgress] runs
 *   from the transport's `whenEmpty` hook), not once per message.
 *
 * ## Consumers
 * A consumer checks its flags (retired, stopping, paused) before each take; pausing, shrinking and a
 * snapshot close wake idle consumers through the transport ([MessageTransport.wakeConsumers]) rather
 * than cancelling them (cancellation could strand a message on its way to them).
 * Growing launches new consumers with new slots; shrinking retires the newest ones, which finish their
 * current message and stop. Retired slots stay in [slots] for their counters.
 *
 * ## Lifecycle
 * The relay runs from registration on, so messages published before `start()` already wait in the
 * compact buffer; consumers run from `start()` on.
 */
internal class QueueEngine<T>(
    val name: String,
    options: QueueOptions,
    private val payloadType: Class<*>?,
    private val handler: suspend (Message<T>) -> Any?,
    /** `true` for handlers that block their thread (Java): they are interrupted at the drain deadline. */
    private val blocking: Boolean,
    /** Makes the context for a batch of `n` new consumers: a dispatcher for blocking handlers, markers. */
    private val consumerContext: (n: Int) -> CoroutineContext,
    private val transport: MessageTransport<T>,
    private val idleWatch: IdleWatch,
    /** Where the queue's snapshot lives, with the codec its payloads cross the disk with; `null`: memory only. */
    private val snapshots: SnapshotStore?,
    private val codec: MessageCodec<T>?,
    private val clock: Clock,
    /** Publishes a dead letter to the named dead-letter queue (the engine's owner knows the queues). */
    private val publishDeadLetter: (queue: String, letter: DeadLetter) -> Unit,
) {
    private val overflow = options.overflow
    private val onDrop = options.onDrop
    private val retry = options.retry
    private val deadLetterQueue = options.deadLetterQueue
    private val deadLetterHandler = options.deadLetterHandler
    private val random = Random(System.nanoTime())
    private val delays = DelayScheduler(name, clock) { message -> transport.offer(message, internal = true) }
    private lateinit var delaysJob: Job
    private val keyLocks = KeyLocks<T>()
    private val orphans = java.util.concurrent.ConcurrentLinkedQueue<Message<T>>()

    /** [handle]'s answer when nothing follows on the same key (a sentinel, never handled). */
    @Suppress("UNCHECKED_CAST")
    private val keyKept: Message<T> = Message(0L, QueueOrigin(name, 0L), null as T, 0)
    private val retried = LongAdder()
    private val deadLettered = LongAdder()
    @Volatile private var closed = false
    private val gate: CapacityGate? = when {
        !options.isBounded -> null
        overflow == OverflowPolicy.SUSPEND -> CapacityGate.Suspending(options.capacity)
        else -> CapacityGate.Counting(options.capacity)
    }

    @Volatile private var origin = QueueOrigin(name, clock.millis())
    private val sequence = AtomicLong()
    private val refused = AtomicLong()
    private val rejected = LongAdder()
    private val dropped = LongAdder()
    private val withdrawn = LongAdder()
    private val dropDebt = AtomicLong() // DROP_OLDEST drops a publisher could not do itself
    private val dropLog = RateLimitedLog(logger, "Queue '$name'")

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
    private val paused = MutableStateFlow(false)

    private val slots = CopyOnWriteArrayList<ConsumerSlot<T>>()
    private val consumerJobs = CopyOnWriteArrayList<Job>()
    private val resizeLock = Any()
    @Volatile private var targetConcurrency = options.concurrency
    private var started = false // guarded by resizeLock

    private val whenEmpty: () -> Unit = idleWatch::onProgress
    private lateinit var queueJob: CompletableJob
    private lateinit var queueScope: CoroutineScope
    private lateinit var relayJob: Job

    init {
        repeat(options.concurrency) { slots += ConsumerSlot() }
    }

    // ---------------------------------------------------------------- publishing

    /**
     * Accepts [data] without waiting and returns its id; [NO_ROOM] when a SUSPEND queue is full (nothing
     * was accepted: wait with [publishSuspending]). [reply], when given, receives the handler's result.
     * @throws QueueFullException for a full REJECT queue.
     * @throws BusClosedException when closed for publishing.
     */
    fun tryPublish(data: Any, reply: Any?, key: String? = null, dueAt: Long = 0): Long {
        validate(data)
        val gate = gate
        if (gate != null && !gate.tryEnter()) {
            when (overflow) {
                OverflowPolicy.SUSPEND -> return NO_ROOM
                OverflowPolicy.REJECT -> {
                    rejected.increment()
                    throw QueueFullException(name, gate.capacity)
                }
                OverflowPolicy.DROP_NEWEST -> {
                    val message = newMessage(sequence.incrementAndGet(), data, reply, key, dueAt)
                    drop(message, "DROP_NEWEST: the queue was full")
                    return message.id
                }
                OverflowPolicy.DROP_OLDEST -> {
                    gate.forceEnter()
                    val oldest = transport.poll()
                    if (oldest != null) {
                        leaveGate(oldest)
                        drop(oldest, "DROP_OLDEST: a newer message arrived while the queue was full")
                    } else {
                        dropDebt.incrementAndGet() // the oldest is still with the relay; a consumer drops it
                    }
                }
            }
        }
        return admit(data, reply, key, dueAt)
    }

    /**
     * Waits for room in a SUSPEND queue, then accepts. Cancellation: nothing is accepted if cancelled.
     * @throws BusClosedException when the queue closes while waiting (the message is not accepted).
     */
    suspend fun publishSuspending(data: Any, reply: Any?, key: String? = null, dueAt: Long = 0): Long {
        validate(data)
        try {
            gate?.enter()
        } catch (e: Throwable) {
            if (e is CancellationException) currentCoroutineContext().ensureActive() // our own cancellation
            throw closedException() // the gate was closed under us
        }
        return admit(data, reply, key, dueAt)
    }

    private fun closedException() = BusClosedException(
        name,
        "Queue '$name' refused the message: the bus is closing or closed and accepts no more messages. " +
            "The message was not accepted; publish before close() or to a new bus.",
    )

    private fun validate(data: Any) {
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
    }

    private fun admit(data: Any, reply: Any?, key: String?, dueAt: Long): Long {
        val message = newMessage(sequence.incrementAndGet(), data, reply, key, dueAt)
        // The key's line is joined before the message can be taken: publish order is line order.
        if (key != null) keyLocks.register(key, message.id)
        // A sealed scheduler (closing) refuses, and so does the transport below: never accepted, never lost.
        if (dueAt > 0 && !closed && delays.schedule(message, dueAt)) return message.id
        if (transport.offer(message)) return message.id
        refused.incrementAndGet()
        gate?.leave()
        if (key != null) requeue(keyLocks.deregister(key, message.id))
        throw closedException()
    }

    /** Puts a parked keyed message whose turn came (its predecessor will never run) back into the queue. */
    private fun requeue(message: Message<T>?) {
        if (message != null && !transport.offer(message, internal = true)) orphans.add(message) // collected at close
    }

    private fun newMessage(id: Long, data: Any, reply: Any?, key: String?, dueAt: Long): Message<T> {
        val now = clock.millis()
        var base = origin
        var offset = base.offsetOf(now)
        if (offset == QueueOrigin.DOES_NOT_FIT) {
            // About every 24 days, or after the clock went back: start a new time base.
            base = QueueOrigin(name, now)
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

    private fun drop(message: Message<T>, why: String) {
        dropped.increment()
        message.replyWithFailure(MessageDroppedException(name, message.id, why))
        dropLog.warn { "dropped message ${message.id} ($why)" }
        try {
            onDrop?.onDrop(message)
        } catch (e: Exception) {
            logger.warn(e) { "Drop listener of queue '$name' threw on message ${message.id}" }
        }
        finishedUnhandled(message)
    }

    // ---------------------------------------------------------------- lifecycle

    /**
     * Puts the messages of a restored snapshot back, first and in their order, with their ids; the
     * sequence continues after the highest. Called at registration, before anyone can publish.
     */
    fun restore(restored: List<Pair<SnapshotRecord, T>>) {
        if (restored.isEmpty()) return
        val now = clock.millis()
        for ((record, payload) in restored) {
            val offset = origin.offsetOf(record.publishedAtMillis)
            val base = if (offset == QueueOrigin.DOES_NOT_FIT) QueueOrigin(name, record.publishedAtMillis) else origin
            val at = if (offset == QueueOrigin.DOES_NOT_FIT) 0 else offset
            val plain = record.dueAtMillis == 0L && record.attempt == 1 && record.key == null
            val message = if (plain) {
                Message(record.id, base, payload, at)
            } else {
                RichMessage(record.id, base, payload, at, null, record.key, record.attempt, record.dueAtMillis, record.firstFailureAtMillis)
            }
            record.key?.let { keyLocks.register(it, record.id) }
            if (record.dueAtMillis > now && delays.schedule(message, record.dueAtMillis)) {
                // waits in the scheduler
            } else {
                check(transport.offer(message)) { "queue '$name' refused a restored message before it started" }
            }
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
        delaysJob = delays.start(queueScope)
    }

    /** Starts the consumers. Called once, at `start()` (or at registration when already started). */
    fun startConsumers() {
        synchronized(resizeLock) {
            started = true
            launchConsumers(slots.filter { !it.retired })
        }
    }

    private fun launchConsumers(batch: List<ConsumerSlot<T>>) {
        if (batch.isEmpty()) return
        val context = consumerContext(batch.size)
        for (slot in batch) {
            val index = slots.indexOf(slot)
            consumerJobs += queueScope.launch(context + CoroutineName("relaymq-$name-$index")) { consume(slot) }
        }
    }

    /** How many consumers the queue runs (or will run, before start). */
    fun concurrency(): Int = targetConcurrency

    /**
     * Changes the number of consumers: new ones start at once; surplus ones finish their current
     * message and stop. No message is lost or handled twice.
     */
    fun setConcurrency(concurrency: Int) {
        require(concurrency >= 1) { "Queue '$name': concurrency must be at least 1, was $concurrency" }
        synchronized(resizeLock) {
            val active = slots.filter { !it.retired }
            when {
                concurrency > active.size -> {
                    val added = List(concurrency - active.size) { ConsumerSlot<T>() }
                    slots.addAll(added)
                    if (started) launchConsumers(added)
                }
                concurrency < active.size -> {
                    for (slot in active.takeLast(active.size - concurrency)) slot.retired = true
                    transport.wakeConsumers(active.size) // idle retirees must see their flag
                }
            }
            targetConcurrency = concurrency
        }
        logger.info { "Queue '$name': concurrency is now $concurrency" }
    }

    /** Consumers take nothing new until [resume]; handlers already running finish. Publishing goes on. */
    fun pause() {
        paused.value = true
        transport.wakeConsumers(slots.size)
    }

    fun resume() {
        paused.value = false
    }

    fun isPaused(): Boolean = paused.value

    /** Stops accepting messages (publishers waiting for room fail); what was accepted keeps flowing. */
    fun closeForPublishing() {
        closed = true
        transport.closeForPublishing()
        gate?.close()
    }

    /**
     * Suspends until every accepted message was processed and the consumers stopped. Call after
     * [closeForPublishing] and [startConsumers]. A paused queue is resumed: close drains.
     * Cancellation: only the waiting is cancelled.
     */
    suspend fun awaitDrained() {
        resume()
        // Delayed messages and pending retries are accepted messages too: deliver them when due (the
        // deadline still applies). Sealed first, so no retry can slip in after the scheduler emptied.
        delays.seal()
        delays.awaitEmpty()
        delaysJob.cancel()
        transport.finishInput()
        queueJob.complete()
        queueJob.join()
    }

    /**
     * Consumers finish the message they are handling and take no more (the relay keeps its messages).
     * For a close that saves pending messages to a snapshot.
     */
    fun stopTaking() {
        stopTaking = true
        paused.value = false // paused consumers must see the flag too
        transport.wakeConsumers(slots.size)
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
        delays.seal()
        queueJob.cancel()
        for (slot in slots) slot.interruptIfBlocked()
        // The relay only ever suspends, so it reacts to cancellation promptly; joining it makes its
        // buffer safe to read (ChannelRelay invariant 1).
        relayJob.join()
        withTimeoutOrNull(grace) { queueJob.join() }
        val inFlight = slots.mapNotNull { it.claim() }
        val inFlightIds = inFlight.mapTo(HashSet()) { it.id }
        val pending = (transport.drainUndelivered() + delays.drain() + keyLocks.drain() + orphans)
            .filter { it.id !in inFlightIds }
            .distinctBy { it.id }
        return Remaining(inFlight, pending)
    }

    /** Counts [remaining] as saved to the snapshot or, when [saved] is false, as abandoned. */
    fun settle(remaining: Remaining<*>, saved: Boolean) {
        val why = if (saved) "saved to the snapshot at close; its result is not delivered" else "abandoned at close"
        for (message in remaining.all) {
            message.replyWithFailure(MessageDroppedException(name, message.id, why))
        }
        if (saved) {
            savedInFlight += remaining.inFlight.size
            savedPending += remaining.pending.size
        } else {
            abandonedInFlight += remaining.inFlight.size
            abandonedPending += remaining.pending.size
        }
        idleWatch.onProgress()
    }

    /** The queue's snapshot codec, when the bus persists. */
    fun codec(): MessageCodec<T>? = codec

    /** Messages whose handler did not finish when close gave up on them, and messages still queued. */
    class Remaining<T>(val inFlight: List<Message<T>>, val pending: List<Message<T>>) {
        /** Every remaining message, in id (that is, queue) order. */
        val all: List<Message<T>> by lazy { (inFlight + pending).sortedBy { it.id } }
    }

    // ---------------------------------------------------------------- consuming

    private suspend fun consume(slot: ConsumerSlot<T>) {
        val job = currentCoroutineContext().job // looked up once: a context lookup walks the whole context
        while (true) {
            job.ensureActive()
            if (slot.retired || stopTaking) return
            if (paused.value) {
                paused.first { !it }
                continue
            }
            // poll() first, without suspending; waiting is a tail call into the channel (no allocation).
            val taken = transport.poll() ?: run {
                if (!transport.prepareToWait(whenEmpty)) return // closed and empty
                val raw = try {
                    transport.awaitNext()
                } catch (e: CancellationException) {
                    throw e
                } catch (e: Throwable) {
                    return // closed, normally or by a failed relay (already logged)
                }
                transport.accept(raw)
            }
            if (taken === TakeInterrupted) continue
            @Suppress("UNCHECKED_CAST")
            val message = taken as Message<T>
            leaveGate(message)
            if (dropDebt.get() > 0 && payDropDebt()) {
                drop(message, "DROP_OLDEST: a newer message arrived while the queue was full")
                continue
            }
            if (message.isWithdrawn) {
                withdrawn.increment() // its requester gave up (cancelled or timed out) before delivery
                finishedUnhandled(message)
                continue
            }
            val key = message.key
            if (key != null && !keyLocks.tryAcquire(key, message)) continue // waits for its key, not a consumer
            var next: Message<T>? = message
            while (next != null) {
                // After a keyed message ends for good, this consumer runs the next one waiting for its key.
                next = handle(slot, next, job) ?: return
                next = if (next === keyKept) null else next
            }
        }
    }

    /**
     * Runs [message]'s handler and records its outcome. Returns the next message waiting for the same
     * ordering key when this one ended for good and released it, [keyKept] when nothing follows, or
     * `null` when the consumer must stop (its message was taken over by the close).
     */
    @Suppress("NOTHING_TO_INLINE") // inline: a separate suspend function would allocate a continuation per message
    private suspend inline fun handle(slot: ConsumerSlot<T>, message: Message<T>, job: Job): Message<T>? {
        slot.begin(message)
        var failure: Throwable? = null
        var result: Any? = null
        try {
            if (blocking) {
                slot.enterBlocking()
                try {
                    result = handler(message)
                } finally {
                    slot.exitBlocking()
                }
            } else {
                result = handler(message)
            }
        } catch (e: Throwable) {
            // Our own cancellation propagates (the message stays in the slot and is taken at close);
            // a CancellationException the handler made itself (say its own withTimeout) is a failure.
            if (e is CancellationException) job.ensureActive()
            failure = e
        }
        // A failure caused by the deadline (an interrupted blocking handler) is not the handler's
        // outcome: leave the message in the slot for takeRemaining() to claim.
        if (failure != null && !job.isActive) return null
        if (!slot.finish(message)) return null // claimed by takeRemaining(): not ours to count
        if (failure == null) {
            slot.countSuccess()
            message.replyWith(result)
        } else if (!retryLater(message, failure)) {
            slot.countFailure()
            message.replyWithFailure(failure)
            deadLetter(message, failure)
        } else {
            return keyKept // the retry keeps holding the key
        }
        finishedRestored(message)
        val key = message.key ?: return keyKept
        return keyLocks.release(key, message.id) ?: keyKept
    }

    /** Schedules [message]'s next attempt if its queue's policy allows one; `false` when the failure is final. */
    private fun retryLater(message: Message<T>, failure: Throwable): Boolean {
        val policy = retry ?: return false
        if (message.attempt >= policy.maxAttempts || closed) return false
        val retryable = try {
            policy.retryOn.isRetryable(failure)
        } catch (e: Exception) {
            logger.warn(e) { "Retry predicate of queue '$name' threw; treating the failure as final" }
            false
        }
        if (!retryable) return false
        val now = clock.millis()
        val wait = policy.backoff(message.attempt, random)
        val next = richOf(message, firstFailureAt = now).retry(dueAt = now + wait.inWholeMilliseconds, firstFailureAt = firstFailureOf(message, now))
        if (!delays.schedule(next, next.dueAtMillis)) return false // closing: this failure is final
        retried.increment()
        logger.info { "Queue '$name': message ${message.id} failed on attempt ${message.attempt} ($failure); retrying in $wait" }
        return true
    }

    private fun firstFailureOf(message: Message<T>, now: Long): Long =
        (message as? RichMessage<T>)?.firstFailureAtMillis?.takeIf { it != RichMessage.NEVER_FAILED } ?: now

    private fun richOf(message: Message<T>, firstFailureAt: Long): RichMessage<T> =
        message as? RichMessage<T>
            ?: RichMessage(message.id, message.queueOrigin, message.data, message.offsetMillis, null, null, 1, 0, RichMessage.NEVER_FAILED)

    /** Hands a message that failed for good to the dead-letter handler and queue, or logs it. */
    private fun deadLetter(message: Message<T>, failure: Throwable) {
        val now = clock.millis()
        if (deadLetterQueue == null && deadLetterHandler == null) {
            logger.warn(failure) {
                "Handler of queue '$name' failed on message ${message.id}" +
                    (if (message.attempt > 1) " (attempt ${message.attempt}, final)" else "") + "; the queue carries on"
            }
            return
        }
        deadLettered.increment()
        val letter = DeadLetter(
            queue = name,
            messageId = message.id,
            data = message.data as Any,
            key = message.key,
            attempts = message.attempt,
            failureClass = failure.javaClass.name,
            failureMessage = failure.message,
            firstFailureAt = Instant.ofEpochMilli(firstFailureOf(message, now)),
            lastFailureAt = Instant.ofEpochMilli(now),
            failure = failure,
        )
        logger.warn(failure) { "Queue '$name': message ${message.id} failed for good after ${message.attempt} attempt(s); dead-lettered" }
        deadLetterHandler?.let { handler ->
            try {
                handler.onDeadLetter(letter)
            } catch (e: Exception) {
                logger.error(e) { "Dead-letter handler of queue '$name' threw on message ${message.id}; the dead letter is logged here: $letter" }
            }
        }
        deadLetterQueue?.let { publishDeadLetter(it, letter) }
    }

    private fun payDropDebt(): Boolean {
        while (true) {
            val debt = dropDebt.get()
            if (debt <= 0) return false
            if (dropDebt.compareAndSet(debt, debt - 1)) return true
        }
    }

    private fun leaveGate(message: Message<T>) {
        // Retries re-enter without the gate; restored messages never entered it.
        if (gate != null && message.attempt == 1 && message.id > restoredMaxId) gate.leave()
    }

    /** [message] ended without its handler (dropped, withdrawn): it leaves its key's line too. */
    private fun finishedUnhandled(message: Message<T>) {
        finishedRestored(message)
        message.key?.let { requeue(keyLocks.deregister(it, message.id)) }
    }

    private fun finishedRestored(message: Message<T>) {
        if (message.id <= restoredMaxId && restoredRemaining.decrementAndGet() == 0L) {
            // Every restored message is done: the snapshot is no longer needed. A crash before this
            // point restores them all again, hence at-least-once after a restore.
            snapshots?.delete(name)
        }
    }

    // ---------------------------------------------------------------- observing

    /** `true` when [thread] is running one of this queue's blocking handlers right now. */
    fun isHandlerThread(thread: Thread): Boolean = slots.any { it.isBlockedOn(thread) }

    private fun published(): Long = sequence.get() - idBase - refused.get() + restoredCount

    private fun endedUnhandled(): Long = dropped.sum() + withdrawn.sum()

    /** `true` when every accepted message reached its end (never early; see class KDoc). */
    fun isSettled(): Boolean {
        var done = abandonedPending + abandonedInFlight + savedPending + savedInFlight + endedUnhandled()
        for (slot in slots) done += slot.succeeded + slot.failed
        return done >= published()
    }

    /** Messages processed to the end (succeeded or failed). */
    fun processed(): Long = slots.sumOf { it.succeeded + it.failed }

    fun stats(): QueueStats {
        val abandonedPending = abandonedPending + savedPending
        val abandonedInFlight = abandonedInFlight + savedInFlight
        val dropped = dropped.sum()
        val withdrawn = withdrawn.sum()
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
            concurrency = targetConcurrency,
            published = published,
            delivered = delivered,
            succeeded = succeeded,
            failed = failed,
            abandoned = this.abandonedPending + this.abandonedInFlight,
            saved = savedPending + savedInFlight,
            pending = (published - delivered - abandonedPending - dropped - withdrawn).coerceAtLeast(0),
            inFlight = busy,
            rejected = rejected.sum(),
            dropped = dropped,
            withdrawn = withdrawn,
            retried = retried.sum(),
            deadLettered = deadLettered.sum(),
            delayed = delays.size().toLong(),
            waitingForKey = keyLocks.waiting().toLong(),
            paused = paused.value,
            capacity = gate?.capacity ?: QueueOptions.UNBOUNDED,
        )
    }
}
