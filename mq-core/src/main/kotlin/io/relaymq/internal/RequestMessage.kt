package io.relaymq.internal

import io.relaymq.Message
import java.util.concurrent.CompletableFuture

/**
 * A message whose publisher waits for the handler's result ([io.relaymq.MQ.request]). Only requests
 * pay for the [reply] reference; plain messages stay at 32 bytes.
 *
 * A [reply] already completed when a consumer takes the message (cancelled, or timed out) withdraws the
 * message: it is skipped, counted as withdrawn, never handled.
 */
internal class RequestMessage<T>(
    id: Long,
    origin: QueueOrigin,
    data: T,
    publishedOffsetMillis: Int,
    val reply: CompletableFuture<Any?>,
) : Message<T>(id, origin, data, publishedOffsetMillis)
