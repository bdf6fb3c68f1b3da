package io.relaymq.internal

import io.relaymq.Message
import java.util.concurrent.CompletableFuture

/**
 * A message with more than the plain 32 bytes: a requester waiting for the result ([reply]), an
 * ordering [key], a due time (delayed delivery or a pending retry), or a retry [attempt] with its
 * first failure time. Only messages that use these pay for them.
 *
 * A [reply] already completed when a consumer takes the message (cancelled, or timed out) withdraws the
 * message: it is skipped, counted as withdrawn, never handled.
 */
internal class RichMessage<T>(
    id: Long,
    origin: QueueOrigin,
    data: T,
    publishedOffsetMillis: Int,
    val reply: CompletableFuture<Any?>?,
    private val orderingKey: String?,
    private val attemptNumber: Int,
    /** Epoch millis before which the message must not be handed to a consumer; 0 when due at once. */
    val dueAtMillis: Long,
    /** Epoch millis of the first failed attempt; [NEVER_FAILED] before any failure. */
    val firstFailureAtMillis: Long,
) : Message<T>(id, origin, data, publishedOffsetMillis) {
    override fun attemptNumber(): Int = attemptNumber

    override fun orderingKey(): String? = orderingKey

    companion object {
        /** [firstFailureAtMillis] of a message that never failed (0 is a valid time on a virtual clock). */
        const val NEVER_FAILED: Long = Long.MIN_VALUE
    }

    /** The same message for its next attempt, due at [dueAt]. */
    fun retry(dueAt: Long, firstFailureAt: Long): RichMessage<T> =
        RichMessage(id, queueOrigin, data, offsetMillis, reply, orderingKey, attemptNumber + 1, dueAt, firstFailureAt)
}

/** The reply future of [this] message, if a requester waits for it. */
internal val Message<*>.reply: CompletableFuture<Any?>?
    get() = (this as? RichMessage<*>)?.reply

/** Epoch millis before which [this] message must not be handed out; 0 when due at once. */
internal val Message<*>.dueAtMillis: Long
    get() = (this as? RichMessage<*>)?.dueAtMillis ?: 0L
