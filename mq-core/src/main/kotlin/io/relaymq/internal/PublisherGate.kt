package io.relaymq.internal

import java.lang.invoke.VarHandle
import java.util.concurrent.atomic.LongAdder

/**
 * Lets the close know when no thread can still be storing a message into a queue.
 *
 * Every thread that may store a message without being a consumer (a publisher, a dead-letter publish
 * from another queue, a requester withdrawing its message, a publisher granted room) [enter]s first
 * and [exit]s after. [closeExternal] refuses later public publishes at once; [closeAll] refuses every
 * later entry and then waits until everyone inside has left. After [closeAll] returns, nothing outside
 * the consumers touches the queue's stores any more, so the close can collect what is left without a
 * message slipping in behind it. (This was the root of "a publish that returned an id was lost by a
 * snapshot close".)
 *
 * Entering is a Dekker handshake: the entrant counts itself (a full fence) *then* reads the flags; the
 * closer sets the flag, fences, *then* reads the counts. Either the entrant sees the flag and leaves,
 * or the closer sees the entrant and waits for it. [exited] is read before [entered]: every exit it
 * counts has its entry counted too, so equal sums mean nobody is inside.
 *
 * Nothing inside ever blocks or calls user code (drop listeners and reply callbacks run after [exit]),
 * so [closeAll] waits microseconds.
 */
internal class PublisherGate {
    // Public publishes and internal stores are counted apart, so that the close can wait out the
    // public ones alone ([awaitPublishersOut]) while dead letters and withdrawals still flow.
    private val entered = LongAdder()
    private val exited = LongAdder()
    private val internalEntered = LongAdder()
    private val internalExited = LongAdder()
    @Volatile private var externalClosed = false
    @Volatile private var allClosed = false

    /**
     * Enters; `false` (nothing to exit then) once closed: for a public publish once the queue is closed
     * for publishing, for an [internal] store (dead letter, withdrawal) only after [closeAll]. Pass the
     * same [internal] to [exit].
     */
    fun enter(internal: Boolean = false): Boolean {
        if (internal) {
            internalEntered.increment()
            if (allClosed) {
                internalExited.increment()
                return false
            }
        } else {
            entered.increment()
            if (externalClosed) {
                exited.increment()
                return false
            }
        }
        return true
    }

    fun exit(internal: Boolean = false) {
        if (internal) internalExited.increment() else exited.increment()
    }

    val isClosedForPublishing: Boolean
        get() = externalClosed

    fun closeExternal() {
        externalClosed = true
    }

    /**
     * Returns once no public publish is inside; after [closeExternal], none can enter any more. A close
     * that drains calls it before it waits for the queue to settle: a publish that entered just before
     * [closeExternal] has not taken its id yet, so the queue would look settled without it, and its
     * message, accepted, would only be found by [closeAll] and reported abandoned.
     */
    fun awaitPublishersOut() {
        check(externalClosed) { "closeExternal() first" }
        VarHandle.fullFence()
        awaitEqual(entered, exited)
    }

    /** Refuses every later entry and returns once nobody is inside. */
    fun closeAll() {
        externalClosed = true
        allClosed = true
        VarHandle.fullFence()
        awaitEqual(entered, exited)
        awaitEqual(internalEntered, internalExited)
    }

    private fun awaitEqual(entries: LongAdder, exits: LongAdder) {
        var spins = 0
        while (true) {
            val out = exits.sum()
            if (entries.sum() == out) return
            if (++spins < 100) Thread.onSpinWait() else Thread.yield() // the one inside may be descheduled
        }
    }
}
