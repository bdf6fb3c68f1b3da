package io.relaymq

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.future.await
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
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
public class MessageBus private constructor(builder: Builder.Settings) : AutoCloseable {
    private val mq = MQ(
        dispatcher = kotlinx.coroutines.Dispatchers.Default,
        drainTimeout = builder.drainTimeout.toKotlinDuration(),
        snapshotDirectory = builder.snapshotDirectory,
        shutdownMode = builder.shutdownMode,
        strictSnapshots = builder.strictSnapshots,
    )
    private val executorDispatcher: CoroutineContext? = builder.executor?.asCoroutineDispatcher()

    /**
     * Registers a queue whose [handler] may block; it runs on up to [concurrency] threads at once.
     * Before or after [start]. With a snapshot directory, `String` and `byte[]` payloads are saved with
     * a built-in codec; other payloads need [registerQueue] with a [MessageCodec].
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank name, a name already registered, or concurrency < 1.
     * @throws NullPointerException for a null name or handler.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked, or (strict) the snapshot corrupt.
     */
    public fun <T> registerQueue(name: String?, concurrency: Int, handler: MessageHandler<T>?): MessageBus =
        registerBlocking(name, concurrency, null, handler)

    /**
     * Registers a queue whose [handler] may block, saving its payloads to snapshots with [codec] (used
     * only when the bus has a snapshot directory; payloads the codec cannot take are refused at
     * publish). Otherwise as [registerQueue] without a codec.
     *
     * @return this bus, for chaining.
     */
    public fun <T> registerQueue(
        name: String?,
        concurrency: Int,
        codec: MessageCodec<T>?,
        handler: MessageHandler<T>?,
    ): MessageBus = registerBlocking(name, concurrency, nonNull(codec, "codec"), handler)

    private fun <T> registerBlocking(name: String?, concurrency: Int, codec: MessageCodec<T>?, handler: MessageHandler<T>?): MessageBus {
        val queueName = nonNull(name, "Queue name")
        val blockingHandler = nonNull(handler, "MessageHandler of queue '$queueName'")
        val consumerContext = executorDispatcher ?: Dispatchers.IO.limitedParallelism(concurrency.coerceAtLeast(1))
        mq.register(
            name = queueName,
            concurrency = concurrency,
            type = codec?.type(),
            codec = codec,
            handler = { message -> blockingHandler.handle(message) },
            blocking = true,
            consumerContext = consumerContext,
        )
        return this
    }

    /**
     * Registers a queue whose [handler] starts work and returns a [java.util.concurrent.CompletionStage];
     * up to [concurrency] stages may be outstanding at once. The handler itself must not block.
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank name, a name already registered, or concurrency < 1.
     * @throws NullPointerException for a null name or handler.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked, or (strict) the snapshot corrupt.
     */
    public fun <T> registerAsyncQueue(name: String?, concurrency: Int, handler: AsyncMessageHandler<T>?): MessageBus =
        registerAsync(name, concurrency, null, handler)

    /** [registerAsyncQueue] with a [MessageCodec] for snapshots; see [registerQueue] with a codec. */
    public fun <T> registerAsyncQueue(
        name: String?,
        concurrency: Int,
        codec: MessageCodec<T>?,
        handler: AsyncMessageHandler<T>?,
    ): MessageBus = registerAsync(name, concurrency, nonNull(codec, "codec"), handler)

    private fun <T> registerAsync(name: String?, concurrency: Int, codec: MessageCodec<T>?, handler: AsyncMessageHandler<T>?): MessageBus {
        val queueName = nonNull(name, "Queue name")
        val asyncHandler = nonNull(handler, "AsyncMessageHandler of queue '$queueName'")
        mq.register(
            name = queueName,
            concurrency = concurrency,
            type = codec?.type(),
            codec = codec,
            handler = { message: Message<T> ->
                val stage = asyncHandler.handle(message)
                    ?: throw NullPointerException("AsyncMessageHandler of queue '$queueName' returned null for message ${message.id}")
                stage.await()
            },
            blocking = false,
            consumerContext = EmptyCoroutineContext,
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
        mq.start()
    }

    /**
     * Publishes [data] to [queue].
     *
     * Argument errors are thrown at once: [NullPointerException] for a null queue name or payload,
     * [UnknownQueueException] for a queue that is not registered. State errors fail the returned
     * future: after (or during) [close] it completes exceptionally with [BusClosedException] and the
     * message is not accepted.
     *
     * @return a future that completes with the message's id once the queue has accepted it.
     */
    public fun publish(queue: String?, data: Any?): CompletableFuture<Long> {
        val queueName = nonNull(queue, "Queue name")
        if (data == null) {
            throw NullPointerException(
                "Null payload published to queue '$queue': RelayMQ messages carry data; wrap absence in your own type.",
            )
        }
        val engine = mq.engine(queueName)
        return try {
            CompletableFuture.completedFuture(engine.publish(data))
        } catch (e: BusClosedException) {
            CompletableFuture.failedFuture(e)
        }
    }

    /**
     * A future that completes once every queue is idle: every accepted message processed (or
     * abandoned) and no handler running. Meant for tests and batch jobs; cancelling it stops waiting.
     */
    public fun idle(): CompletableFuture<Void?> = mq.idleFuture()

    /** The counters of [queue]. @throws UnknownQueueException if no such queue is registered. */
    public fun stats(queue: String?): QueueStats = mq.stats(nonNull(queue, "Queue name"))

    /** The counters of every queue, keyed by name, in registration order. */
    public fun stats(): Map<String, QueueStats> = mq.stats()

    /** How long [close] waits for accepted messages before giving up on them. */
    public fun drainTimeout(): JavaDuration = JavaDuration.ofNanos(mq.drainTimeout.inWholeNanoseconds)

    /**
     * Closes the bus, blocking until done, and returns what happened: stops accepting, delivers what
     * was accepted for up to the drain timeout, then interrupts remaining handlers and reports their
     * messages (and any still queued) as abandoned. Idempotent: later calls return the same summary.
     *
     * @throws IllegalStateException when called from one of this bus's own handlers.
     */
    public fun shutdown(): CloseSummary {
        check(!mq.isHandlerThread(Thread.currentThread())) {
            "close()/shutdown() was called from a handler of this bus; it would wait for that handler to finish. " +
                "Close the bus from outside its handlers."
        }
        return mq.closeAndReport()
    }

    /** Same as [shutdown], discarding the summary; for try-with-resources. */
    override fun close() {
        shutdown()
    }

    /**
     * Configures a [MessageBus]. Obtain one with [MessageBus.builder].
     */
    public class Builder internal constructor() {
        private val settings = Settings()

        /**
         * Where blocking handlers ([MessageHandler]) run. Give each queue enough threads for its
         * concurrency; the bus does not shut this executor down. Default: a pool per queue that grows
         * to `concurrency` threads.
         */
        public fun executor(executor: Executor?): Builder = apply { settings.executor = nonNull(executor, "executor") }

        /**
         * How long [MessageBus.close] waits for accepted messages to be processed before it interrupts
         * the remaining handlers and reports those messages as abandoned (or, with a snapshot
         * directory, saves them). Default 30 seconds.
         *
         * @throws IllegalArgumentException if not positive.
         */
        public fun drainTimeout(timeout: JavaDuration?): Builder = apply {
            val value = nonNull(timeout, "drainTimeout")
            require(!value.isNegative && !value.isZero) { "drainTimeout must be positive, was $value" }
            settings.drainTimeout = value
        }

        /**
         * Saves pending messages to [directory] on close (one file per queue) and restores them when
         * their queue is registered on the next run. The directory is created owner-only if missing,
         * and locked while the bus uses it. Default: none (messages live in memory only).
         */
        public fun snapshotDirectory(directory: Path?): Builder = apply {
            settings.snapshotDirectory = nonNull(directory, "snapshotDirectory")
        }

        /** With a snapshot directory: save at once on close (default) or drain first. */
        public fun shutdownMode(mode: ShutdownMode?): Builder = apply { settings.shutdownMode = nonNull(mode, "shutdownMode") }

        /**
         * With a snapshot directory: fail registration on a corrupt snapshot (leaving the file in place)
         * instead of moving it aside and starting the queue without it. Default false.
         */
        public fun strictSnapshots(strict: Boolean): Builder = apply { settings.strictSnapshots = strict }

        /** Creates the bus. Register queues on it, then call [MessageBus.start]. */
        public fun build(): MessageBus = MessageBus(settings.copy())

        internal data class Settings(
            var executor: Executor? = null,
            var drainTimeout: JavaDuration = JavaDuration.ofSeconds(30),
            var snapshotDirectory: Path? = null,
            var shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
            var strictSnapshots: Boolean = false,
        )
    }

    /** Factory for [Builder]; Java calls `MessageBus.builder()`. */
    public companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        public fun builder(): Builder = Builder()

        private fun <V : Any> nonNull(value: V?, what: String): V =
            value ?: throw NullPointerException("$what must not be null")
    }
}

