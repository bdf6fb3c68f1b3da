package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ

/**
 * What closing a bus did, returned by [MQ.shutdown] and [MessageBus.shutdown].
 *
 * Every message accepted before the close is accounted for: it was processed before the close began,
 * processed during it ([processedDuringClose]), saved for the next start ([saved]: written to the
 * snapshot, with a snapshot directory, or left in a durable queue's journal), or given up ([abandoned], also logged with its queue and ids).
 */
public class CloseSummary internal constructor(
    /** Per-queue figures, keyed by queue name, in registration order. */
    @get:JvmName("queues") public val queues: Map<String, QueueCloseSummary>,
    /** `true` when the drain timeout expired and the remaining work was cancelled. */
    @get:JvmName("timedOut") public val timedOut: Boolean,
    snapshotFailure: SnapshotException?,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    /** Messages whose handler finished (successfully or not) while the bus was closing, all queues. */
    @get:JvmName("processedDuringClose")
    public val processedDuringClose: Long
        get() = queues.values.sumOf { it.processedDuringClose }

    /** Messages saved for the next start instead of being processed (snapshot, or a durable queue's journal), all queues. */
    @get:JvmName("saved")
    public val saved: Long
        get() = queues.values.sumOf { it.saved }

    /** Set when writing a snapshot failed; [MQ.shutdown] and [MessageBus.close] throw it (carrying this summary). */
    @get:JvmSynthetic
    internal val failure: SnapshotException? =
        snapshotFailure?.let { SnapshotException(it.message ?: "writing a snapshot failed", it.cause, this) }
            ?.also { copy -> snapshotFailure.suppressed.forEach(copy::addSuppressed) }

    /** Returns this summary, or throws the snapshot failure it records. */
    @JvmSynthetic
    internal fun orThrow(): CloseSummary = failure?.let { throw it } ?: this

    /** Messages accepted but never processed to the end and not saved, all queues. */
    @get:JvmName("abandoned")
    public val abandoned: Long
        get() = queues.values.sumOf { it.abandoned }

    override fun toString(): String =
        "CloseSummary(processedDuringClose=$processedDuringClose, saved=$saved, abandoned=$abandoned, timedOut=$timedOut, " +
            "queues=${queues.values})"
}
