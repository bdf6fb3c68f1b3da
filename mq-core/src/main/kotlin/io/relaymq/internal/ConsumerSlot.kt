package io.relaymq.internal

import io.relaymq.Message
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater
import java.util.concurrent.atomic.AtomicLongFieldUpdater
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater

/**
 * One consumer's state: where its message is in [ConsumerLoop], its own outcome counters, whether it
 * is still wanted ([status]), and the interrupt protocol for blocking handlers.
 *
 * ## The message's place (see [MessageLifecycle])
 * - [holding]: the consumer holds a message in its own code (just taken, or its handler just ended and
 *   the outcome is being recorded). Only the consumer writes it. That code never blocks and never calls
 *   user code, so the close waits for it to clear.
 * - [current]: the message is in its handler. Whoever clears it with a compare-and-set owns the
 *   outcome: the consumer ([commit]) or the close at its deadline ([claim], then saved or abandoned).
 *   The consumer sets [holding] *before* its [commit], so a close that lost the race to [commit] and
 *   then reads [holding] sees the message still held and waits for it.
 *
 * Counters have a single writer (the consumer coroutine, on one thread at a time) and are published
 * with `lazySet` (a release store), so counting costs far less than a shared atomic. The slot is also
 * the consumer's [TakeCounter] for the relay.
 */
internal class ConsumerSlot<T>(val index: Int) : TakeCounter() {
    // @JvmField so that the field updaters below (in another class file) can reach the fields.
    @Volatile @JvmField internal var current: Message<*>? = null

    @Volatile @JvmField internal var holding: Message<*>? = null

    @Volatile @JvmField internal var succeeded: Long = 0L

    @Volatile @JvmField internal var failed: Long = 0L

    /**
     * Set while the consumer runs user code after releasing its message (reply callbacks, the
     * dead-letter handler, a drop listener). From there it never takes another message without first
     * checking for cancellation, so a close that has cancelled it need not wait for it.
     */
    @Volatile @JvmField internal var inUserCode: Boolean = false

    /** [ACTIVE], [RETIRING] (the queue shrank: finish the current message, then stop) or [EXITED]. */
    @Volatile @JvmField internal var status: Int = ACTIVE

    /**
     * The thread running the synchronous part of this consumer's handler call, or `null`. A plain field:
     * only the thread that wrote it asks whether it is its own ([OwnHandler]), and a thread always sees
     * its own writes.
     */
    @JvmField internal var syncThread: Thread? = null

    /** `true` when [thread] runs a handler of this slot right now (see [syncThread]). */
    fun runsHandlerOn(thread: Thread): Boolean = syncThread === thread

    // Interrupt protocol for blocking handlers (the allocation-free equivalent of runInterruptible).
    @Volatile @JvmField internal var blockedThread: Thread? = null

    @Volatile @JvmField internal var blocking: Int = IDLE

    /**
     * The consumer took [message]. A volatile store (a full fence): the consumer reads the queue's stop
     * flag right after, and the close writes that flag before it reads [holding] (Dekker), so either
     * the consumer sees the stop or the close sees the message held.
     */
    fun hold(message: Message<T>) {
        holding = message
    }

    fun release() {
        HOLDING.lazySet(this, null)
    }

    /** The held message enters its handler: from now on the close may [claim] it. */
    fun enterHandler(message: Message<T>) {
        CURRENT.lazySet(this, message)
        HOLDING.lazySet(this, null) // after current: a close that sees holding == null also sees current
    }

    /** The handler ended; `false` if the close claimed the message first (not ours to count then). */
    fun commit(message: Message<T>): Boolean {
        HOLDING.lazySet(this, message) // the compare-and-set below fences it
        if (CURRENT.compareAndSet(this, message, null)) return true
        HOLDING.lazySet(this, null)
        return false
    }

    /** Takes the message in the handler away from the consumer, for the close; `null` if there is none. */
    @Suppress("UNCHECKED_CAST")
    fun claim(): Message<T>? = CURRENT.getAndSet(this, null) as Message<T>?

    fun isInHandler(): Boolean = current != null

    /** `true` while the consumer holds a message in its own code (see the class KDoc). */
    fun isHolding(): Boolean = holding != null

    // ------------------------------------------------------------ retirement

    fun isActive(): Boolean = status == ACTIVE

    /** Asks the consumer to stop after its current message; `false` if it was not active. */
    fun retire(): Boolean = STATUS.compareAndSet(this, ACTIVE, RETIRING)

    /** Takes back a retirement not yet acted on (the queue grew again); `false` if the consumer left. */
    fun reclaim(): Boolean = STATUS.compareAndSet(this, RETIRING, ACTIVE)

    /** The consumer acts on its retirement; `false` if it was reclaimed meanwhile (carry on then). */
    fun leave(): Boolean = STATUS.compareAndSet(this, RETIRING, EXITED)

    /** The consumer stopped for another reason (close, cancellation). */
    fun exited() {
        status = EXITED
    }

    fun hasExited(): Boolean = status == EXITED

    // ------------------------------------------------------------ blocking handlers

    /**
     * Marks the current thread as running a blocking handler for this slot. [blockedThread] is written
     * only when the consumer moved to another thread (a volatile store is a full fence: not on every
     * message), and stays set after the handler: [interruptIfBlocked] interrupts only a RUNNING slot.
     * RUNNING is published with a release store: an interrupter that reads the state a moment early
     * finds the slot IDLE and interrupts nothing, which is the same outcome as the close striking just
     * before the handler started (the close claimed the message either way).
     */
    fun enterBlocking() {
        val thread = Thread.currentThread()
        if (blockedThread !== thread) blockedThread = thread
        BLOCKING.lazySet(this, RUNNING)
    }

    /**
     * Leaves the blocking handler. If [interruptIfBlocked] got in first, waits for its interrupt to be
     * delivered and then clears it, so that no interrupt leaks onto a pooled thread's next task.
     */
    fun exitBlocking() {
        if (!BLOCKING.compareAndSet(this, RUNNING, IDLE)) {
            while (blocking == INTERRUPTING) Thread.onSpinWait()
            Thread.interrupted()
            blocking = IDLE
        }
    }

    /** Interrupts the thread of a blocking handler still running in this slot, if any. */
    fun interruptIfBlocked() {
        if (BLOCKING.compareAndSet(this, RUNNING, INTERRUPTING)) {
            blockedThread?.interrupt()
            blocking = INTERRUPTED
        }
    }

    fun countSuccess() {
        SUCCEEDED.lazySet(this, succeeded + 1)
    }

    fun countFailure() {
        FAILED.lazySet(this, failed + 1)
    }

    internal companion object {
        const val ACTIVE: Int = 0
        const val RETIRING: Int = 1
        const val EXITED: Int = 2
    }
}

private const val IDLE = 0
private const val RUNNING = 1
private const val INTERRUPTING = 2
private const val INTERRUPTED = 3

private val BLOCKING: AtomicIntegerFieldUpdater<ConsumerSlot<*>> =
    AtomicIntegerFieldUpdater.newUpdater(ConsumerSlot::class.java, "blocking")
private val STATUS: AtomicIntegerFieldUpdater<ConsumerSlot<*>> =
    AtomicIntegerFieldUpdater.newUpdater(ConsumerSlot::class.java, "status")
private val HOLDING: AtomicReferenceFieldUpdater<ConsumerSlot<*>, Message<*>?> =
    AtomicReferenceFieldUpdater.newUpdater(ConsumerSlot::class.java, Message::class.java, "holding")
private val CURRENT: AtomicReferenceFieldUpdater<ConsumerSlot<*>, Message<*>?> =
    AtomicReferenceFieldUpdater.newUpdater(ConsumerSlot::class.java, Message::class.java, "current")
private val SUCCEEDED: AtomicLongFieldUpdater<ConsumerSlot<*>> =
    AtomicLongFieldUpdater.newUpdater(ConsumerSlot::class.java, "succeeded")
private val FAILED: AtomicLongFieldUpdater<ConsumerSlot<*>> =
    AtomicLongFieldUpdater.newUpdater(ConsumerSlot::class.java, "failed")
