package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import io.relaymq.internal.UNBOUNDED_CAPACITY
import io.relaymq.internal.requireConcurrency

/**
 * Per-queue settings, fixed at registration (concurrency can also change later with
 * `setConcurrency`). Kotlin: `QueueOptions(concurrency = 4, capacity = 1_000, overflow = REJECT,
 * codec = orderCodec)`; Java: `QueueOptions.builder().concurrency(4).capacity(1_000)
 * .overflow(OverflowPolicy.REJECT).codec(orderCodec).build()`.
 *
 * ## The queue's payload type
 * A queue may know the class of its payloads; then a publish of anything else fails at once with
 * [IllegalArgumentException] instead of a `ClassCastException` in the handler later. The class comes
 * from, most specific last:
 * 1. Kotlin: the handler's type (`registerQueue<Order>`). Java handlers are erased: none.
 * 2. Java: [payloadType] (`QueueOptions.builder().payloadType(Order.class)`); Kotlin has no setter for
 *    it (1 says it), and a [payloadType] that reaches Kotlin's `registerQueue<T>` must be `T` or a subclass.
 * 3. [codec]: its `type()`, when neither 1 nor 2 gives one. When they do, the codec's type must be that
 *    class or a subclass (restored payloads are the codec's, and are handed to the handler).
 *
 * Registration checks that the sources agree and fails with [IllegalArgumentException] naming both
 * classes when they do not. A Java queue with neither [payloadType] nor [codec] takes any payload.
 */
public class QueueOptions private constructor(
    /** How many handlers of the queue may run at once; at least 1. */
    @get:JvmName("concurrency") public val concurrency: Int,
    /**
     * How many messages may wait (accepted and not yet handed to a handler: ready, delayed, waiting for
     * their key or a retry, restored) before [overflow] applies. Retries, restored messages and dead
     * letters are never refused for room, so the count can briefly exceed it. Default: unbounded, which
     * reads as [Int.MAX_VALUE] (Java: `Integer.MAX_VALUE`); [isBounded] tells the two apart.
     */
    @get:JvmName("capacity") public val capacity: Int,
    /** What a publish to a full queue does. Default [OverflowPolicy.SUSPEND]. */
    @get:JvmName("overflow") public val overflow: OverflowPolicy,
    /** Told about each dropped message (DROP_OLDEST, DROP_NEWEST); `null` for none. */
    @get:JvmName("onDrop") public val onDrop: DropListener?,
    /** How failed messages are retried; `null` (the default): never, a failure is final. */
    @get:JvmName("retry") public val retry: RetryPolicy?,
    /**
     * A queue that receives a [DeadLetter] for each message this queue gives up on (after its last
     * attempt), whatever its capacity, also while the bus closes. It must be registered by `start()`
     * (or before this queue, on a running bus). `null` for none.
     */
    @get:JvmName("deadLetterQueue") public val deadLetterQueue: String?,
    /** Called with each [DeadLetter] instead of (or, with a queue too, besides) a dead-letter queue. */
    @get:JvmName("deadLetterHandler") public val deadLetterHandler: DeadLetterHandler?,
    /**
     * How the queue's payloads cross the disk, on a bus with a snapshot directory (ignored without one,
     * except as a source of the payload type, see the class KDoc). `null` (the default): `String`,
     * `byte[]` and [DeadLetter] payloads are saved with a built-in codec, and a queue of any other known
     * payload type is refused at registration on such a bus. A payload the codec cannot encode
     * ([MessageCodec.canEncode]) is refused at publish.
     */
    @get:JvmName("codec") public val codec: MessageCodec<*>?,
    /** Java: the class every payload of the queue must be an instance of (see the class KDoc); `null` for none. */
    @get:JvmName("payloadType") public val payloadType: Class<*>?,
    /**
     * `true`: the queue keeps a crash-safe journal in the bus's journal directory. A publish completes
     * only once its message is on disk (as the bus's [FsyncPolicy] says), and registering the queue
     * again after a crash or a close replays every message that had not ended, with its id, payload,
     * attempt, due time and ordering key. Delivery is at least once: a message whose handler finished
     * just before a crash may be delivered again. `String` and `byte[]` payloads need no [codec]; other
     * types need one. Registering a durable queue on a bus without a journal directory fails. Default
     * `false`: the queue lives in memory (and in the close snapshot, if the bus has one).
     */
    @get:JvmName("isDurable") public val durable: Boolean,
) {
    /**
     * Kotlin's way to make options: named arguments, every one optional (the properties say what each
     * means and its default). The payload type is the handler's (`registerQueue<T>`).
     * @throws IllegalArgumentException for concurrency or capacity below 1, or a blank deadLetterQueue.
     */
    public constructor(
        concurrency: Int = 1,
        capacity: Int = UNBOUNDED_CAPACITY,
        overflow: OverflowPolicy = OverflowPolicy.SUSPEND,
        onDrop: DropListener? = null,
        retry: RetryPolicy? = null,
        deadLetterQueue: String? = null,
        deadLetterHandler: DeadLetterHandler? = null,
        codec: MessageCodec<*>? = null,
        durable: Boolean = false,
    ) : this(concurrency, capacity, overflow, onDrop, retry, deadLetterQueue, deadLetterHandler, codec, null, durable)

    init {
        requireConcurrency(concurrency, "QueueOptions")
        require(capacity >= 1) { "QueueOptions: capacity must be at least 1 (omit it for an unbounded queue), was $capacity" }
        require(deadLetterQueue == null || deadLetterQueue.isNotBlank()) {
            "QueueOptions: deadLetterQueue must not be blank; name a registered queue, or pass null for none"
        }
    }

    /** These options without a capacity, overflow policy, drop listener or journal (a remote queue's local engine). */
    @JvmSynthetic
    internal fun localPart(): QueueOptions =
        QueueOptions(concurrency, UNBOUNDED_CAPACITY, OverflowPolicy.SUSPEND, null, retry, deadLetterQueue, deadLetterHandler, codec, payloadType, false)

    /** `true` when [capacity] is set. */
    @get:JvmName("isBounded")
    public val isBounded: Boolean
        get() = capacity != UNBOUNDED_CAPACITY

    override fun toString(): String =
        "QueueOptions(concurrency=$concurrency, capacity=${if (isBounded) capacity else "unbounded"}, overflow=$overflow" +
            (retry?.let { ", retry=$it" } ?: "") + (deadLetterQueue?.let { ", deadLetterQueue=$it" } ?: "") +
            (codec?.let { ", codec=$it" } ?: "") + (payloadType?.let { ", payloadType=${it.name}" } ?: "") +
            (if (durable) ", durable" else "") + ")"

    /** Java builder for [QueueOptions]; obtain one with `QueueOptions.builder()`. */
    public class Builder internal constructor(@Suppress("UNUSED_PARAMETER") marker: FromRelayMQ) {
        private var concurrency = 1
        private var capacity = UNBOUNDED_CAPACITY
        private var overflow = OverflowPolicy.SUSPEND
        private var onDrop: DropListener? = null
        private var retry: RetryPolicy? = null
        private var deadLetterQueue: String? = null
        private var deadLetterHandler: DeadLetterHandler? = null
        private var codec: MessageCodec<*>? = null
        private var payloadType: Class<*>? = null
        private var durable = false

        /** See [QueueOptions.concurrency]. */
        public fun concurrency(concurrency: Int): Builder = apply { this.concurrency = concurrency }

        /** See [QueueOptions.capacity]. */
        public fun capacity(capacity: Int): Builder = apply { this.capacity = capacity }

        /** See [QueueOptions.overflow]. @throws NullPointerException for a null policy. */
        public fun overflow(policy: OverflowPolicy): Builder = apply { overflow = policy }

        /** See [QueueOptions.onDrop]; `null` for none. */
        public fun onDrop(listener: DropListener?): Builder = apply { onDrop = listener }

        /** See [QueueOptions.retry]; `null` for none. */
        public fun retry(policy: RetryPolicy?): Builder = apply { retry = policy }

        /** See [QueueOptions.deadLetterQueue]; `null` for none. */
        public fun deadLetterQueue(queue: String?): Builder = apply { deadLetterQueue = queue }

        /** See [QueueOptions.deadLetterHandler]; `null` for none. */
        public fun deadLetterHandler(handler: DeadLetterHandler?): Builder = apply { deadLetterHandler = handler }

        /**
         * See [QueueOptions.codec]; `null` for none. Also makes the queue check payloads against the
         * codec's `type()` at publish when [payloadType] is not given.
         */
        public fun codec(codec: MessageCodec<*>?): Builder = apply { this.codec = codec }

        /**
         * See [QueueOptions.payloadType]: publishing anything that is not a [type] (or a subclass) fails
         * with [IllegalArgumentException]. A [codec] given too must handle [type] or a subclass of it.
         * `null` for none.
         */
        public fun payloadType(type: Class<*>?): Builder = apply { payloadType = type }

        /** See [QueueOptions.durable]. */
        public fun durable(durable: Boolean): Builder = apply { this.durable = durable }

        /** The options. @throws IllegalArgumentException for concurrency or capacity below 1, or a blank deadLetterQueue. */
        public fun build(): QueueOptions =
            QueueOptions(concurrency, capacity, overflow, onDrop, retry, deadLetterQueue, deadLetterHandler, codec, payloadType, durable)
    }

    // Private: Java sees the static QueueOptions.builder() and no Companion; Kotlin uses the constructor's named arguments.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)
    }
}
