package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import io.relaymq.internal.UNBOUNDED_CAPACITY
import io.relaymq.internal.requireConcurrency

/**
 * Per-queue settings, fixed at registration (concurrency can also change later with
 * `setConcurrency`). Kotlin: `QueueOptions(concurrency = 4, capacity = 1_000, overflow = REJECT)`;
 * Java: `QueueOptions.builder().concurrency(4).capacity(1_000).overflow(OverflowPolicy.REJECT).build()`.
 */
public class QueueOptions(
    /** How many handlers of the queue may run at once; at least 1. */
    @get:JvmName("concurrency") public val concurrency: Int = 1,
    /**
     * How many messages may wait (accepted and not yet handed to a handler: ready, delayed, waiting for
     * their key or a retry, restored) before [overflow] applies. Retries, restored messages and dead
     * letters are never refused for room, so the count can briefly exceed it. Default: unbounded, which
     * reads as [Int.MAX_VALUE] (Java: `Integer.MAX_VALUE`); [isBounded] tells the two apart.
     */
    @get:JvmName("capacity") public val capacity: Int = UNBOUNDED_CAPACITY,
    /** What a publish to a full queue does. Default [OverflowPolicy.SUSPEND]. */
    @get:JvmName("overflow") public val overflow: OverflowPolicy = OverflowPolicy.SUSPEND,
    /** Told about each dropped message (DROP_OLDEST, DROP_NEWEST); `null` for none. */
    @get:JvmName("onDrop") public val onDrop: DropListener? = null,
    /** How failed messages are retried; `null` (the default): never, a failure is final. */
    @get:JvmName("retry") public val retry: RetryPolicy? = null,
    /**
     * A queue that receives a [DeadLetter] for each message this queue gives up on (after its last
     * attempt), whatever its capacity, also while the bus closes. It must be registered by `start()`
     * (or before this queue, on a running bus). `null` for none.
     */
    @get:JvmName("deadLetterQueue") public val deadLetterQueue: String? = null,
    /** Called with each [DeadLetter] instead of (or, with a queue too, besides) a dead-letter queue. */
    @get:JvmName("deadLetterHandler") public val deadLetterHandler: DeadLetterHandler? = null,
) {
    init {
        requireConcurrency(concurrency, "QueueOptions")
        require(capacity >= 1) { "capacity must be at least 1, was $capacity" }
        require(deadLetterQueue == null || deadLetterQueue.isNotBlank()) { "deadLetterQueue must not be blank" }
    }

    /** `true` when [capacity] is set. */
    @get:JvmName("isBounded")
    public val isBounded: Boolean
        get() = capacity != UNBOUNDED_CAPACITY

    override fun toString(): String =
        "QueueOptions(concurrency=$concurrency, capacity=${if (isBounded) capacity else "unbounded"}, overflow=$overflow" +
            (retry?.let { ", retry=$it" } ?: "") + (deadLetterQueue?.let { ", deadLetterQueue=$it" } ?: "") + ")"

    /** Java builder for [QueueOptions]; obtain one with [QueueOptions.builder]. */
    public class Builder internal constructor(@Suppress("UNUSED_PARAMETER") marker: FromRelayMQ) {
        private var concurrency = 1
        private var capacity = UNBOUNDED_CAPACITY
        private var overflow = OverflowPolicy.SUSPEND
        private var onDrop: DropListener? = null
        private var retry: RetryPolicy? = null
        private var deadLetterQueue: String? = null
        private var deadLetterHandler: DeadLetterHandler? = null

        /** See [QueueOptions.concurrency]. */
        public fun concurrency(concurrency: Int): Builder = apply { this.concurrency = concurrency }

        /** See [QueueOptions.capacity]. */
        public fun capacity(capacity: Int): Builder = apply { this.capacity = capacity }

        /** See [QueueOptions.overflow]. */
        public fun overflow(policy: OverflowPolicy?): Builder = apply {
            overflow = policy ?: throw NullPointerException("overflow policy must not be null")
        }

        /** See [QueueOptions.onDrop]. */
        public fun onDrop(listener: DropListener?): Builder = apply { onDrop = listener }

        /** See [QueueOptions.retry]. */
        public fun retry(policy: RetryPolicy?): Builder = apply { retry = policy }

        /** See [QueueOptions.deadLetterQueue]. */
        public fun deadLetterQueue(queue: String?): Builder = apply { deadLetterQueue = queue }

        /** See [QueueOptions.deadLetterHandler]. */
        public fun deadLetterHandler(handler: DeadLetterHandler?): Builder = apply { deadLetterHandler = handler }

        /** The options. @throws IllegalArgumentException for concurrency or capacity below 1. */
        public fun build(): QueueOptions =
            QueueOptions(concurrency, capacity, overflow, onDrop, retry, deadLetterQueue, deadLetterHandler)
    }

    // Private: Java sees the static QueueOptions.builder() and no Companion; Kotlin uses the constructor's named arguments.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)
    }
}
