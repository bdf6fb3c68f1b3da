package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ

/** What a fan-out publish did: the id each bound queue gave its copy. */
public class FanOutResult internal constructor(
    /** The fan-out name published to. */
    @get:JvmName("topic") public val topic: String,
    /** Queue name to the id of its copy, in binding order. */
    @get:JvmName("ids") public val ids: Map<String, Long>,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
) {
    override fun toString(): String = "FanOutResult(topic=$topic, ids=$ids)"
}
