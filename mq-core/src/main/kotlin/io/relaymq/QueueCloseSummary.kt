package io.relaymq

/** One queue's part of a [CloseSummary]. */
public class QueueCloseSummary internal constructor(
    /** The queue's name. */
    @get:JvmName("queue") public val queue: String,
    /** Messages whose handler finished (successfully or not) while the bus was closing. */
    @get:JvmName("processedDuringClose") public val processedDuringClose: Long,
    /**
     * Messages given up at the drain deadline: still waiting in the queue, or in a handler that was
     * cancelled. They were logged and will not be delivered.
     */
    @get:JvmName("abandoned") public val abandoned: Long,
    /** Ids of the abandoned messages, in queue order. */
    @get:JvmName("abandonedIds") public val abandonedIds: List<Long>,
) {
    override fun toString(): String =
        "QueueCloseSummary(queue=$queue, processedDuringClose=$processedDuringClose, abandoned=$abandoned)"
}
