package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.DelicateCoroutinesApi
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.coroutines.cancellation.CancellationException

private val logger = relayLogger("io.relaymq.internal.ChannelRelay")

/**
 * The in-memory [MessageTransport]: `inbox` (unlimited channel) -> `buffer` ([ChunkedQueue]) -> `outbox`
 * (bounded channel) -> consumers, moved by one relay coroutine; plus a direct path from publisher to
 * outbox while there is no backlog.
 *
 * ## Invariants
 * 1. [buffer] is guarded by [bufferLock]: the relay holds it while it moves messages in or out (never
 *    across a suspension or a send), a DROP_OLDEST publisher while it takes the oldest ([pollOldest]),
 *    and [drainUndelivered] after the relay has finished.
 * 2. FIFO per producer. A message goes straight to the outbox only while [backlog] (messages in inbox
 *    or buffer) is zero; the relay lowers [backlog] only *after* the messages it counted are in the
 *    outbox. So a producer's message never overtakes one of its own earlier messages that is still in
 *    the inbox or buffer. Inside the relay, order is inbox order, then buffer order; the relay always
 *    sends `buffer.first()` and removes it only after the send succeeded.
 * 3. No avoidable hops. Without a backlog a message costs one channel hop, like a raw channel. With
 *    one, the relay moves messages in batches (`tryReceive`/`trySend`) and suspends only when it can
 *    make no progress: on the inbox when the buffer is empty, or on [wake] when the outbox is full.
 * 4. The backlog lives in [buffer], not in the inbox: while the outbox is full the relay keeps draining
 *    the inbox. The buffer costs 4 bytes per message against about 10 for a channel cell.
 * 5. With a full outbox the relay sleeps on [wake], a conflated signal, after arming two thresholds:
 *    [armedTakes] (consumers have taken half the outbox since it armed) and [backlogWakeAt] (a batch of
 *    new messages waits in the inbox). While [armed], consumers count their takes in [armedTakes] too,
 *    publishers count the backlog, and each raises [wake] when its count crosses the threshold, so the
 *    relay wakes once per batch rather than once per message. No wake-up is lost: the relay arms *then*
 *    re-checks (room in the outbox, inbox emptiness); a backlog update that missed the threshold
 *    happened before, so the re-check sees its effect, and every later one sees the threshold. A take
 *    may miss both (consumers publish their counts with a release store, not a fence), but it is only
 *    ever early: a consumer that finds the outbox empty, and [closeForPublishing], always raise [wake],
 *    so at worst the relay wakes when the outbox ran dry rather than half-way. (The relay never uses
 *    `select { outbox.onSend(...) }`: a losing `onSend` clause hands its element to
 *    `onUndeliveredElement` although it was never lost.)
 * 6. Nothing is lost to cancellation, nothing is counted twice. Messages still in a channel are
 *    drained by [drainUndelivered]. A message a channel handed to a coroutine that was cancelled before
 *    it resumed ("prompt cancellation": the relay on the inbox, a consumer on the outbox) reaches
 *    `onUndeliveredElement` and lands in [stranded]. The relay only ever `trySend`s to the outbox, so a
 *    message is never both in the outbox and still in the buffer.
 * 7. Refusal is final: after [closeForPublishing], [offer] refuses (internal offers of already accepted
 *    messages still go in until [finishInput] or [drainUndelivered] closes the inbox); once the relay is
 *    done the outbox is closed, and [drainUndelivered] closes both channels before it empties them, so
 *    an offer racing with the drain either lands before it (and is drained) or is refused. (The engine
 *    also keeps publishers out before it drains: see [PublisherGate].)
 * 8. When the inbox is closed and everything has moved on, the relay closes the outbox: consumers see
 *    the end of the outbox (from [awaitNext] or [prepareToWait]) exactly when every accepted message has
 *    been handed out.
 * 9. Consumers are woken (pause, shrink, snapshot close) by a [WAKE_UP] sentinel in the outbox rather
 *    than by cancellation (which could strand a message on its way to them) or a `select` on a second
 *    channel (which would allocate on every wait). It counts nowhere: not in [handedOut], not in
 *    the take counters, never returned by [poll], never in [drainUndelivered] (also when a consumer cancelled as it
 *    arrived strands it).
 *
 * Checked by: `ChannelRelayLincheckTest` (model checking: per-producer FIFO through the direct path and
 * the relay, no lost wake-up, nothing lost or duplicated between consumers and [drainUndelivered], no
 * offer after [closeForPublishing]: invariants 2, 5, 6, 7, 8), `ChannelRelaySpec`, and the engine-level
 * `InteractionStressSpec` and `MQLincheckTest` (invariant 9).
 */
internal class ChannelRelay<T>(
    private val queueName: String,
    private val outboxCapacity: Int,
    private val batchLimit: Int = DEFAULT_BATCH_LIMIT,
) : MessageTransport<T> {
    private val stranded = ConcurrentLinkedQueue<Message<T>>()
    private val inbox = Channel<Message<T>>(Channel.UNLIMITED) { stranded.add(it) }
    /** Guarded by [bufferLock]: the relay moves batches in and out under it, a DROP_OLDEST publisher takes the oldest. */
    private val buffer = ChunkedQueue<Message<T>>()
    private val bufferLock = Any()
    // Unlimited as a channel (no buffer-expansion bookkeeping on every send and receive); bounded to
    // outboxCapacity by the relay and the direct path through `handedOut - takes`.
    private val outbox = Channel<Message<T>>(Channel.UNLIMITED) { stranded.add(it) }
    private val wake = Channel<Unit>(Channel.CONFLATED)

    /** Messages in inbox + buffer. Zero means publishers may go straight to the outbox. */
    private val backlog = PaddedCounter()

    /** Messages ever put into the outbox (by the relay or the direct path). */
    private val handedOut = PaddedCounter()

    /**
     * Messages ever taken from the outbox: each consumer counts its own takes ([TakeCounter], a plain
     * release store instead of a shared atomic on every take); takes that are no consumer's (an
     * overflow policy dropping the oldest) count here. See [takesSum].
     */
    internal val takeCounters = CopyOnWriteArrayList<TakeCounter>()
    private val otherTakes = PaddedCounter()

    /**
     * A recent [takesSum], never above the true one (takes only grow): the direct path's room check
     * reads this instead of every consumer's counter (which each consumer writes on every take, so
     * reading them would cost a cache miss per publish), and refreshes it only when the outbox looks
     * full by it. Written by publishers and the relay, rarely.
     */
    @Volatile private var takesSeen = 0L

    // Wake-up thresholds, armed by the relay while it waits with a full outbox (invariant 5); [armed]
    // lets exactly one crossing raise the signal per wait instead of every message after it.
    @Volatile private var backlogWakeAt = Long.MAX_VALUE
    private val armedTakes = PaddedCounter()
    private val takesToWake = maxOf(1L, outboxCapacity / 2L)
    private val armed = AtomicBoolean()

    @Volatile private var closed = false

    override fun offer(message: Message<T>, internal: Boolean): Boolean {
        if (closed && !internal) return false
        if (backlog.get() == 0L && hasRoom()) {
            // Two publishers may both see the last free place: the bound is soft by a few messages.
            handedOut.incrementAndGet()
            if (outbox.trySend(message).isSuccess) return true
            handedOut.decrementAndGet() // closed (invariant 7); the closed inbox refuses below
        }
        val waiting = backlog.incrementAndGet()
        if (inbox.trySend(message).isSuccess) {
            if (waiting >= backlogWakeAt) signal()
            return true
        }
        backlog.decrementAndGet()
        return false
    }

    /** Room in the outbox for a direct send, by [takesSeen], refreshed when that says there is none. */
    private fun hasRoom(): Boolean {
        val out = handedOut.get()
        if (out - takesSeen < outboxCapacity) return true
        val sum = takesSum()
        takesSeen = sum
        return out - sum < outboxCapacity
    }

    /** Every take so far: the exited consumers' in [otherTakes], the others' in their counters. */
    internal fun takesSum(): Long {
        var sum = otherTakes.get()
        for (counter in takeCounters) sum += counter.taken
        return sum
    }

    override fun registerTakeCounter(counter: TakeCounter) {
        takeCounters.add(counter)
    }

    override fun retireTakeCounter(counter: TakeCounter) {
        // Removed first, added after: a concurrent sum can only count too few takes for a moment (the
        // room check stays on the safe side); the other order could count them twice.
        if (takeCounters.remove(counter)) otherTakes.addAndGet(counter.taken)
    }

    override fun start(scope: CoroutineScope): Job =
        scope.launch(CoroutineName("relaymq-relay-$queueName")) {
            try {
                relay()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                // A bug, not a user error: without the relay nothing moves, so stop the consumers loudly.
                // The messages stay in inbox/buffer and are reported as abandoned at close.
                logger.error(e) { "Relay of queue '$queueName' failed; its messages wait until close" }
                outbox.close(e)
            }
        }

    @OptIn(ExperimentalCoroutinesApi::class) // inbox.isEmpty: a snapshot check, which is all the re-check needs
    private suspend fun relay() {
        var inboxOpen = true
        while (true) {
            if (inboxOpen) inboxOpen = drainInbox()
            refillOutbox()
            if (synchronized(bufferLock) { buffer.isEmpty() }) {
                if (!inboxOpen) break
                val next = inbox.receiveCatching()
                if (next.isClosed) inboxOpen = false else synchronized(bufferLock) { buffer.addLast(next.getOrThrow()) }
            } else {
                // Outbox full. Sleep until consumers have taken half of it, or (inbox open) until a
                // batch of new messages waits in the inbox: one wake-up per batch, not per message.
                armedTakes.set(0L)
                backlogWakeAt = if (inboxOpen) backlog.get() + batchLimit else Long.MAX_VALUE
                armed.set(true)
                // Re-check after arming: an update that missed the new thresholds happened before
                // them, and these checks see its effect.
                if (handedOut.get() - takesSum() >= outboxCapacity && (!inboxOpen || inbox.isEmpty)) {
                    wake.receive()
                }
                armed.set(false)
                backlogWakeAt = Long.MAX_VALUE
            }
        }
        outbox.close()
    }

    /** Moves up to [batchLimit] messages from inbox to buffer; returns `false` once the inbox is closed. */
    private fun drainInbox(): Boolean = synchronized(bufferLock) {
        var moved = 0
        while (moved < batchLimit) {
            val next = inbox.tryReceive()
            if (next.isSuccess) {
                buffer.addLast(next.getOrThrow())
                moved++
            } else {
                return !next.isClosed
            }
        }
        true
    }

    private fun refillOutbox() {
        val sum = takesSum()
        takesSeen = sum
        val room = outboxCapacity - (handedOut.get() - sum)
        // One message at a time out of the buffer, sent outside the lock: a send may resume a consumer,
        // and with an unconfined dispatcher that consumer (and its handler) would run inside the send.
        var sent = 0L
        var gone = 0L
        while (sent < room) {
            val next = synchronized(bufferLock) { if (buffer.isEmpty()) null else buffer.first().also { buffer.removeFirst() } } ?: break
            gone++
            if (outbox.trySend(next).isSuccess) {
                sent++
            } else {
                stranded.add(next) // the outbox was closed (failed relay): drainUndelivered collects it
                break
            }
        }
        if (sent > 0) handedOut.addAndGet(sent)
        // Only now: invariant 2 needs these messages in the outbox before publishers may bypass.
        if (gone > 0) backlog.addAndGet(-gone)
    }

    private fun signal() {
        if (armed.get() && armed.compareAndSet(true, false)) wake.trySend(Unit)
    }

    private fun counted(message: Message<T>, counter: TakeCounter?): Message<T> {
        if (counter != null) counter.countTake() else otherTakes.incrementAndGet()
        // Rarely true (the relay waits with a full outbox): only then do consumers share a counter.
        if (armed.get() && armedTakes.incrementAndGet() >= takesToWake) signal()
        return message
    }

    override fun poll(counter: TakeCounter): Message<T>? {
        while (true) {
            val next = outbox.tryReceive().getOrNull() ?: return null
            if (next !== WAKE_UP) return counted(next, counter) // a stale wake-up is a no-op
        }
    }

    override fun pollOldest(): Message<T>? {
        // Not poll(): that skips wake-ups for good, and one may be meant for a consumer about to wait
        // on an empty outbox (a shrink, a close); those found here go back in.
        var wakeUps = 0
        var oldest: Message<T>? = null
        while (true) {
            val next = outbox.tryReceive().getOrNull() ?: break
            if (next === WAKE_UP) {
                wakeUps++
            } else {
                oldest = counted(next, null)
                break
            }
        }
        @Suppress("UNCHECKED_CAST")
        repeat(wakeUps) { outbox.trySend(WAKE_UP as Message<T>) }
        if (oldest != null) return oldest
        // Outbox empty: the oldest waits in the buffer, else in the inbox. Taken out of the backlog
        // count like the relay's moves (invariant 2 only needs the count to cover what still waits).
        synchronized(bufferLock) {
            if (buffer.isNotEmpty()) {
                val oldest = buffer.first()
                buffer.removeFirst()
                backlog.decrementAndGet()
                return oldest
            }
        }
        val next = inbox.tryReceive().getOrNull() ?: return null
        backlog.decrementAndGet()
        return next
    }

    @OptIn(DelicateCoroutinesApi::class) // isClosedForReceive may turn true just after; awaitNext() then throws
    override fun prepareToWait(whenEmpty: () -> Unit): Boolean {
        if (outbox.isClosedForReceive) return false
        // Belt and braces for invariant 5: an empty outbox always wakes a waiting relay.
        signal()
        whenEmpty()
        return true
    }

    override suspend fun awaitNext(): Any? = outbox.receive()

    override fun accept(element: Any?, counter: TakeCounter): Any? {
        if (element === WAKE_UP) return TakeInterrupted
        @Suppress("UNCHECKED_CAST")
        return counted(element as Message<T>, counter)
    }

    override fun wakeConsumers(count: Int) {
        // Invariant 9: a consumer waits only on an empty outbox, so a wake-up sent now reaches a waiting
        // consumer at once; with none waiting it sits behind the messages and is skipped when taken.
        @Suppress("UNCHECKED_CAST")
        repeat(count) { outbox.trySend(WAKE_UP as Message<T>) }
    }

    override fun closeForPublishing() {
        closed = true
    }

    override fun finishInput() {
        closed = true
        inbox.close()
        wake.trySend(Unit) // a relay waiting for a batch must see the close
    }

    override fun drainUndelivered(): List<Message<T>> {
        // Invariant 7: no late send, direct or through the inbox, can land after this drain.
        inbox.close()
        outbox.close()
        val result = ArrayList<Message<T>>()
        while (true) result.add(outbox.tryReceive().getOrNull() ?: break)
        synchronized(bufferLock) { buffer.drainTo(result) }
        while (true) result.add(inbox.tryReceive().getOrNull() ?: break)
        while (true) result.add(stranded.poll() ?: break)
        // Invariant 9: a wake-up is never a message, also one stranded by a consumer cancelled as it arrived.
        result.removeAll { it === WAKE_UP }
        return result
    }

    internal companion object {
        /** Messages moved per batch before the relay looks at the outbox again. */
        const val DEFAULT_BATCH_LIMIT: Int = 256

        /** Sent through the outbox by [wakeConsumers]; never a message, never counted. */
        private val WAKE_UP: Message<Any?> = Message(QueueOrigin("wake-up", 0L, 0L), null, 0)
    }
}
