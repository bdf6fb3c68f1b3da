package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ

/**
 * A point-in-time view of one queue's counters, from [MQ.stats] or [MessageBus.stats].
 *
 * Counters are read one after another without stopping the queue, so under load the figures are
 * individually exact but not one atomic snapshot. Once the queue is idle they add up:
 * `published == succeeded + failed + dropped + withdrawn + abandoned + saved + pending + inFlight`.
 *
 * On a remote backend (Redis) the queue is shared: [published] and [rejected] count this bus's
 * publishes, the other counters what this bus's consumers did with the messages they took (`saved`:
 * given back to the store, at close or to wait there for a retry), and [cluster] has the figures
 * across every bus.
 */
public class QueueStats internal constructor(
    /** The queue's name. */
    @get:JvmName("queue") public val queue: String,
    /** How many handlers may run at once for this queue (its current concurrency). */
    @get:JvmName("concurrency") public val concurrency: Int,
    /** Messages accepted by `publish` (refused publishes are not counted). */
    @get:JvmName("published") public val published: Long,
    /** Messages handed to a handler. */
    @get:JvmName("delivered") public val delivered: Long,
    /** Messages whose handler returned normally. */
    @get:JvmName("succeeded") public val succeeded: Long,
    /** Messages whose handler threw (or whose async stage failed) on their last attempt. */
    @get:JvmName("failed") public val failed: Long,
    /** Messages given up at close, delivered or not, and not saved; see [CloseSummary]. */
    @get:JvmName("abandoned") public val abandoned: Long,
    /** Messages saved at close instead of being processed: written to the snapshot, or left in a durable queue's journal. */
    @get:JvmName("saved") public val saved: Long,
    /** Messages accepted and not yet handed to a handler. */
    @get:JvmName("pending") public val pending: Long,
    /** Messages handed to a handler whose handler has not finished yet. */
    @get:JvmName("inFlight") public val inFlight: Long,
    /**
     * Publishes refused because the queue was full ([OverflowPolicy.REJECT]) or, for a durable queue,
     * because the journal write failed ([JournalException]); not counted in [published].
     */
    @get:JvmName("rejected") public val rejected: Long,
    /** Messages dropped by [OverflowPolicy.DROP_OLDEST] or [OverflowPolicy.DROP_NEWEST]. */
    @get:JvmName("dropped") public val dropped: Long,
    /** Requests withdrawn before delivery because their result future was cancelled or timed out. */
    @get:JvmName("withdrawn") public val withdrawn: Long,
    /** Failed attempts that were retried (a message retried twice counts twice). */
    @get:JvmName("retried") public val retried: Long,
    /** Messages handed to the dead-letter queue or handler after failing for good (also in [failed]). */
    @get:JvmName("deadLettered") public val deadLettered: Long,
    /** Messages not due yet: delayed deliveries and retries waiting for their backoff (also in [pending]). */
    @get:JvmName("delayed") public val delayed: Long,
    /** Messages waiting for their ordering key to be free (also in [pending]). */
    @get:JvmName("waitingForKey") public val waitingForKey: Long,
    /** `true` while the queue is paused. */
    @get:JvmName("paused") public val paused: Boolean,
    /** The queue's capacity; `Int.MAX_VALUE` (Java: `Integer.MAX_VALUE`) when unbounded. */
    @get:JvmName("capacity") public val capacity: Int,
    /**
     * On a remote backend (Redis), the queue's figures across every bus that shares it (the last ones
     * read when the store does not answer within a second); `null` for a queue in this JVM, and on a
     * remote backend until they could be read once (the store was unreachable, or the bus is closed).
     * The other counters of a remote queue are this bus's own: what it published and what its
     * consumers did.
     */
    @get:JvmName("cluster") public val cluster: ClusterStats? = null,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    override fun toString(): String =
        "QueueStats(queue=$queue, concurrency=$concurrency, published=$published, delivered=$delivered, " +
            "succeeded=$succeeded, failed=$failed, abandoned=$abandoned, saved=$saved, pending=$pending, inFlight=$inFlight, rejected=$rejected, dropped=$dropped, " +
            "withdrawn=$withdrawn, retried=$retried, deadLettered=$deadLettered, delayed=$delayed, " +
            "waitingForKey=$waitingForKey, paused=$paused, capacity=$capacity" +
            (if (cluster != null) ", cluster=$cluster)" else ")")
}
