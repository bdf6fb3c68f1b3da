package io.relaymq.internal

import io.relaymq.Message
import java.util.concurrent.CompletableFuture
import java.util.concurrent.atomic.AtomicIntegerFieldUpdater

/**
 * A message with more than the plain 24 bytes: a requester waiting for the result ([reply]), an
 * ordering [key], a due time (delayed delivery or a pending retry), or a retry [attempt] with its
 * first failure time. Only messages that use these pay for them.
 *
 * A message with a [reply] can be withdrawn while it waits (its requester cancelled or timed out), by
 * a thread that is neither a consumer nor the close. [claim] settles that race: whoever moves
 * [claimState] away from [WAITING] first (a consumer taking it, an overflow policy dropping it, the
 * close saving it, or the withdrawal) owns the message's next step; the loser leaves it alone. See
 * [MessageLifecycle].
 */
internal class RichMessage<T>(
    origin: QueueOrigin,
    data: T,
    idAndTime: Int,
    /** Who waits for the result: a `CompletableFuture` (Java), a [KotlinReply], or a [RemoteReply] (remote backend). */
    val reply: Any?,
    private val orderingKey: String?,
    private val attemptNumber: Int,
    /** Epoch millis before which the message must not be handed to a consumer; 0 when due at once. */
    val dueAtMillis: Long,
    /** Epoch millis of the first failed attempt; [NEVER_FAILED] before any failure. */
    val firstFailureAtMillis: Long,
) : Message<T>(origin, data, idAndTime) {
    @Volatile @JvmField internal var claimState: Int = WAITING

    override fun attemptNumber(): Int = attemptNumber

    override fun orderingKey(): String? = orderingKey

    /** The same message for its next attempt, due at [dueAt]. Its reply still waits: it is claimable again. */
    fun retry(dueAt: Long, firstFailureAt: Long): RichMessage<T> =
        RichMessage(queueOrigin, data, packedIdAndTime, reply, orderingKey, attemptNumber + 1, dueAt, firstFailureAt)

    companion object {
        /** [firstFailureAtMillis] of a message that never failed (0 is a valid time on a virtual clock). */
        const val NEVER_FAILED: Long = Long.MIN_VALUE

        const val WAITING: Int = 0
        const val CLAIMED: Int = 1
        const val WITHDRAWN: Int = 2

        val CLAIM: AtomicIntegerFieldUpdater<RichMessage<*>> =
            AtomicIntegerFieldUpdater.newUpdater(RichMessage::class.java, "claimState")
    }
}

/**
 * Takes [this] waiting message for its next step (handler, drop, save, abandon); `false` when its
 * requester withdrew it first (it is then already counted as withdrawn: skip it). Plain messages
 * cannot be withdrawn, so for them this is free.
 */
internal fun Message<*>.claim(): Boolean {
    val rich = this as? RichMessage<*> ?: return true
    if (rich.reply == null) return true
    return RichMessage.CLAIM.compareAndSet(rich, RichMessage.WAITING, RichMessage.CLAIMED)
}

/** [this] message, taken by a consumer, waits again (for its key): its requester may withdraw it again. */
internal fun Message<*>.unclaim() {
    val rich = this as? RichMessage<*> ?: return
    if (rich.reply != null) rich.claimState = RichMessage.WAITING
}

/** Withdraws [this] waiting message for its requester; `false` when something else claimed it first. */
internal fun Message<*>.tryWithdraw(): Boolean {
    val rich = this as? RichMessage<*> ?: return false
    return RichMessage.CLAIM.compareAndSet(rich, RichMessage.WAITING, RichMessage.WITHDRAWN)
}

/** `true` when [this] message was withdrawn by its requester: a husk to skip. */
internal val Message<*>.isWithdrawn: Boolean
    get() = (this as? RichMessage<*>)?.claimState == RichMessage.WITHDRAWN

/** Hands [result] to whoever waits for [this] message's result, if anyone. */
internal fun Message<*>.replyWith(result: Any?) {
    when (val reply = (this as? RichMessage<*>)?.reply) {
        null -> {}
        is KotlinReply -> reply.complete(result)
        is CompletableFuture<*> -> @Suppress("UNCHECKED_CAST") (reply as CompletableFuture<Any?>).complete(result)
        is RemoteReply -> reply.succeeded(result)
    }
}

/** Hands [failure] to whoever waits for [this] message's result, if anyone. */
internal fun Message<*>.replyWithFailure(failure: Throwable) {
    when (val reply = (this as? RichMessage<*>)?.reply) {
        null -> {}
        is KotlinReply -> reply.completeExceptionally(failure)
        is CompletableFuture<*> -> reply.completeExceptionally(failure)
        is RemoteReply -> reply.failed(failure)
    }
}

/** Epoch millis before which [this] message must not be handed out; 0 when due at once. */
internal val Message<*>.dueAtMillis: Long
    get() = (this as? RichMessage<*>)?.dueAtMillis ?: 0L
