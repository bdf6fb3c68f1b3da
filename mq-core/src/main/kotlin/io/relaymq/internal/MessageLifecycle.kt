package io.relaymq.internal

import io.relaymq.DropListener
import io.relaymq.Message
import io.relaymq.MessageDroppedException
import java.time.Clock
import java.util.concurrent.ConcurrentLinkedQueue

private val logger = relayLogger("io.relaymq.internal.MessageLifecycle")

/**
 * The life of one queue's messages, and the only code that moves a message from one state to another.
 *
 * ```
 *                publish / restore / dead letter
 *                            │ accept()          durable queue: STORING first (journal write),
 *                            ▼                   then accept(), or notStored() when it fails
 *   ┌──────────────────── WAITING (counted by the capacity gate) ─────────────────────┐
 *   │  READY ──(due)── DELAYED        WAITING_FOR_KEY        WAITING_FOR_RETRY       │
 *   │  transport       DelayScheduler KeyLocks (parked)      DelayScheduler          │
 *   └───┬────────────────┬──────────────────┬──────────────────────┬────────────────┘
 *       │ toHandler()    │ drop()           │ withdraw()           │ closedOut()
 *       ▼                ▼                  ▼                      ▼
 *   IN HANDLER        DROPPED           WITHDRAWN            SAVED / ABANDONED
 *   (ConsumerSlot)    (overflow)        (request gave up)    (close)
 *       │
 *       ├─ succeeded() ──────────────► SUCCEEDED
 *       ├─ failed() ─────────────────► FAILED (dead-lettered when configured)
 *       ├─ retry() ──────────────────► WAITING_FOR_RETRY
 *       └─ closedOut() (deadline) ───► SAVED / ABANDONED
 * ```
 *
 * Every transition here also keeps, in the same call:
 * - the journal of a durable queue: every end a message reaches here (succeeded, failed once its dead
 *   letter is safe, dropped, withdrawn) is recorded as a completion and every retry as a retry, so
 *   that recovery replays exactly the messages that had not ended. SAVED and ABANDONED record nothing:
 *   for a durable queue the message simply stays in the journal (counted as saved);
 * - the counters ([QueueCounters]): each end is counted exactly once, by the transition into it;
 * - the capacity gate: it counts exactly the WAITING messages. [accept] and [retry] enter it (the
 *   caller of [accept] has entered already, see [Admission]); [toHandler], [drop], [withdraw] and
 *   [closedOut] of a waiting message leave it. A consumer that takes a message and finds it must wait
 *   for its key parks it without touching the gate: it is still waiting.
 * - the ordering-key lines ([KeyLocks]): a message that ends leaves its line, and the next one parked
 *   behind it either runs at once on the consumer that ended its predecessor, or goes back to READY;
 * - the restored snapshot file: deleted once every message restored from it was processed, dropped or
 *   withdrawn (never by the close, which replaces it or leaves it);
 * - idle waiters: ends that no consumer sees ([drop], [withdraw], [closedOut]) wake them; consumers
 *   wake them whenever they stop working ([ConsumerLoop]).
 *
 * Who calls what: [Admission] (publishers), [ConsumerLoop] (consumers), [CloseProcedure] through
 * [QueueEngine.takeAll]. Callers that are not consumers hold the queue's [PublisherGate] while they
 * store messages, so the close can wait them out before it collects what is left ([leftovers] holds
 * what was put back after the transport stopped taking).
 *
 * No user code runs here: drop listeners and reply callbacks run from [afterDrop] and the consumer
 * loop, after the state change and outside every lock and gate.
 */
internal class MessageLifecycle<T>(
    private val queue: String,
    private val counters: QueueCounters,
    private val gate: CapacityGate?,
    private val keyLocks: KeyLocks<T>,
    private val transport: MessageTransport<T>,
    private val delays: DelayScheduler<T>,
    private val clock: Clock,
    private val idle: IdleWatch,
    private val onDrop: DropListener?,
    /** The queue's journal when it is durable: every end and retry is recorded there too. */
    private val journal: QueueJournal<T>?,
) {
    /** Messages put back after the transport stopped taking (close); collected by [QueueEngine.takeAll]. */
    val leftovers = ConcurrentLinkedQueue<Message<T>>()

    /** Called when a message restored from the snapshot ends (processed, dropped, withdrawn, saved anew). */
    @Volatile var onRestoredEnded: ((Message<T>) -> Unit)? = null

    private val dropLog = RateLimitedLog(logger, "Queue '$queue'")

    /**
     * ACCEPTED → WAITING. The caller has counted the message in the gate and holds the publisher gate.
     * The key's line is joined before the message can be taken: publish order is line order.
     */
    fun accept(message: Message<T>): Long {
        message.key?.let { keyLocks.register(it, message.id) }
        store(message)
        return message.id
    }

    private fun store(message: Message<T>) {
        val dueAt = message.dueAtMillis
        if (dueAt > 0 && dueAt > clock.millis()) delays.schedule(message, dueAt) else putBack(message)
    }

    /** Back to READY (a keyed message whose turn came, a message a stopping consumer took). */
    fun putBack(message: Message<T>) {
        if (!transport.offer(message, internal = true)) leftovers.add(message)
    }

    /**
     * A consumer took [message] (it is held in the consumer's slot). `false` when it is a husk its
     * requester withdrew: skip it, it was counted then.
     */
    fun taken(message: Message<T>): Boolean = message.claim()

    /** A taken message must wait for its ordering key; `false` if it may run now. */
    fun parkForKey(message: Message<T>): Boolean {
        val key = message.key ?: return false
        if (keyLocks.tryAcquire(key, message)) return false
        message.unclaim() // waiting again: its requester may still withdraw it
        return true
    }

    /** WAITING → IN HANDLER. */
    fun toHandler() {
        gate?.leave()
    }

    /**
     * STORING → (not accepted): a durable publish whose journal write failed ([refused]: counted as
     * rejected) or whose Java future was cancelled before it was handed to the journal. It took an id
     * and a place in the gate; the place is given back, and it is not counted as published.
     */
    fun notStored(message: Message<T>, refused: Boolean) {
        gate?.leave()
        counters.notStored.increment()
        if (refused) counters.rejected.increment()
        idle.onProgress()
    }

    /** IN HANDLER → SUCCEEDED. The consumer then calls [releaseKey]. */
    fun succeeded(slot: ConsumerSlot<T>, message: Message<T>) {
        journal?.completed(message)
        slot.countSuccess()
        restoredEnded(message)
    }

    /**
     * IN HANDLER → FAILED (for good). The consumer then calls [releaseKey]. The journal learns of it
     * from [failureRecorded], once the dead letter, if any, is safe.
     */
    fun failed(slot: ConsumerSlot<T>, message: Message<T>) {
        slot.countFailure()
        restoredEnded(message)
    }

    /** A message that failed for good may leave the journal: its dead letter (if any) is stored. */
    fun failureRecorded(message: Message<T>) {
        journal?.completed(message)
        ((message as? RichMessage<T>)?.reply as? RemoteReply)?.letterSafe()
    }

    /**
     * The dead letter of a message that failed for good could not be stored (a remote dead-letter
     * queue's store refused it): a remote message goes back to its store, to be delivered again.
     */
    fun failureNotRecorded(message: Message<T>) {
        ((message as? RichMessage<T>)?.reply as? RemoteReply)?.letterLost()
    }

    /**
     * [message] (succeeded or failed) leaves its key's line; returns the next message of the line if it
     * is parked, for the calling consumer to run (or put back). Called by the consumer after the reply
     * callbacks, holding [message] as a marker in its slot, so the close waits for the hand-over.
     */
    fun releaseKey(message: Message<T>): Message<T>? {
        val key = message.key ?: return null
        return keyLocks.release(key, message.id)
    }

    /**
     * IN HANDLER → WAITING_FOR_RETRY as [next] (same id, next attempt). It keeps holding its key. A
     * message of a remote queue goes back to its store instead, due at its next attempt (→ SAVED here).
     */
    fun retry(next: RichMessage<T>) {
        val remote = next.reply as? RemoteReply
        if (remote != null) {
            // A remote message waits for its next attempt in the store, where any bus may take it: it
            // leaves this bus (counted as given back, like a close's), its attempt count travels with it.
            counters.retried.increment()
            counters.saved.increment()
            remote.retry(next)
            idle.onProgress()
            return
        }
        journal?.retried(next)
        gate?.forceEnter()
        counters.retried.increment()
        delays.schedule(next, next.dueAtMillis)
    }

    /**
     * WAITING (or just accepted, with [counted] false: DROP_NEWEST) → DROPPED. Call [afterDrop] with
     * the message once out of every gate.
     */
    fun drop(message: Message<T>, counted: Boolean) {
        if (counted) {
            gate?.leave()
            journal?.completed(message) // an uncounted (DROP_NEWEST) message was never journaled
        }
        counters.dropped.increment()
        endedUnhandled(message)
    }

    /** What a drop owes the outside world, called outside every gate: the requester, the listener, the log. */
    fun afterDrop(message: Message<T>, why: String) {
        message.replyWithFailure(MessageDroppedException(queue, message.id, why))
        dropLog.warn { "dropped message ${message.id} ($why)" }
        try {
            onDrop?.onDrop(message)
        } catch (e: Exception) {
            logger.warn(e) { "Drop listener of queue '$queue' threw on message ${message.id}" }
        }
        idle.onProgress()
    }

    /** WAITING → WITHDRAWN, after [tryWithdraw] succeeded. The husk left behind is skipped when taken. */
    fun withdraw(message: Message<T>) {
        journal?.completed(message)
        gate?.leave()
        counters.withdrawn.increment()
        delays.remove(message)
        endedUnhandled(message)
        idle.onProgress()
    }

    /**
     * WAITING or IN HANDLER (claimed at the deadline) → SAVED or ABANDONED, at close. [waiting] are
     * still counted in the gate; [inHandler] left it when they entered their handler.
     */
    fun closedOut(inHandler: List<Message<T>>, waiting: List<Message<T>>, saved: Boolean) {
        for (message in waiting) gate?.leave()
        val all = inHandler.size + waiting.size
        if (saved) counters.saved.add(all.toLong()) else counters.abandoned.add(all.toLong())
        counters.closedInHandler.add(inHandler.size.toLong())
        // No restoredEnded() here: the file they were restored from was just replaced by the new
        // snapshot (saved) or must stay (abandoned), and must not be deleted behind the close's back.
        val why = if (saved) "saved to the snapshot at close; its result is not delivered" else "abandoned at close"
        for (message in inHandler) message.replyWithFailure(MessageDroppedException(queue, message.id, why))
        for (message in waiting) message.replyWithFailure(MessageDroppedException(queue, message.id, why))
        idle.onProgress()
    }

    /** A message that never reached (or will never again reach) a handler leaves its line for good. */
    private fun endedUnhandled(message: Message<T>) {
        restoredEnded(message)
        val key = message.key ?: return
        keyLocks.deregister(key, message.id)?.let(::putBack)
    }

    private fun restoredEnded(message: Message<T>) {
        onRestoredEnded?.invoke(message)
    }
}
