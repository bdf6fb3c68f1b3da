package io.relaymq

import io.relaymq.internal.Bus
import io.relaymq.internal.BusSettings
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import io.relaymq.internal.RequestFuture
import kotlinx.coroutines.future.await
import java.nio.file.Path
import java.time.Clock
import java.util.Optional
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
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
 * ## Registering
 * Each kind of handler registers with a concurrency or with [QueueOptions] (which also carry capacity,
 * overflow policy, retries, dead letters, and the payload type and snapshot codec):
 * [registerQueue] ([MessageHandler], may block), [registerReplyingQueue] ([MessageFunction], may
 * block, its result answers [request]) and [registerAsyncQueue] ([AsyncMessageHandler], returns a
 * `CompletionStage`, must not block).
 *
 * ## Threads
 * Blocking handlers run on the builder's [Builder.executor] or, by default, on the queue's own pool of
 * daemon threads named `relaymq-<queue>-<n>` (at most `concurrency` of them; idle ones end after a
 * while). The synchronous part of an [AsyncMessageHandler] runs on the bus's shared threads
 * (`Dispatchers.Default`). Guarantees (delivery, ordering, close) are those of [MQ].
 *
 * ## Nulls
 * No parameter takes `null` unless its documentation says so: a `null` argument throws
 * [NullPointerException] naming the method and the parameter (for a `null` payload: `data`).
 * RelayMQ messages carry data; wrap absence in your own type.
 *
 * All methods are thread-safe.
 */
public class MessageBus private constructor(settings: BusSettings) : AutoCloseable {
    private val bus = Bus(settings)

    // ---------------------------------------------------------------- registering

    /**
     * Registers a queue whose [handler] may block; it runs on up to [concurrency] threads at once.
     * Before or after [start]. With a snapshot directory, the queue's saved messages are restored now,
     * and `String`, `byte[]` and [DeadLetter] payloads are saved with a built-in codec; other payloads
     * need [QueueOptions.codec] (register with options).
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank name, a name already registered, or concurrency < 1.
     * @throws NullPointerException for a null name or handler.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked, or (strict) the snapshot corrupt.
     */
    public fun <T> registerQueue(name: String, concurrency: Int, handler: MessageHandler<T>): MessageBus =
        registerQueue(name, QueueOptions(concurrency = concurrency), handler)

    /**
     * Registers [name] for publishing only, on a bus whose backend is shared (`RedisStreams`): this
     * bus publishes and sends requests to it, and the buses (in any JVM) that registered it with a
     * handler run its messages; this one runs none (a web tier that hands work to a worker tier).
     * [options] give the payload type and codec the queue's payloads cross with (they must agree with
     * the handlers' side) and the capacity; consumer settings (concurrency, retries, dead letters) belong
     * to the handlers' side and are not used here.
     *
     * @return this bus, for chaining.
     * @throws IllegalArgumentException on the in-memory backend (nothing would ever run the messages),
     *   for a blank or duplicate name, or options the backend cannot honour.
     * @throws BusClosedException when the bus is closing or closed.
     */
    public fun registerPublisher(name: String, options: QueueOptions): MessageBus {
        bus.registerPublisher(name, options, null)
        return this
    }

    /** [registerPublisher] with default options: any payload the built-in codec carries (`String`, `byte[]`). */
    public fun registerPublisher(name: String): MessageBus = registerPublisher(name, QueueOptions())

    /**
     * Registers a queue with [options]: concurrency, capacity, overflow policy, drop listener, retries,
     * dead letters, and [QueueOptions.payloadType] / [QueueOptions.codec] (given either, a payload of
     * another class fails at publish with [IllegalArgumentException]). Otherwise as [registerQueue]
     * with a concurrency; also throws [IllegalArgumentException] when payload type and codec disagree.
     */
    public fun <T> registerQueue(name: String, options: QueueOptions, handler: MessageHandler<T>): MessageBus {
        bus.register<T>(name, options, null, { message ->
            handler.handle(message)
            null // a request to a MessageHandler queue completes with null, not kotlin.Unit
        }, blocking = true)
        return this
    }

    /**
     * Registers a queue whose [function] returns a result: [request] returns it through its future. The
     * function may block, like a [MessageHandler]; [publish] to the queue works too (result discarded).
     * Otherwise as [registerQueue].
     */
    public fun <T, R> registerReplyingQueue(name: String, concurrency: Int, function: MessageFunction<T, R>): MessageBus =
        registerReplyingQueue(name, QueueOptions(concurrency = concurrency), function)

    /** [registerReplyingQueue] with [options]; see [registerQueue] with options. */
    public fun <T, R> registerReplyingQueue(name: String, options: QueueOptions, function: MessageFunction<T, R>): MessageBus {
        bus.register<T>(name, options, null, { message -> function.apply(message) }, blocking = true)
        return this
    }

    /**
     * Registers a queue whose [handler] starts work and returns a [java.util.concurrent.CompletionStage];
     * up to [concurrency] stages may be outstanding at once. The handler itself must not block. The
     * stage's value is the result a [request] receives. A handler that returns `null` instead of a stage
     * fails that message with [NullPointerException]. Otherwise as [registerQueue].
     */
    public fun <T> registerAsyncQueue(name: String, concurrency: Int, handler: AsyncMessageHandler<T>): MessageBus =
        registerAsyncQueue(name, QueueOptions(concurrency = concurrency), handler)

    /** [registerAsyncQueue] with [options]; see [registerQueue] with options. */
    public fun <T> registerAsyncQueue(name: String, options: QueueOptions, handler: AsyncMessageHandler<T>): MessageBus {
        bus.register<T>(name, options, null, { message ->
            // Kotlin types the result as non-null, but a Java implementation can still return null.
            @Suppress("USELESS_ELVIS")
            val stage = handler.handle(message)
                ?: throw NullPointerException("AsyncMessageHandler of queue '$name' returned null for message ${message.id}")
            stage.await()
        }, blocking = false)
        return this
    }

    /**
     * Starts every registered queue; queues registered later start at once. Messages published before
     * start are delivered now.
     *
     * @throws IllegalStateException if already started.
     * @throws IllegalArgumentException when a queue's dead-letter queue is not registered (names both).
     * @throws BusClosedException if the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked by another bus.
     */
    public fun start() {
        bus.start()
    }

    // ---------------------------------------------------------------- publishing

    /**
     * Publishes [data] to [queue].
     *
     * Argument errors are thrown at once: [NullPointerException] for a null queue name or payload,
     * [UnknownQueueException] for a queue that is not registered, [IllegalArgumentException] for a
     * payload that is not of the queue's payload type or that its snapshot codec cannot encode. State
     * errors fail the returned future: during or after [close], [BusClosedException]; a full queue with
     * [OverflowPolicy.REJECT], [QueueFullException]; a durable queue whose journal write or fsync
     * failed, [JournalException] (the message was not accepted). A full queue with
     * [OverflowPolicy.SUSPEND] completes the future once there is room (no thread waits).
     *
     * @return a future that completes with the message's id once the queue has accepted it: for a
     *   durable queue ([QueueOptions.durable]), once its record is on disk (as the bus's [FsyncPolicy]
     *   says). Dependent stages never run on the journal's writer thread.
     */
    public fun publish(queue: String, data: Any): CompletableFuture<Long> = bus.publishAsync(queue, data, null, null, 0L)

    /**
     * Publishes [data] to [queue] with per-message [options]: an ordering key, a delay or a due time. A
     * delayed message is accepted now (the future completes with its id) and handed to a consumer no
     * sooner than its due time. Errors as for [publish].
     */
    public fun publish(queue: String, data: Any, options: PublishOptions): CompletableFuture<Long> =
        bus.publishAsync(queue, data, null, options.key, bus.dueAtOf(options))

    /**
     * Publishes [data] to [queue] and returns a future of the handler's outcome: the value a
     * [MessageFunction] or async stage returned (`null` for a [MessageHandler]), or the exception the
     * handler threw (after the last attempt, with retries). Errors are reported as by [publish] (state
     * errors fail this future).
     *
     * Cancelling the future before a consumer took the message withdraws it: it is never handled, and no
     * longer counts against the capacity. A message dropped by the overflow policy, or not processed
     * because the bus closed, fails the future with [MessageDroppedException].
     */
    public fun <R> request(queue: String, data: Any): CompletableFuture<R> = requestOf(queue, data, null, null)

    /**
     * [request] with a [timeout]: the future fails with [java.util.concurrent.TimeoutException] when it
     * elapses (it also covers waiting for room in a full SUSPEND queue), and the message is withdrawn if
     * no consumer took it yet.
     */
    public fun <R> request(queue: String, data: Any, timeout: JavaDuration): CompletableFuture<R> =
        requestOf(queue, data, timeout, null)

    /** [request] with per-message [options] (an ordering key, a delay or a due time). */
    public fun <R> request(queue: String, data: Any, options: PublishOptions): CompletableFuture<R> =
        requestOf(queue, data, null, options)

    /** [request] with a [timeout] (which also covers a delay in [options]) and per-message [options]. */
    public fun <R> request(queue: String, data: Any, timeout: JavaDuration, options: PublishOptions): CompletableFuture<R> =
        requestOf(queue, data, timeout, options)

    private fun <R> requestOf(queue: String, data: Any, timeout: JavaDuration?, options: PublishOptions?): CompletableFuture<R> {
        val reply = RequestFuture<Any?>() // withdraws its message before it ends early
        if (timeout != null) reply.orTimeout(timeout.toNanos(), TimeUnit.NANOSECONDS)
        bus.publishAsync(queue, data, reply, options?.key, if (options == null) 0L else bus.dueAtOf(options))
        @Suppress("UNCHECKED_CAST")
        return reply as CompletableFuture<R>
    }

    /**
     * Binds the fan-out name [name] to [queues]: [fanOut] to it publishes one copy to each (the same
     * payload object, so payloads should be immutable). The queues must be registered.
     * @return this bus, for chaining.
     * @throws IllegalArgumentException for a blank or already bound name, or an empty or repeating list.
     * @throws UnknownQueueException for a queue that is not registered.
     */
    public fun bindFanOut(name: String, vararg queues: String): MessageBus {
        bus.fanOuts.bind(name, queues.asList())
        return this
    }

    /** [bindFanOut] with the queues in a list. */
    public fun bindFanOut(name: String, queues: List<String>): MessageBus {
        bus.fanOuts.bind(name, queues)
        return this
    }

    /**
     * Publishes [data] once to every queue bound to the fan-out [name]. The future completes with the id
     * of each copy, or fails with [FanOutException] naming the queues that refused (the others did
     * accept their copy).
     * @throws IllegalArgumentException when no fan-out is bound under [name].
     */
    public fun fanOut(name: String, data: Any): CompletableFuture<FanOutResult> = bus.fanOuts.publishAsync(name, data, null)

    /** [fanOut] with per-message [options] (an ordering key, a delay or a due time) for every copy. */
    public fun fanOut(name: String, data: Any, options: PublishOptions): CompletableFuture<FanOutResult> =
        bus.fanOuts.publishAsync(name, data, options)

    // ---------------------------------------------------------------- running

    /**
     * Pauses [queue]: its consumers take nothing new until [resume] (messages waiting for their ordering
     * key included); handlers already running finish. Publishing goes on, within the queue's capacity.
     * Closing the bus resumes it to drain.
     */
    public fun pause(queue: String) {
        bus.engine(queue).pause()
    }

    /** Resumes a paused [queue]. Harmless on a queue that is not paused. */
    public fun resume(queue: String) {
        bus.engine(queue).resume()
    }

    /**
     * Changes how many handlers of [queue] may run at once, while running: growing starts consumers at
     * once (first taking back consumers an earlier shrink retired that are still finishing); shrinking
     * lets the surplus consumers finish their current message and stop. Nothing is lost or handled
     * twice. The queue's own thread pool follows. @throws IllegalArgumentException if [concurrency] < 1.
     */
    public fun setConcurrency(queue: String, concurrency: Int) {
        bus.engine(queue).setConcurrency(concurrency)
    }

    // ---------------------------------------------------------------- observing

    /**
     * A future that completes once every queue is idle: every accepted message ended (processed,
     * dropped, withdrawn, saved or abandoned). Meant for tests and batch jobs; cancelling it stops
     * waiting. Called before [start], it completes once the started bus has processed what it holds.
     */
    public fun idle(): CompletableFuture<Void?> = bus.idleFuture()

    /** The counters of [queue]. @throws UnknownQueueException if no such queue is registered. */
    public fun stats(queue: String): QueueStats = bus.stats(queue)

    /** The counters of every queue, keyed by name, in registration order. */
    public fun stats(): Map<String, QueueStats> = bus.stats()

    /** The names of the registered queues, in registration order (an unmodifiable copy). */
    public fun queueNames(): List<String> = bus.queueNames()

    /** How long [close] waits for accepted messages before giving up on them. */
    public fun drainTimeout(): JavaDuration = JavaDuration.ofNanos(bus.drainTimeout.inWholeNanoseconds)

    /** The snapshot directory, or empty when messages live in memory only. */
    public fun snapshotDirectory(): Optional<Path> = Optional.ofNullable(bus.snapshotDirectory)

    /** Where durable queues keep their journals, or empty when the bus has none. */
    public fun journalDirectory(): Optional<Path> = Optional.ofNullable(bus.settings.journalDirectory)

    /** When journals are forced to disk. */
    public fun fsyncPolicy(): FsyncPolicy = bus.settings.fsyncPolicy

    /** Where the queues live: [QueueBackend.inMemory] (the default) or a remote store (Redis). */
    public fun backend(): QueueBackend = bus.settings.backend

    /** What close does with pending messages when there is a snapshot directory. */
    public fun shutdownMode(): ShutdownMode = bus.shutdownMode

    /** The clock behind publish times, delays and retry backoffs. */
    public fun clock(): Clock = bus.clock

    // ---------------------------------------------------------------- closing

    /**
     * Closes the bus, blocking until done, and returns what happened: stops accepting, delivers what
     * was accepted for up to the drain timeout, then interrupts remaining handlers and reports their
     * messages (and any still queued) as abandoned, or saves them with a snapshot directory; no grace
     * period follows the deadline. Idempotent: later calls return the same summary. The full procedure
     * is [MQ.shutdown]'s. The queues' own thread pools end with the close.
     *
     * @throws IllegalStateException when called from one of this bus's own handlers (blocking,
     *   replying, or the `handle()` call of an async one): it would wait for itself.
     * @throws SnapshotException when writing a snapshot failed (it carries the summary).
     */
    public fun shutdown(): CloseSummary = bus.closeAndWait()

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

        /**
         * Lets queues be durable ([QueueOptions.durable]): each keeps a crash-safe journal in its own
         * subdirectory of [directory], created owner-only if missing and locked while the bus uses it.
         * It may be the snapshot directory. Default: none (no queue can be durable).
         */
        public fun journalDirectory(directory: Path): Builder = apply { settings = settings.copy(journalDirectory = directory) }

        /** When journals are forced to disk, and so what a crash can take; see [FsyncPolicy]. Default [FsyncPolicy.perGroupCommit]. */
        public fun fsyncPolicy(policy: FsyncPolicy): Builder = apply { settings = settings.copy(fsyncPolicy = policy) }

        /**
         * With a journal directory: fail registration on a corrupt journal file (leaving it in place)
         * instead of recovering every valid record, moving the file aside and logging it. Default false.
         */
        public fun strictJournal(strict: Boolean): Builder = apply { settings = settings.copy(strictJournal = strict) }

        /** Creates the bus. Register queues on it, then call [MessageBus.start]. */
        /**
         * Where the queues live: [QueueBackend.inMemory] (the default), or a store shared by every bus
         * that registers the same queues, `RedisStreams.builder(uri).build()` from `mq-redis`. A remote
         * backend takes no snapshot or journal directory, and serves one bus.
         * @throws IllegalArgumentException if the backend is remote and a snapshot or journal directory is set.
         */
        public fun backend(backend: QueueBackend): Builder = apply { settings = settings.copy(backend = backend) }

        /**
         * Builds the bus.
         * @throws IllegalStateException if the backend already serves another bus.
         */
        public fun build(): MessageBus = MessageBus(settings)
    }

    // Private: Java sees the static MessageBus.builder() and no Companion; Kotlin code uses MQ.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)

    }
}
