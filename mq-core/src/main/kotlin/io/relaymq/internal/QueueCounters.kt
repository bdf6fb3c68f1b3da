package io.relaymq.internal

import io.relaymq.QueueStats
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicLong
import java.util.concurrent.atomic.LongAdder

/**
 * Every counter of one queue, and the figures derived from them ([stats], [isSettled]).
 *
 * ## Accounting invariants (checked by `InteractionStressSpec` and the Lincheck tests)
 * - `published = ids handed out - idBase + restored - notStored` (durable publishes whose write failed). [MessageLifecycle] hands out an id only once the
 *   message will certainly be stored (the admission holds the [PublisherGate], which the close waits
 *   out before it collects what is left), so no refused publish ever consumes an id.
 * - Every published message ends exactly once: `published = succeeded + failed + dropped + withdrawn +
 *   abandoned + saved + (waiting + in handler)`. Succeeded and failed live in the consumers'
 *   [ConsumerSlot]s (single writer, no contended atomic on the hot path); the rest are written here by
 *   the one transition that ends a message that way ([MessageLifecycle]).
 * - [isSettled] reads the ends *before* it reads the ids handed out, so it can be late but never early:
 *   it never reports idle while an accepted message is unfinished.
 */
internal class QueueCounters(private val queue: String, private val sequence: AtomicLong) {
    /** Ids handed out before this run (restored from a snapshot); written before the queue is visible. */
    @Volatile var idBase: Long = 0L
    @Volatile var restored: Long = 0L

    /** Durable publishes whose journal write failed: they took an id but were never accepted. */
    val notStored = LongAdder()
    val dropped = LongAdder()
    val withdrawn = LongAdder()
    val rejected = LongAdder()
    val retried = LongAdder()
    val deadLettered = LongAdder()
    val saved = LongAdder()
    val abandoned = LongAdder()

    /** Of [saved] and [abandoned], those whose handler had started (they count as delivered). */
    val closedInHandler = LongAdder()

    /** Every consumer slot ever created (retired ones keep their counts). */
    val slots = CopyOnWriteArrayList<ConsumerSlot<*>>()

    /** Read [notStored] before the sequence: an id counted by neither would make [isSettled] early. */
    fun published(): Long {
        val refused = notStored.sum()
        return sequence.get() - idBase + restored - refused
    }

    private fun endedOutsideHandlers(): Long =
        dropped.sum() + withdrawn.sum() + saved.sum() + abandoned.sum()

    /** `true` when every accepted message reached its end (never early; see the class KDoc). */
    fun isSettled(): Boolean {
        var done = endedOutsideHandlers()
        for (slot in slots) done += slot.succeeded + slot.failed
        return done >= published()
    }

    /** Messages whose handler finished for good (succeeded or failed). */
    fun processed(): Long = slots.sumOf { it.succeeded + it.failed }

    fun stats(
        concurrency: Int,
        delayed: Int,
        waitingForKey: Int,
        paused: Boolean,
        capacity: Int?,
    ): QueueStats {
        val ended = endedOutsideHandlers()
        var succeeded = 0L
        var failed = 0L
        var busy = 0L
        for (slot in slots) {
            succeeded += slot.succeeded
            failed += slot.failed
            if (slot.isInHandler()) busy++
        }
        val published = published()
        return QueueStats(
            queue = queue,
            concurrency = concurrency,
            published = published,
            delivered = succeeded + failed + busy + closedInHandler.sum(),
            succeeded = succeeded,
            failed = failed,
            abandoned = abandoned.sum(),
            saved = saved.sum(),
            pending = (published - ended - succeeded - failed - busy).coerceAtLeast(0),
            inFlight = busy,
            rejected = rejected.sum(),
            dropped = dropped.sum(),
            withdrawn = withdrawn.sum(),
            retried = retried.sum(),
            deadLettered = deadLettered.sum(),
            delayed = delayed.toLong(),
            waitingForKey = waitingForKey.toLong(),
            paused = paused,
            capacity = capacity ?: UNBOUNDED_CAPACITY,
        )
    }
}
