package io.relaymq.internal

import kotlinx.coroutines.suspendCancellableCoroutine
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong

/**
 * Counts the messages of a bounded queue that are in a waiting state (ready, delayed, waiting for their
 * key, waiting for a retry; see [MessageLifecycle]) and makes publishers of a full SUSPEND queue wait
 * for room, first come first served.
 *
 * - [tryEnter] takes a place if there is room *and nobody waits or is being let in*: no barging, so a
 *   producer's later publish never overtakes its own earlier one that is waiting for room.
 * - [forceEnter] counts a message whatever the room (retries, restored messages, dead letters, the
 *   DROP_OLDEST publisher that drops one right after): the count may exceed [capacity] for a moment,
 *   and publishers then wait or are refused until it is below again.
 * - [leave] frees a place and lets the next waiter in. Waiters are let in by one thread at a time, in
 *   order ([grant] is a trampoline), and each [Waiter.granted] runs there, outside any lock: a Java
 *   publish that waited is admitted (given its id) in the order it started waiting.
 * - [close] fails every waiter, and every later one, with the given failure: never a hang.
 */
internal class CapacityGate(val capacity: Int) {
    private val count = AtomicLong()
    private val waiters = ConcurrentLinkedQueue<Waiter>()
    private val granting = AtomicInteger()
    @Volatile private var closedWith: (() -> Throwable)? = null

    /** Someone waiting for room. Exactly one of [granted] and [refused] runs, unless [cancel] wins. */
    abstract class Waiter {
        private val state = AtomicInteger(WAITING)

        fun cancel(): Boolean = state.compareAndSet(WAITING, CANCELLED)

        internal fun tryDecide(): Boolean = state.compareAndSet(WAITING, DECIDED)

        /** A place is reserved for this waiter (it now counts in the gate). */
        abstract fun granted()

        /** The gate closed while this waiter waited; no place is held. */
        abstract fun refused(failure: Throwable)

        private companion object {
            const val WAITING = 0
            const val DECIDED = 1
            const val CANCELLED = 2
        }
    }

    /** Messages counted now (may briefly exceed [capacity], see the class KDoc). */
    val size: Long
        get() = count.get()

    fun tryEnter(): Boolean {
        // Waiters first, then the trampoline: a waiter removed from the queue is still being let in
        // while `granting` is non-zero, and it must not be overtaken (see the class KDoc).
        if (!waiters.isEmpty() || granting.get() != 0) return false
        while (true) {
            val c = count.get()
            if (c >= capacity) return false
            if (count.compareAndSet(c, c + 1)) return true
        }
    }

    fun forceEnter() {
        count.incrementAndGet()
    }

    fun leave() {
        count.decrementAndGet()
        if (!waiters.isEmpty()) grant()
    }

    /** Queues [waiter] for the next free place (call after [tryEnter] failed). */
    fun await(waiter: Waiter) {
        waiters.add(waiter)
        closedWith?.let { refuseAll(it) }
        grant()
    }

    /**
     * Suspends until a place is reserved for the caller. Cancellation is atomic: when this throws
     * [kotlinx.coroutines.CancellationException], no place is held.
     * @throws Throwable what [close] was given, when the gate closes first.
     */
    suspend fun enter() {
        suspendCancellableCoroutine { cont ->
            val waiter = object : Waiter() {
                override fun granted() {
                    cont.resume(Unit) { _, _, _ -> leave() } // cancelled after all: pass the place on
                }

                override fun refused(failure: Throwable) {
                    cont.resumeWith(Result.failure(failure))
                }
            }
            cont.invokeOnCancellation { if (waiter.cancel()) waiters.remove(waiter) }
            await(waiter)
        }
    }

    /** Fails every waiter, now and later, with [failure]'s result. Idempotent. */
    fun close(failure: () -> Throwable) {
        closedWith = failure
        refuseAll(failure)
    }

    private fun refuseAll(failure: () -> Throwable) {
        while (true) {
            val waiter = waiters.poll() ?: return
            if (waiter.tryDecide()) waiter.refused(failure())
        }
    }

    private fun grant() {
        if (granting.getAndIncrement() != 0) return
        var missed = 1
        while (true) {
            while (closedWith == null) {
                val head = waiters.peek() ?: break
                val c = count.get()
                if (c >= capacity) break
                if (!count.compareAndSet(c, c + 1)) continue
                // A cancelled waiter may have removed itself since peek(): then the place goes back.
                if (!waiters.remove(head) || !head.tryDecide()) {
                    count.decrementAndGet()
                    continue
                }
                head.granted()
            }
            missed = granting.addAndGet(-missed)
            if (missed == 0) return
        }
    }
}
