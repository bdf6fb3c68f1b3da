package io.relaymq.internal

import io.relaymq.Message
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater
import java.util.concurrent.atomic.AtomicLongFieldUpdater
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater

/**
 * One consumer's state: the message its handler is working on, and its own outcome counters.
 *
 * The counters have a single writer (the consumer coroutine, which runs on one thread at a time) and
 * are published with `lazySet` (a release store, no fence on x86), so counting costs far less than a
 * shared atomic. Readers ([QueueEngine.stats], [QueueEngine.isSettled]) read them as volatiles.
 *
 * Whoever clears [current] with a compare-and-set owns the message's outcome: the consumer (counts it)
 * or the close that gives up on it (counts it abandoned). See [QueueEngine].
 */
internal class ConsumerSlot<T> {
    // @JvmField so that the field updaters below (in another class file) can reach the fields.
    @Volatile @JvmField internal var current: Message<*>? = null

    @Volatile @JvmField internal var succeeded: Long = 0L

    @Volatile @JvmField internal var failed: Long = 0L

    /** Set when the queue shrinks: the consumer finishes its current message and stops. */
    @Volatile @JvmField internal var retired: Boolean = false

    // Interrupt protocol for blocking handlers (the allocation-free equivalent of runInterruptible).
    @Volatile @JvmField internal var blockedThread: Thread? = null

    @Volatile @JvmField internal var blocking: Int = IDLE

    fun begin(message: Message<T>) {
        CURRENT.lazySet(this, message)
    }

    /** Ends [message]'s handling; `false` if the close already claimed it (then it is not ours to count). */
    fun finish(message: Message<T>): Boolean = CURRENT.compareAndSet(this, message, null)

    /** Takes the in-flight message away from the consumer, for abandonment; `null` if there is none. */
    @Suppress("UNCHECKED_CAST")
    fun claim(): Message<T>? = CURRENT.getAndSet(this, null) as Message<T>?

    fun isBusy(): Boolean = current != null

    /** Marks the current thread as running a blocking handler for this slot. */
    fun enterBlocking() {
        blockedThread = Thread.currentThread()
        BLOCKING.set(this, RUNNING)
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
        blockedThread = null
    }

    /** Interrupts the thread of a blocking handler still running in this slot, if any. */
    fun interruptIfBlocked() {
        if (BLOCKING.compareAndSet(this, RUNNING, INTERRUPTING)) {
            blockedThread?.interrupt()
            blocking = INTERRUPTED
        }
    }

    /** `true` when [thread] is running a blocking handler of this slot right now. */
    fun isBlockedOn(thread: Thread): Boolean = blocking == RUNNING && blockedThread === thread

    fun countSuccess() {
        SUCCEEDED.lazySet(this, succeeded + 1)
    }

    fun countFailure() {
        FAILED.lazySet(this, failed + 1)
    }
}

private const val IDLE = 0
private const val RUNNING = 1
private const val INTERRUPTING = 2
private const val INTERRUPTED = 3

private val BLOCKING: AtomicIntegerFieldUpdater<ConsumerSlot<*>> =
    AtomicIntegerFieldUpdater.newUpdater(ConsumerSlot::class.java, "blocking")
private val CURRENT: AtomicReferenceFieldUpdater<ConsumerSlot<*>, Message<*>?> =
    AtomicReferenceFieldUpdater.newUpdater(ConsumerSlot::class.java, Message::class.java, "current")
private val SUCCEEDED: AtomicLongFieldUpdater<ConsumerSlot<*>> =
    AtomicLongFieldUpdater.newUpdater(ConsumerSlot::class.java, "succeeded")
private val FAILED: AtomicLongFieldUpdater<ConsumerSlot<*>> =
    AtomicLongFieldUpdater.newUpdater(ConsumerSlot::class.java, "failed")
