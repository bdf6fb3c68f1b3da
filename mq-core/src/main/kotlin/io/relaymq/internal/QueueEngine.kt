package io.relaymq.internal

import io.relaymq.DeadLetter
import io.relaymq.Message
import io.relaymq.QueueOptions
import io.relaymq.QueueStats
import kotlinx.coroutines.CompletableJob
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.job
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.yield
import java.time.Clock
import java.util.concurrent.atomic.AtomicLong
import kotlin.coroutines.CoroutineContext

private val logger = relayLogger("io.relaymq.internal.QueueEngine")

/**
 * One registered queue, wired from its parts along the data path:
 * [Admission] (publish) → [MessageTransport] / [DelayScheduler] / [KeyLocks] (waiting) →
 * [ConsumerLoop] (consumers and the handler call) → [FailureRouting] (retries, dead letters), with
 * every state change in [MessageLifecycle] and every counter in [QueueCounters].
 *
 * This class owns what is about the queue as a whole: starting, resizing and pausing its consumers, and
 * the close phases [CloseProcedure] drives: [closeForPublishing] (which also stops the consumers or
 * resumes the queue), then [awaitConsumersStopped] (snapshot at once) or bus idle (drain), then [takeAll].
 *
 * ## Consumers
 * Each consumer has a [ConsumerSlot]. Growing first takes back consumers retired by an earlier shrink
 * that are still running (they count against the limit: after 8 → 1 → 8 at most 8 consumers exist),
 * then launches new ones. Shrinking retires the newest active consumers: each finishes the message it
 * handles and stops; until they have, running handlers may exceed the new limit (never the old one).
 * Pausing, shrinking and stopping wake waiting consumers through the transport
 * ([MessageTransport.wakeConsumers]) rather than cancelling them, which could strand a message.
 *
 * ## Lifecycle
 * The relay runs from registration on, so messages published before `start()` already wait; consumers
 * run from `start()` on.
 */
internal class QueueEngine<T>(
    val name: String,
    val options: QueueOptions,
    payloadType: Class<*>?,
    handler: suspend (Message<T>) -> Any?,
    blocking: Boolean,
    /** The context of the queue's consumers: the dispatcher of blocking handlers, or nothing. */
    private val consumerContext: CoroutineContext,
    /** The queue's own threads (blocking handlers without a user executor), sized here; else `null`. */
    private val threads: QueueThreads?,
    private val transport: MessageTransport<T>,
    private val idle: IdleWatch,
    /** The queue's side of the snapshot directory; `null`: memory only, or durable. */
    val snapshots: QueueSnapshots<T>?,
    /** The queue's journal when it is durable ([QueueOptions.durable]); `null` otherwise. */
    val journal: QueueJournal<T>?,
    private val clock: Clock,
    publishDeadLetter: (queue: String, letter: DeadLetter, watch: LetterWatch) -> Unit,
    /** Marks this bus's handlers (see [OwnHandler]). */
    ownHandler: OwnHandler,
) {
    private val sequence = AtomicLong()
    val counters = QueueCounters(name, sequence)
    private val control = QueueControl()
    private val gate: CapacityGate? = if (options.isBounded) CapacityGate(options.capacity) else null
    private val publishers = PublisherGate()
    private val keyLocks = KeyLocks<T>()
    private val delays: DelayScheduler<T> = DelayScheduler(name, clock) { message -> lifecycle.putBack(message) }
    private val lifecycle = MessageLifecycle(name, counters, gate, keyLocks, transport, delays, clock, idle, options.onDrop, journal)
    val admission = Admission(
        name, options.overflow, payloadType, snapshots?.codec, clock, gate, publishers, lifecycle, counters, sequence, delays, transport, journal,
    )
    private val failures = FailureRouting<T>(
        name, options.retry, options.deadLetterQueue, options.deadLetterHandler, clock, counters, publishDeadLetter,
    )
    private val loop = ConsumerLoop(handler, blocking, control, transport, lifecycle, admission, failures, idle, ownHandler)

    private val resizeLock = Any()
    private val consumers = ArrayList<Pair<ConsumerSlot<T>, Job?>>() // guarded by resizeLock
    @Volatile private var targetConcurrency = options.concurrency
    private var started = false // guarded by resizeLock
    private var closing = false // guarded by resizeLock

    private lateinit var queueJob: CompletableJob
    private lateinit var queueScope: CoroutineScope
    private lateinit var relayJob: Job
    private lateinit var delaysJob: Job

    init {
        repeat(options.concurrency) { newSlot() }
    }

    val deadLetterQueue: String? get() = options.deadLetterQueue

    // ---------------------------------------------------------------- setting up

    /** `true` when the queue keeps a journal. */
    val isDurable: Boolean get() = journal != null

    /**
     * Puts restored messages (from the snapshot, or the journal) back, first and in their order, with
     * their ids; the sequence continues after the highest of them and [usedIds] (ids the journal saw
     * used). They count against the capacity like any waiting message. Called at registration, before
     * anyone can publish; a durable queue then starts its journal writer.
     */
    fun restore(messages: List<Message<T>>, usedIds: Long = 0L) {
        val snapshots = snapshots
        if (snapshots != null && messages.isNotEmpty()) lifecycle.onRestoredEnded = snapshots::ended
        for (message in messages) {
            gate?.forceEnter()
            lifecycle.accept(message)
        }
        val maxId = maxOf(messages.maxOfOrNull { it.id } ?: 0L, usedIds)
        sequence.set(maxId)
        counters.idBase = maxId
        counters.restored = messages.size.toLong()
        journal?.begin(sequence)
    }

    /** Starts the relay and the delay scheduler as children of [scope]. Called once, at registration. */
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
            launch(consumers.indices.filter { consumers[it].first.isActive() })
        }
    }

    private fun newSlot(): Int {
        val slot = ConsumerSlot<T>(consumers.size)
        counters.slots += slot
        transport.registerTakeCounter(slot)
        consumers += slot to null
        return consumers.size - 1
    }

    private fun launch(indices: List<Int>) { // guarded by resizeLock
        if (indices.isEmpty()) return
        for (i in indices) {
            val slot = consumers[i].first
            val job = queueScope.launch(consumerContext + CoroutineName("relaymq-consumer-$name-${slot.index}")) { loop.run(slot) }
            consumers[i] = slot to job
            if (threads != null) job.invokeOnCompletion { synchronized(resizeLock) { sizeThreads() } }
        }
    }

    /**
     * Invariant of [QueueThreads]: as many threads as consumers that have not exited (so that after a
     * shrink the retiring ones keep theirs until they exit). Called whenever that number may change:
     * resize, and a consumer's end.
     */
    private fun sizeThreads() { // guarded by resizeLock
        threads?.resize(consumers.count { !it.first.hasExited() })
    }

    /** How many consumers the queue runs (or will run, before start). */
    fun concurrency(): Int = targetConcurrency

    /**
     * Changes the number of consumers; see the class KDoc. No message is lost or handled twice.
     * @throws IllegalArgumentException if [concurrency] < 1.
     */
    fun setConcurrency(concurrency: Int) {
        requireConcurrency(concurrency, "Queue '$name'")
        synchronized(resizeLock) {
            if (control.stopping) return
            val active = consumers.filter { it.first.isActive() }
            if (concurrency > active.size) {
                var missing = concurrency - active.size
                for ((slot, _) in consumers) {
                    if (missing > 0 && slot.status == ConsumerSlot.RETIRING && slot.reclaim()) missing--
                }
                val added = List(missing) { newSlot() }
                if (started) launch(added)
            } else if (concurrency < active.size) {
                for ((slot, job) in active.takeLast(active.size - concurrency)) {
                    slot.retire()
                    if (job == null) slot.leave() // never launched: nothing to wait for
                }
                control.changed()
                transport.wakeConsumers(consumers.size) // idle retirees must see their flag
            }
            sizeThreads()
            targetConcurrency = concurrency
        }
        logger.info { "Queue '$name': concurrency is now $concurrency" }
    }

    /**
     * Consumers take nothing new until [resume]; handlers already running finish. Publishing goes on.
     * Ignored once the close began: a close drains (or saves) every queue, paused or not, and a pause
     * slipping in after the close resumed the queue would stall it until the deadline.
     */
    fun pause() {
        synchronized(resizeLock) {
            if (closing) return
            control.pause()
        }
        transport.wakeConsumers(liveConsumers())
    }

    fun resume() {
        control.resume()
    }

    fun isPaused(): Boolean = control.paused

    private fun liveConsumers(): Int = synchronized(resizeLock) { consumers.count { !it.first.hasExited() } }

    // ---------------------------------------------------------------- close phases

    /**
     * Public publishes are refused from now on, and publishers waiting for room fail; the rest flows.
     * The queue is resumed (a close drains it) or, when [saveAtOnce], its consumers stop after their
     * current message; [pause] has no effect any more.
     */
    fun closeForPublishing(saveAtOnce: Boolean) {
        publishers.closeExternal()
        gate?.close(admission::closed)
        synchronized(resizeLock) {
            closing = true
            if (saveAtOnce) control.stop() else control.resume()
        }
        if (saveAtOnce) transport.wakeConsumers(liveConsumers())
    }

    /** Returns once no public publish that entered before [closeForPublishing] is still storing its message. */
    fun awaitPublishersOut() {
        publishers.awaitPublishersOut()
    }

    /** Suspends until every consumer has stopped. Cancellation: only the waiting is cancelled. */
    suspend fun awaitConsumersStopped() {
        synchronized(resizeLock) { consumers.mapNotNull { it.second } }.joinAll()
    }

    /**
     * Takes every message that has not ended: those in a handler (claimed: their late outcome is
     * ignored; blocking handlers are interrupted) and every waiting one. Afterwards nothing can enter or
     * leave the queue: no publisher, consumer, relay or scheduler touches it any more. Count the result
     * with [settle].
     *
     * Order matters, and each step says why:
     * 1. Stop and close the publisher gate: no publisher, dead letter or withdrawal is inside after this.
     *    A durable queue then waits until every publish handed to its journal was stored (and so
     *    accepted) or refused: after that, none can enter from the writer's thread either.
     * 2. Cancel the consumers, the relay and the scheduler; join the relay and the scheduler (they only
     *    ever suspend) so that the relay's buffer and the scheduler's queue are safe to read.
     * 3. Claim the messages in handlers, and wait until every consumer has exited, lost its message to
     *    a claim, or is in user code after its message ended: none of them can take or put back a
     *    message any more (see [ConsumerSlot.inUserCode]).
     * 4. Collect the transport (closing it), the scheduler, the key lines and the leftovers, skipping
     *    husks of withdrawn requests.
     */
    suspend fun takeAll(drainTimeout: kotlin.time.Duration = DEFAULT_DRAIN_TIMEOUT): Remaining<T> {
        synchronized(resizeLock) { control.stop() }
        publishers.closeAll()
        // Durable publishes being written enter the queue from the writer's thread: let them land.
        if (journal != null && !journal.awaitStored(drainTimeout)) {
            logger.error {
                "Queue '$name': the journal did not finish writing the publishes in flight within $drainTimeout; " +
                    "they stay in the journal if they reached it, and are not counted in this close's summary"
            }
        }
        gate?.close(admission::closed)
        val jobs = synchronized(resizeLock) { consumers.toList() }
        for ((_, job) in jobs) job?.cancel()
        relayJob.cancelAndJoin()
        delaysJob.cancelAndJoin()

        val inHandler = ArrayList<Message<T>>()
        val claimedSlots = HashSet<ConsumerSlot<T>>()
        var rounds = 0
        while (true) {
            for ((slot, _) in jobs) {
                slot.claim()?.let {
                    inHandler += it
                    claimedSlots += slot
                    slot.interruptIfBlocked()
                }
            }
            val busy = jobs.any { (slot, job) ->
                job != null && !job.isCompleted && slot !in claimedSlots && !slot.inUserCode
            }
            if (!busy) break
            if (++rounds < 100) yield() else delay(1) // they run our own short code: let them finish it
        }
        queueJob.cancel()

        val inHandlerIds = inHandler.mapTo(HashSet()) { it.id }
        val waiting = (transport.drainUndelivered() + delays.drain() + keyLocks.drain() + drainLeftovers())
            .distinctBy { it.id }
            .filter { it.id !in inHandlerIds && it.claim() }
        return Remaining(inHandler, waiting)
    }

    private fun drainLeftovers(): List<Message<T>> {
        val result = ArrayList<Message<T>>()
        while (true) result += lifecycle.leftovers.poll() ?: break
        return result
    }

    /**
     * Ends the queue's own threads, if it has any: after the close (every consumer exited or lost its
     * message to the close), or at once ([now], interrupting handlers) when the bus crashes for testing.
     */
    fun stopThreads(now: Boolean) {
        if (now) threads?.shutdownNow() else threads?.shutdown()
    }

    /** Forces the journal and stops its writer, after [takeAll], waiting at most [timeout]: what did not end stays in it. */
    suspend fun closeJournal(timeout: kotlin.time.Duration) {
        journal?.close(timeout)
    }

    /** Test support: the journal dies like a killed process's. */
    fun crashJournal() {
        journal?.crash()
    }

    /** Counts [remaining] as saved (to the snapshot or, durable, left in the journal) or, when [saved] is false, as abandoned. */
    fun settle(remaining: Remaining<T>, saved: Boolean) {
        lifecycle.closedOut(remaining.inHandler, remaining.waiting, saved)
    }

    /** Messages whose handler the close took over, and messages still waiting. */
    class Remaining<T>(val inHandler: List<Message<T>>, val waiting: List<Message<T>>) {
        /** Every remaining message, in id (that is, queue) order. */
        val all: List<Message<T>> by lazy { (inHandler + waiting).sortedBy { it.id } }
    }

    // ---------------------------------------------------------------- observing

    /** `true` when [thread] runs the synchronous part of one of this queue's handlers right now. */
    fun isHandlerThread(thread: Thread): Boolean = counters.slots.any { it.runsHandlerOn(thread) }

    /** `true` when every accepted message reached its end (never early; see [QueueCounters]). */
    fun isSettled(): Boolean = counters.isSettled()

    fun processed(): Long = counters.processed()

    fun stats(): QueueStats = counters.stats(
        concurrency = targetConcurrency,
        delayed = delays.size(),
        waitingForKey = keyLocks.waiting(),
        paused = control.paused,
        capacity = gate?.capacity,
    )
}
