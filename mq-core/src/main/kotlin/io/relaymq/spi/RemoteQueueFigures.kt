package io.relaymq.spi

/** A queue's figures across every bus that shares it, as a [RemoteBackend] reads them from its store. */
public class RemoteQueueFigures(
    /** Messages stored and not yet acknowledged: waiting, handed out, or delayed. */
    @get:JvmName("length") public val length: Long,
    /** Handed to a consumer and not yet acknowledged. */
    @get:JvmName("pending") public val pending: Long,
    /** Ready and not yet handed to any consumer. */
    @get:JvmName("lag") public val lag: Long,
    /** Waiting for their due time. */
    @get:JvmName("delayed") public val delayed: Long,
    /** Consumers (buses) that took part in the last visibility timeout. */
    @get:JvmName("consumers") public val consumers: Int,
)
