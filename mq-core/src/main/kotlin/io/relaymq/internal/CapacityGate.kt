package io.relaymq.internal

import kotlinx.coroutines.channels.Channel
import java.util.concurrent.atomic.AtomicLong

/**
 * Bounds how many messages of a queue wait (accepted, not yet handed to a handler). Publishers enter,
 * consumers leave when they take a message (or when one is dropped or withdrawn).
 */
internal sealed class CapacityGate(val capacity: Int) {
    /** Enters without waiting; `false` when full (nothing counted then). */
    abstract fun tryEnter(): Boolean

    /** Enters, counting even past capacity (DROP_OLDEST: the caller then drops one). */
    abstract fun forceEnter()

    /** Waits for room, then enters. Cancellation: nothing is counted if cancelled. */
    abstract suspend fun enter()

    abstract fun leave()

    /** Closing the queue: publishers waiting for room fail (SUSPEND); later [enter]s fail at once. */
    open fun close() {}

    /** A counter for REJECT and the DROP policies. */
    class Counting(capacity: Int) : CapacityGate(capacity) {
        private val waiting = AtomicLong()

        override fun tryEnter(): Boolean {
            if (waiting.incrementAndGet() <= capacity) return true
            waiting.decrementAndGet()
            return false
        }

        override fun forceEnter() {
            waiting.incrementAndGet()
        }

        override suspend fun enter() = throw UnsupportedOperationException("only SUSPEND queues wait for room")

        override fun leave() {
            waiting.decrementAndGet()
        }
    }

    /**
     * For SUSPEND: one token per waiting message in a channel of [capacity]. Publishers waiting for room
     * are suspended senders, served in the order they came (channels are fair), and [close] cancels the
     * channel so that none of them waits forever.
     */
    class Suspending(capacity: Int) : CapacityGate(capacity) {
        private val tokens = Channel<Unit>(capacity)

        override fun tryEnter(): Boolean = tokens.trySend(Unit).isSuccess

        override fun forceEnter() = throw UnsupportedOperationException("SUSPEND queues never exceed their capacity")

        override suspend fun enter() = tokens.send(Unit)

        override fun leave() {
            tokens.tryReceive()
        }

        override fun close() {
            tokens.cancel()
        }
    }
}
