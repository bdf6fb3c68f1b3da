package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ

/**
 * A fan-out publish that some bound queues refused. The queues in [accepted] did take their copy (it
 * will be handled); those in [refused] did not, each with its reason.
 */
public class FanOutException internal constructor(
    /** The fan-out name published to. */
    @get:JvmName("topic") public val topic: String,
    /** Queues that accepted their copy, with its id. */
    @get:JvmName("accepted") public val accepted: Map<String, Long>,
    /** Queues that refused, with why. */
    @get:JvmName("refused") public val refused: Map<String, Throwable>,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) : IllegalStateException(
    "Fan-out '$topic': ${refused.size} queue(s) refused the message: " +
        refused.entries.joinToString { "'${it.key}' (${it.value.message})" } +
        "; accepted by ${if (accepted.isEmpty()) "none" else accepted.keys.joinToString { "'$it'" }}.",
)
