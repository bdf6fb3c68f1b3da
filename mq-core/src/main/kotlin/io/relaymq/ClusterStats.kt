package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import java.time.Instant

/**
 * A queue's figures across every bus that shares it through a remote backend (Redis), as read from the
 * store at [asOf]. [QueueStats.cluster] carries them; in-memory queues have none.
 */
public class ClusterStats internal constructor(
    /** Messages stored and not yet finished: ready, being handled, or delayed. */
    @get:JvmName("length") public val length: Long,
    /** Handed to a consumer (in any process) and not yet finished. */
    @get:JvmName("pending") public val pending: Long,
    /** Ready and not yet handed to any consumer: the backlog. */
    @get:JvmName("lag") public val lag: Long,
    /** Waiting for their due time (delayed publishes). */
    @get:JvmName("delayed") public val delayed: Long,
    /** Consumers (buses) active in the last visibility timeout. */
    @get:JvmName("consumers") public val consumers: Int,
    /** When these figures were read; older than a few seconds when the store could not be reached since. */
    @get:JvmName("asOf") public val asOf: Instant,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    override fun toString(): String =
        "ClusterStats(length=$length, pending=$pending, lag=$lag, delayed=$delayed, consumers=$consumers, asOf=$asOf)"
}
