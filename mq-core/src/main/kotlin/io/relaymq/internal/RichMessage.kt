package io.relaymq.internal

import io.relaymq.Message
import kotlinx.coroutines.CompletableDeferred
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
    /** Who waits for the result: a `CompletableFuture` (Java) or a `CompletableDeferred` (Kotlin). */
    val reply: Any?,
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

/** Hands [result] to whoever waits for [this] message's result, if anyone. */
internal fun Message<*>.replyWith(result: Any?) {
    when (val reply = (this as? RichMessage<*>)?.reply) {
        null -> {}
        is CompletableDeferred<*> -> @Suppress("UNCHECKED_CAST") (reply as CompletableDeferred<Any?>).complete(result)
        is CompletableFuture<*> -> @Suppress("UNCHECKED_CAST") (reply as CompletableFuture<Any?>).complete(result)
    }
}

/** Hands [failure] to whoever waits for [this] message's result, if anyone. */
internal fun Message<*>.replyWithFailure(failure: Throwable) {
    when (val reply = (this as? RichMessage<*>)?.reply) {
        null -> {}
        is CompletableDeferred<*> -> reply.completeExceptionally(failure)
        is CompletableFuture<*> -> reply.completeExceptionally(failure)
    }
}

/** `true` when someone waited for [this] message's result and stopped (cancelled, timed out): withdraw it. */
internal val Message<*>.isWithdrawn: Boolean
    get() = when (val reply = (this as? RichMessage<*>)?.reply) {
        null -> false
        is CompletableDeferred<*> -> reply.isCompleted
        is CompletableFuture<*> -> reply.isDone
        else -> false
    }

/** Epoch millis before which [this] message must not be handed out; 0 when due at once. */
internal val Message<*>.dueAtMillis: Long
    get() = (this as? RichMessage<*>)?.dueAtMillis ?: 0L
