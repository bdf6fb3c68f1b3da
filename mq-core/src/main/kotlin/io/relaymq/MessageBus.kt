package io.relaymq

import io.relaymq.internal.Bus
import io.relaymq.internal.RequestFuture
import io.relaymq.internal.BusSettings
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.future.asCompletableFuture
import kotlinx.coroutines.future.await
import java.util.concurrent.CompletionException
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.time.toKotlinDuration
import java.time.Duration as JavaDuration

/**
 * RelayMQ for Java: named queues with N worker threads each, over the same engine as [MQ].
 *
 * ```java
 * try (MessageBus bus = MessageBus.builder().build()) {
 *     bus.registerQueue("mail", 4, (Message<String> m) -> mailer.send(m.data()));
 *     bus.start();
 *     long id = bus.publish("mail", "hello@example.com").join();
 * } // close(): drains what was accepted, for up to the drain timeout
 * ```
 *
 * Handlers registered with [registerQueue] may block: each such queue runs its handlers on the
 * builder's [Builder.executor], or by default on a pool that grows to exactly `concurrency` threads
 * for that queue. Guarantees (delivery, ordering, close) are those of [MQ].
 *
 * All methods are thread-safe.
 */
public class MessageBus private constructor(settings: BusSettings) : AutoCloseable {
    private val bus = Bus(settings)
    private val executorDispatcher: CoroutineContext? = settings.executor?.asCoroutineDispatcher()

    /**
     * Registers a queue whose [handler] may block; it runs on up to [concurrency] threads at once.
     * Before or after [start]. With a snapshot directory, `String` and `byte[]` payloads are saved with
     * a built-in codec; other payloads need an overload with a [MessageCodec].
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank name, a name already registered, or concurrency < 1.
     * @throws NullPointerException for a null name or handler.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked, or (strict) the snapshot corrupt.
     */
    public fun <T> registerQueue(name: String?, concurrency: Int, handler: MessageHandler<T>?): MessageBus =
        registerQueue(name, options(concurrency), handler)

    /**
     * Registers a queue whose [handler] may block, saving its payloads to snapshots with [codec] (used
     * only when the bus has a snapshot directory; payloads the codec cannot take are refused at
     * publish). Otherwise as [registerQueue] without a codec.
     */
    public fun <T> registerQueue(name: String?, concurrency: Int, codec: MessageCodec<T>?, handler: MessageHandler<T>?): MessageBus =
        registerQueue(name, options(concurrency), nonNull(codec, "codec"), handler)

    /** Registers a queue with [options] (capacity, overflow policy, drop listener, concurrency). */
    public fun <T> registerQueue(name: String?, options: QueueOptions?, handler: MessageHandler<T>?): MessageBus =
        registerBlocking(name, options, null, suspending(name, handler))

    /** Registers a queue with [options] and a [codec] for snapshots. */
    public fun <T> registerQueue(
        name: String?,
        options: QueueOptions?,
        codec: MessageCodec<T>?,
        handler: MessageHandler<T>?,
    ): MessageBus = registerBlocking(name, options, nonNull(codec, "codec"), suspending(name, handler))

    private fun <T> suspending(name: String?, handler: MessageHandler<T>?): suspend (Message<T>) -> Any? {
        val blocking = nonNull(handler, "MessageHandler of queue '$name'")
        return { message ->
            blocking.handle(message)
            null // a request to a MessageHandler queue completes with null, not kotlin.Unit
        }
    }

    /**
     * Registers a queue whose [function] returns a result: [request] returns it through its future. The
     * function may block, like a [MessageHandler]; [publish] to the queue works too (result discarded).
     */
    public fun <T, R> registerReplyingQueue(name: String?, concurrency: Int, function: MessageFunction<T, R>?): MessageBus =
        registerReplyingQueue(name, options(concurrency), function)

    /** [registerReplyingQueue] with [options] (capacity, overflow policy, ...). */
    public fun <T, R> registerReplyingQueue(name: String?, options: QueueOptions?, function: MessageFunction<T, R>?): MessageBus {
        val fn = nonNull(function, "MessageFunction of queue '$name'")
        return registerBlocking(name, options, null) { message: Message<T> -> fn.apply(message) }
    }

    private fun <T> registerBlocking(
        name: String?,
        options: QueueOptions?,
        codec: MessageCodec<T>?,
        handler: suspend (Message<T>) -> Any?,
    ): MessageBus {
        val queueName = nonNull(name, "Queue name")
        bus.register(
            name = queueName,
            options = nonNull(options, "options"),
            type = codec?.type(),
            codec = codec,
            handler = handler,
            blocking = true,
            // Each batch of consumers (at registration, then per resize) gets its own view of the IO pool,
            // as wide as the batch: together they never exceed the queue's consumer count.
            consumerContext = { n -> executorDispatcher ?: Dispatchers.IO.limitedParallelism(n) },
        )
        return this
    }

    /**
     * Registers a queue whose [handler] starts work and returns a [java.util.concurrent.CompletionStage];
     * up to [concurrency] stages may be outstanding at once. The handler itself must not block. The
     * stage's value is the result a [request] receives.
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank name, a name already registered, or concurrency < 1.
     * @throws NullPointerException for a null name or handler.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked, or (strict) the snapshot corrupt.
     */
    public fun <T> registerAsyncQueue(name: String?, concurrency: Int, handler: AsyncMessageHandler<T>?): MessageBus =
        registerAsync(name, options(concurrency), null, handler)

    /** [registerAsyncQueue] with a [MessageCodec] for snapshots; see [registerQueue] with a codec. */
    public fun <T> registerAsyncQueue(
        name: String?,
        concurrency: Int,
        codec: MessageCodec<T>?,
        handler: AsyncMessageHandler<T>?,
    ): MessageBus = registerAsync(name, options(concurrency), nonNull(codec, "codec"), handler)

    /** [registerAsyncQueue] with [options] (capacity, overflow policy, ...). */
    public fun <T> registerAsyncQueue(name: String?, options: QueueOptions?, handler: AsyncMessageHandler<T>?): MessageBus =
        registerAsync(name, options, null, handler)

    private fun <T> registerAsync(name: String?, options: QueueOptions?, codec: MessageCodec<T>?, handler: AsyncMessageHandler<T>?): MessageBus {
        val queueName = nonNull(name, "Queue name")
        val asyncHandler = nonNull(handler, "AsyncMessageHandler of queue '$queueName'")
        bus.register(
            name = queueName,
            options = nonNull(options, "options"),
            type = codec?.type(),
            codec = codec,
            handler = { message: Message<T> ->
                // Kotlin types the result as non-null, but a Java implementation can still return null.
                @Suppress("USELESS_ELVIS")
                val stage = asyncHandler.handle(message)
                    ?: throw NullPointerException("AsyncMessageHandler of queue '$queueName' returned null for message ${message.id}")
                stage.await()
            },
            blocking = false,
            consumerContext = { EmptyCoroutineContext },
        )
        return this
    }

    /**
     * Starts every registered queue. Messages published before start are delivered now.
     *
     * @throws IllegalStateException if already started.
     * @throws BusClosedException if the bus is closing or closed.
     */
    public fun start() {
        bus.start()
    }

    /**
     * Publishes [data] to [queue].
     *
     * Argument errors are thrown at once: [NullPointerException] for a null queue name or payload,
     * [UnknownQueueException] for a queue that is not registered, [IllegalArgumentException] for a
     * payload the queue's snapshot codec cannot encode. State errors fail the returned future: during
     * or after [close], [BusClosedException]; a full queue with [OverflowPolicy.REJECT],
     * [QueueFullException]. A full queue with [OverflowPolicy.SUSPEND] completes the future once there
     * is room (no thread waits).
     *
     * @return a future that completes with the message's id once the queue has accepted it.
     */
    public fun publish(queue: String?, data: Any?): CompletableFuture<Long> =
        bus.publishAsync(nonNull(queue, "Queue name"), payload(queue, data), null, null, 0L)

    /**
     * Publishes [data] to [queue] with per-message [options]: an ordering key, a delay or a due time. A
     * delayed message is accepted now (the future completes with its id) and handed to a consumer no
     * sooner than its due time. Errors as for [publish].
     */
    public fun publish(queue: String?, data: Any?, options: PublishOptions?): CompletableFuture<Long> {
        val publishOptions = nonNull(options, "options")
        return bus.publishAsync(nonNull(queue, "Queue name"), payload(queue, data), null, publishOptions.key, bus.dueAtOf(publishOptions))
    }

    /**
     * Binds the fan-out name [name] to [queues]: [fanOut] to it publishes one copy to each.
     * @throws IllegalArgumentException for a blank or already bound name, or an empty or repeating list.
     * @throws UnknownQueueException for a queue that is not registered.
     */
    public fun bindFanOut(name: String?, vararg queues: String): MessageBus {
        bus.fanOuts.bind(nonNull(name, "Fan-out name"), queues.toList())
        return this
    }

    /**
     * Publishes [data] once to every queue bound to the fan-out [name]. The future completes with the id
     * of each copy, or fails with [FanOutException] naming the queues that refused (the others did
     * accept their copy).
     * @throws IllegalArgumentException when no fan-out is bound under [name].
     */
    public fun fanOut(name: String?, data: Any?): CompletableFuture<FanOutResult> {
        val topic = nonNull(name, "Fan-out name")
        return bus.fanOuts.publishAsync(topic, payload(topic, data), null)
    }

    /** [fanOut] with per-message [options] (an ordering key, a delay or a due time) for every copy. */
    public fun fanOut(name: String?, data: Any?, options: PublishOptions?): CompletableFuture<FanOutResult> {
        val topic = nonNull(name, "Fan-out name")
        return bus.fanOuts.publishAsync(topic, payload(topic, data), nonNull(options, "options"))
    }

    /**
     * Publishes [data] to [queue] and returns a future of the handler's outcome: the value a
     * [MessageFunction] or async stage returned (`null` for a [MessageHandler]), or the exception the
     * handler threw. Errors are reported as by [publish] (state errors fail this future).
     *
     * Cancelling the future before a consumer took the message withdraws it: it is never handled. A
     * message dropped by the overflow policy, or not processed because the bus closed, fails the future
     * with [MessageDroppedException].
     */
    public fun <R> request(queue: String?, data: Any?): CompletableFuture<R> = request(queue, data, null)

    /**
     * [request] with a [timeout]: the future fails with [java.util.concurrent.TimeoutException] when it
     * elapses, and the message is withdrawn if no consumer took it yet.
     */
    public fun <R> request(queue: String?, data: Any?, timeout: JavaDuration?): CompletableFuture<R> {
        val queueName = nonNull(queue, "Queue name")
        val payload = payload(queueName, data)
        val reply = RequestFuture<Any?>() // withdraws its message before it ends early
        if (timeout != null) reply.orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS)
        bus.publishAsync(queueName, payload, reply, null, 0L)
        @Suppress("UNCHECKED_CAST")
        return reply as CompletableFuture<R>
    }

    private fun options(concurrency: Int): QueueOptions = QueueOptions(concurrency = concurrency)

    private fun payload(queue: String?, data: Any?): Any = data ?: throw NullPointerException(
        "Null payload published to queue '$queue': RelayMQ messages carry data; wrap absence in your own type.",
    )

    /**
     * Pauses [queue]: its consumers take nothing new until [resume]; handlers already running finish.
     * Publishing goes on, within the queue's capacity. Closing the bus resumes it to drain.
     */
    public fun pause(queue: String?) {
        bus.engine(nonNull(queue, "Queue name")).pause()
    }

    /** Resumes a paused [queue]. */
    public fun resume(queue: String?) {
        bus.engine(nonNull(queue, "Queue name")).resume()
    }

    /**
     * Changes how many handlers of [queue] may run at once, while running: growing starts consumers at
     * once, shrinking lets the surplus ones finish their current message and stop. Nothing is lost or
     * handled twice.
     */
    public fun setConcurrency(queue: String?, concurrency: Int) {
        bus.engine(nonNull(queue, "Queue name")).setConcurrency(concurrency)
    }

    /**
     * A future that completes once every queue is idle: every accepted message processed (or
     * abandoned) and no handler running. Meant for tests and batch jobs; cancelling it stops waiting.
     */
    public fun idle(): CompletableFuture<Void?> = bus.idleFuture()

    /** The counters of [queue]. @throws UnknownQueueException if no such queue is registered. */
    public fun stats(queue: String?): QueueStats = bus.engine(nonNull(queue, "Queue name")).stats()

    /** The counters of every queue, keyed by name, in registration order. */
    public fun stats(): Map<String, QueueStats> = bus.stats()

    /** How long [close] waits for accepted messages before giving up on them. */
    public fun drainTimeout(): JavaDuration = JavaDuration.ofNanos(bus.drainTimeout.inWholeNanoseconds)

    /**
     * Closes the bus, blocking until done, and returns what happened: stops accepting, delivers what
     * was accepted for up to the drain timeout, then interrupts remaining handlers and reports their
     * messages (and any still queued) as abandoned, or saves them with a snapshot directory; no grace
     * period follows the deadline. Idempotent: later calls return the same summary. The full procedure
     * is [MQ.shutdown]'s.
     *
     * @throws IllegalStateException when called from one of this bus's own handlers (blocking,
     *   replying or the synchronous part of an async one): it would wait for itself.
     * @throws SnapshotException when writing a snapshot failed (it carries the summary).
     */
    public fun shutdown(): CloseSummary =
        try {
            bus.close(null).asCompletableFuture().join().orThrow()
        } catch (e: CompletionException) {
            throw e.cause ?: e
        }

    /** Same as [shutdown], discarding the summary; for try-with-resources. */
    override fun close() {
        shutdown()
    }

    /**
     * Configures a [MessageBus]. Obtain one with [MessageBus.builder].
     */
    public class Builder internal constructor(@Suppress("UNUSED_PARAMETER") marker: FromRelayMQ) {
        private var settings = BusSettings() // immutable; each setter replaces it (and BusSettings checks the value)

        /**
         * Where blocking handlers ([MessageHandler], [MessageFunction]) run. Give each queue enough
         * threads for its concurrency; the bus does not shut this executor down. Default: each blocking
         * queue gets its own pool of daemon threads named `relaymq-<queue>-<n>`, at most `concurrency`
         * of them.
         */
        public fun executor(executor: Executor): Builder = apply { settings = settings.copy(executor = executor) }

        /**
         * How long [MessageBus.close] waits for accepted messages to be processed before it interrupts
         * the remaining handlers and reports those messages as abandoned (or, with a snapshot
         * directory, saves them). Default 30 seconds.
         *
         * @throws IllegalArgumentException if not positive.
         */
        public fun drainTimeout(timeout: JavaDuration): Builder = apply {
            settings = settings.copy(drainTimeout = timeout.toKotlinDuration())
        }

        /**
         * Saves pending messages to [directory] on close (one file per queue) and restores them when
         * their queue is registered on the next run. The directory is created owner-only if missing,
         * and locked while the bus uses it. Default: none (messages live in memory only).
         */
        public fun snapshotDirectory(directory: Path): Builder = apply { settings = settings.copy(snapshotDirectory = directory) }

        /**
         * The clock behind publish times, delayed deliveries and retry backoffs. Default: the system
         * clock (UTC).
         */
        public fun clock(clock: java.time.Clock): Builder = apply { settings = settings.copy(clock = clock) }

        /** With a snapshot directory: save at once on close (default) or drain first. */
        public fun shutdownMode(mode: ShutdownMode): Builder = apply { settings = settings.copy(shutdownMode = mode) }

        /**
         * With a snapshot directory: fail registration on a corrupt snapshot (leaving the file in place)
         * instead of moving it aside and starting the queue without it. Default false.
         */
        public fun strictSnapshots(strict: Boolean): Builder = apply { settings = settings.copy(strictSnapshots = strict) }

        /** Creates the bus. Register queues on it, then call [MessageBus.start]. */
        public fun build(): MessageBus = MessageBus(settings)
    }

    // Private: Java sees the static MessageBus.builder() and no Companion; Kotlin code uses MQ.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)

        private fun <V : Any> nonNull(value: V?, what: String): V =
            value ?: throw NullPointerException("$what must not be null")
    }
}
