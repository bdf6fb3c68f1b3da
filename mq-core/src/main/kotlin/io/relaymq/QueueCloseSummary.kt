package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ

/** One queue's part of a [CloseSummary]. */
public class QueueCloseSummary internal constructor(
    /** The queue's name. */
    @get:JvmName("queue") public val queue: String,
    /** Messages whose handler finished (successfully or not) while the bus was closing. */
    @get:JvmName("processedDuringClose") public val processedDuringClose: Long,
    /**
     * Messages saved for the next start: written to the queue's snapshot or, for a durable queue, left
     * in its journal (replayed when the queue is registered again).
     */
    @get:JvmName("saved") public val saved: Long,
    /**
     * Messages given up at close and not saved: still waiting in the queue, or in a handler that was
     * cancelled. They were logged and will not be delivered.
     */
    @get:JvmName("abandoned") public val abandoned: Long,
    /** Ids of the abandoned messages, in queue order. */
    @get:JvmName("abandonedIds") public val abandonedIds: List<Long>,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    override fun toString(): String =
        "QueueCloseSummary(queue=$queue, processedDuringClose=$processedDuringClose, saved=$saved, abandoned=$abandoned)"
}
