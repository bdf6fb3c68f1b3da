package io.relaymq

import io.github.oshai.kotlinlogging.KotlinLogging
import io.relaymq.internal.BuiltInCodec
import io.relaymq.internal.ChannelRelay
import io.relaymq.internal.HandlerMarker
import io.relaymq.internal.IdleWatch
import io.relaymq.internal.QueueEngine
import io.relaymq.internal.SnapshotFileSystem
import io.relaymq.internal.SnapshotStore
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.future.asCompletableFuture
import kotlinx.coroutines.future.await
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import java.nio.file.Path
import java.time.Clock
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import kotlin.coroutines.cancellation.CancellationException
import java.util.concurrent.ConcurrentHashMap
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

private val logger = KotlinLogging.logger {}

/** The default of optional [PublishOptions] parameters, recognised by identity to skip the work. */
@PublishedApi
internal val NO_OPTIONS: PublishOptions = PublishOptions()

/** What the non-suspending part of a publish answers when a SUSPEND queue is full; never an id (ids are positive). */
@PublishedApi
internal const val NO_ROOM: Long = -1L

/**
 * The RelayMQ registry and engine, Kotlin's front door: named queues, each with its own relay and
 * `concurrency` consumer coroutines. (Java code uses the [MessageBus] facade over the same engine.)
 *
 * ```kotlin
 * val mq = MQ()
 * mq.registerQueue<String>("mail", concurrency = 4) { msg -> sendMail(msg.data) }
 * mq.start()
 * mq.publish("mail", "hello@example.com")
 * mq.shutdown()   // drains, then returns a CloseSummary
 * ```
 *
 * ## Guarantees
 * - **Delivery:** each accepted message ends exactly once: succeeded, failed (after its last attempt,
 *   see [RetryPolicy]; dead-lettered if configured), dropped by an overflow policy, withdrawn (its
 *   [request] gave up before delivery), saved to a snapshot, or abandoned at close (counted, logged).
 *   It is handled by one handler call per attempt, never two at once.
 * - **Ordering:** a queue hands messages out in the order it accepted them (delayed ones when due).
 *   With `concurrency = 1` they are processed in that order; with more consumers processing overlaps,
 *   except for messages sharing an ordering key ([PublishOptions.key]): one at a time, publish order.
 * - **Concurrency:** never more than `concurrency` handlers of one queue run at once.
 * - **Failures:** a handler that throws is logged (queue, id, stack trace) and counted as failed; its
 *   consumer carries on with the next message. Cancellation is never swallowed.
 * - **Close:** see [shutdown].
 *
 * ## Threads
 * All methods are thread-safe. Relays and handlers run on [dispatcher]; inject a test dispatcher
 * (`StandardTestDispatcher(testScheduler)`) to run the whole engine on virtual time in `runTest`.
 *
 * @param dispatcher where relays and handlers run. Handlers must not block threads of
 *   [Dispatchers.Default]; wrap blocking calls in `withContext(Dispatchers.IO)`.
 * @param drainTimeout how long [shutdown] waits for accepted messages to be processed before it
 *   cancels the remaining work and reports it as abandoned.
 */
public class MQ internal constructor(
    dispatcher: CoroutineDispatcher,
    drainTimeout: Duration,
    snapshotDirectory: Path?,
    /** What close does with pending messages when there is a snapshot directory. */
    public val shutdownMode: ShutdownMode,
    strictSnapshots: Boolean,
    /** The clock behind publish times, delays and retry backoffs. */
    public val clock: Clock,
    snapshotFileSystem: SnapshotFileSystem,
) : AutoCloseable {
    /**
     * Creates an engine; see the class documentation for the parameters.
     *
     * @param snapshotDirectory where pending messages are saved on close and restored from on the
     *   next start, one file per queue; `null` (the default) keeps messages in memory only.
     * @param shutdownMode with a snapshot directory: save at once ([ShutdownMode.SNAPSHOT_IMMEDIATELY],
     *   the default) or drain first and save what is left at the deadline.
     * @param strictSnapshots with a snapshot directory: a corrupt snapshot makes registration fail
     *   (file left in place) instead of being moved aside with an error log.
     * @param clock where publish times, delayed deliveries and retry backoffs read the time. In tests on
     *   virtual time, pass a clock that reads the test scheduler's time, together with its dispatcher.
     */
    public constructor(
        dispatcher: CoroutineDispatcher = Dispatchers.Default,
        drainTimeout: Duration = 30.seconds,
        snapshotDirectory: Path? = null,
        shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
        strictSnapshots: Boolean = false,
        clock: Clock = Clock.systemUTC(),
    ) : this(dispatcher, drainTimeout, snapshotDirectory, shutdownMode, strictSnapshots, clock, SnapshotFileSystem.Default)

    /** How long [shutdown] waits for accepted messages before giving up on them. */
    public val drainTimeout: Duration = drainTimeout

    /** The snapshot directory, or `null` when messages live in memory only. */
    public val snapshotDirectory: Path? = snapshotDirectory

    private val snapshots: SnapshotStore? = snapshotDirectory?.let { SnapshotStore(it, strictSnapshots, snapshotFileSystem) }

    private enum class State { NEW, RUNNING, CLOSING, CLOSED }

    private val lock = Any()
    private var state = State.NEW // guarded by lock
    private var closing: Deferred<CloseSummary>? = null // guarded by lock

    // Lookups on the publish path are lock-free; registration happens under lock.
    private val engines = ConcurrentHashMap<String, QueueEngine<*>>()
    private val registrationOrder = ArrayList<QueueEngine<*>>() // guarded by lock

    private val idleWatch = IdleWatch(::isSettled)
    private val supervisor = SupervisorJob()
    private val scope = CoroutineScope(
        supervisor + dispatcher + CoroutineName("relaymq") +
            CoroutineExceptionHandler { context, e -> logger.error(e) { "Unexpected failure in ${context[CoroutineName]}" } },
    )
    private val handlerMarker = HandlerMarker(this)
    private val fanOuts = ConcurrentHashMap<String, List<String>>()

    init {
        require(drainTimeout.isPositive()) { "drainTimeout must be positive, was $drainTimeout" }
    }

    /**
     * Registers a queue whose handler receives payloads of type [T], before or after [start].
     *
     * Publishing a payload that is not a [T] to this queue fails at once with an
     * [IllegalArgumentException] rather than later inside the handler.
     *
     * With a snapshot directory, the queue's pending messages are restored now (before anything can be
     * published to it), and its payloads cross the disk through [codec]: `String` and `ByteArray`
     * queues get a built-in one; other types must pass theirs.
     *
     * @param name the queue's name: non-blank, unique within this bus, case-sensitive.
     * @param concurrency how many handler calls may run at once (at least 1).
     * @param codec how payloads are saved to snapshots; only used with a snapshot directory.
     * @param handler called once per message; see [MQ] for what happens when it throws.
     * @throws IllegalArgumentException for a blank name, a name already registered, concurrency < 1, or
     *   a persistent queue of a type without a built-in codec and no [codec].
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked by another bus, or (strict) the
     *   queue's snapshot is corrupt.
     */
    public inline fun <reified T : Any> registerQueue(
        name: String,
        concurrency: Int = 1,
        codec: MessageCodec<T>? = null,
        noinline handler: suspend (Message<T>) -> Unit,
    ) {
        require(concurrency >= 1) { "Queue '$name': concurrency must be at least 1, was $concurrency" }
        registerQueue(name, QueueOptions(concurrency = concurrency), T::class.javaObjectType, codec, handler)
    }

    /**
     * Registers a queue with [options] (capacity, overflow policy, drop listener, concurrency); otherwise
     * as the function above.
     */
    public inline fun <reified T : Any> registerQueue(
        name: String,
        options: QueueOptions,
        codec: MessageCodec<T>? = null,
        noinline handler: suspend (Message<T>) -> Unit,
    ) {
        registerQueue(name, options, T::class.javaObjectType, codec, handler)
    }

    /**
     * Registers a queue whose handler returns a result of type [R], for [request]; [publish] to it works
     * too (the result is then discarded). Otherwise as [registerQueue].
     */
    public inline fun <reified T : Any, R> registerReplyingQueue(
        name: String,
        options: QueueOptions = QueueOptions(),
        codec: MessageCodec<T>? = null,
        noinline handler: suspend (Message<T>) -> R,
    ) {
        registerQueue(name, options, T::class.javaObjectType, codec, handler)
    }

    /**
     * Registers a queue for payloads of [type]; the non-reified form of the functions above, for generic
     * code. The handler's return value is the result a [request] receives. Same rules and exceptions.
     */
    public fun <T : Any> registerQueue(
        name: String,
        options: QueueOptions,
        type: Class<T>,
        codec: MessageCodec<T>?,
        handler: suspend (Message<T>) -> Any?,
    ) {
        register(name, options, type, codec, handler, blocking = false) { EmptyCoroutineContext }
    }

    internal fun <T> register(
        name: String,
        options: QueueOptions,
        type: Class<*>?,
        codec: MessageCodec<T>?,
        handler: suspend (Message<T>) -> Any?,
        blocking: Boolean,
        consumerContext: (Int) -> CoroutineContext,
    ) {
        require(name.isNotBlank()) { "Queue name must not be blank, was '$name'" }
        val persistCodec = if (snapshots != null) codecFor(name, type, codec) else null
        synchronized(lock) {
            if (state == State.CLOSING || state == State.CLOSED) {
                throw BusClosedException(name, "Cannot register queue '$name': the bus is ${state.name.lowercase()}.")
            }
            require(!engines.containsKey(name)) {
                "A queue named '$name' is already registered; queue names must be unique within a bus."
            }
            val restored = snapshots?.let { store ->
                store.open()
                store.read(name, persistCodec!!)
            }
            val engine = QueueEngine(
                name = name,
                options = options,
                payloadType = type,
                handler = handler,
                blocking = blocking,
                consumerContext = { n -> consumerContext(n) + handlerMarker },
                transport = ChannelRelay(name, outboxCapacity = OUTBOX_CAPACITY),
                idleWatch = idleWatch,
                snapshots = snapshots,
                codec = persistCodec,
                clock = clock,
                publishDeadLetter = ::publishDeadLetter,
            )
            if (restored != null) engine.restore(restored)
            engine.startRelay(scope)
            engines[name] = engine
            registrationOrder.add(engine)
            if (state == State.RUNNING) engine.startConsumers()
        }
        logger.debug { "Registered queue '$name' with $options" }
    }

    @Suppress("UNCHECKED_CAST")
    private fun <T> codecFor(name: String, type: Class<*>?, codec: MessageCodec<T>?): MessageCodec<T> = when {
        codec != null -> codec
        type == null -> BuiltInCodec as MessageCodec<T>
        type == String::class.java -> MessageCodec.utf8() as MessageCodec<T>
        type == ByteArray::class.java -> MessageCodec.bytes() as MessageCodec<T>
        else -> throw IllegalArgumentException(
            "Queue '$name' carries ${type.name} payloads and the bus saves snapshots to $snapshotDirectory: " +
                "pass a MessageCodec<${type.simpleName}> (codec = ...) so they can cross the disk.",
        )
    }

    /**
     * Starts every registered queue; queues registered later start at once. Messages published before
     * start wait and are delivered now.
     *
     * @throws IllegalStateException if already started.
     * @throws BusClosedException if the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked by another bus.
     */
    public fun start() {
        synchronized(lock) {
            if (state == State.NEW) snapshots?.open()
            when (state) {
                State.NEW -> startLocked()
                State.RUNNING -> throw IllegalStateException("The bus is already started; start() is called once.")
                State.CLOSING, State.CLOSED ->
                    throw BusClosedException(null, "Cannot start a bus that is ${state.name.lowercase()}; create a new one.")
            }
        }
    }

    private fun startLocked() {
        state = State.RUNNING
        for (engine in registrationOrder) engine.startConsumers()
        logger.info { "RelayMQ started with ${registrationOrder.size} queue(s)" }
        snapshots?.orphans(registrationOrder.map { it.name })?.forEach {
            logger.warn { "Snapshot file $it belongs to no registered queue; left untouched until that queue is registered" }
        }
    }

    /**
     * Publishes [data] to [queue] and returns the message's id once the queue has accepted it. An
     * accepted message will be handled (or, if the bus gives up at the drain deadline, reported as
     * abandoned).
     *
     * Queues are unbounded today, so this never suspends; it is a suspend function so that bounded
     * queues can make publishers wait for space. Cancellation: a publish that returned an id was
     * accepted; one that threw was not.
     *
     * (Inline so that the id is not boxed on its way out of a suspend function: publishing allocates
     * nothing but the message itself.)
     *
     * @throws UnknownQueueException if no queue named [queue] is registered.
     * @throws IllegalArgumentException if [data] is not of the queue's payload type.
     * @throws BusClosedException if the bus is closing or closed (the message is not accepted).
     */
    @Suppress("NOTHING_TO_INLINE")
    public suspend inline fun publish(queue: String, data: Any): Long {
        val id = offer(queue, data)
        return if (id != NO_ROOM) id else publishWhenRoom(queue, data)
    }

    /** Non-suspending part of [publish]: the id, or [NO_ROOM] when a SUSPEND queue is full. */
    @PublishedApi
    internal fun offer(queue: String, data: Any): Long = engine(queue).tryPublish(data, null)

    /** Suspending part of [publish], for a full SUSPEND queue. */
    @PublishedApi
    internal suspend fun publishWhenRoom(queue: String, data: Any): Long = engine(queue).publishSuspending(data, null)

    /**
     * Publishes [data] to [queue] with per-message [options]: an ordering key, a delay or a due time.
     * A delayed message is accepted now (it gets its id and counts against the queue's capacity) and
     * handed to a consumer no sooner than its due time. Otherwise as [publish].
     */
    public suspend fun publish(queue: String, data: Any, options: PublishOptions): Long {
        val engine = engine(queue)
        val dueAt = dueAtOf(options)
        val id = engine.tryPublish(data, null, options.key, dueAt)
        return if (id != NO_ROOM) id else engine.publishSuspending(data, null, options.key, dueAt)
    }

    internal fun dueAtOf(options: PublishOptions): Long {
        val now = clock.millis()
        var due = if (options.delay.isPositive()) now + options.delay.inWholeMilliseconds else 0L
        val at = options.dueAt?.toEpochMilli()
        if (at != null && at > now) due = maxOf(due, at)
        return due
    }

    /**
     * Publishes [data] to [queue] and waits for its handler to finish: returns what the handler returned
     * (`Unit` for queues registered with [registerQueue]) or throws what it threw. The two stages of one
     * publish: acceptance (as [publish], including waiting for room) and completion.
     *
     * Cancellation or [timeout] before a consumer took the message *withdraws* it: it is never handled
     * (counted in [QueueStats.withdrawn]). After that, the handler runs to its end and only the waiting
     * stops. A message dropped by its queue's overflow policy, or not processed because the bus closed,
     * fails with [MessageDroppedException].
     *
     * @throws kotlinx.coroutines.TimeoutCancellationException when [timeout] elapses first.
     * @throws QueueFullException, UnknownQueueException, IllegalArgumentException, BusClosedException as [publish].
     */
    public suspend fun <R> request(
        queue: String,
        data: Any,
        timeout: Duration = Duration.INFINITE,
        options: PublishOptions = NO_OPTIONS,
    ): R {
        val engine = engine(queue)
        // A CompletableDeferred, not a CompletableFuture: awaiting it costs a fraction of a future's await.
        val reply = CompletableDeferred<Any?>()
        val dueAt = if (options === NO_OPTIONS) 0L else dueAtOf(options)
        if (engine.tryPublish(data, reply, options.key, dueAt) == NO_ROOM) engine.publishSuspending(data, reply, options.key, dueAt)
        val result = try {
            if (timeout.isInfinite()) reply.await() else withTimeout(timeout) { reply.await() }
        } catch (e: CancellationException) {
            reply.cancel() // withdraws the message if no consumer took it yet
            throw e
        }
        @Suppress("UNCHECKED_CAST")
        return result as R
    }

    /** For the Java facade: publish, with the future completing on acceptance (after waiting for room). */
    internal fun publishFuture(
        queue: String,
        data: Any,
        reply: CompletableFuture<Any?>?,
        options: PublishOptions? = null,
    ): CompletableFuture<Long> {
        val engine = engine(queue)
        val key = options?.key
        val dueAt = if (options == null) 0L else dueAtOf(options)
        val id = try {
            engine.tryPublish(data, reply, key, dueAt)
        } catch (e: IllegalStateException) { // BusClosedException, QueueFullException: state, not arguments
            reply?.completeExceptionally(e)
            return CompletableFuture.failedFuture(e)
        }
        if (id != NO_ROOM) return CompletableFuture.completedFuture(id)
        val accepted = CompletableFuture<Long>()
        scope.launch(CoroutineName("relaymq-publish-$queue")) {
            try {
                accepted.complete(engine.publishSuspending(data, reply, key, dueAt))
            } catch (e: Throwable) {
                val failure = if (e is CancellationException) BusClosedException(queue, "The bus closed while the message waited for room; it was not accepted.") else e
                reply?.completeExceptionally(failure)
                accepted.completeExceptionally(failure)
            }
        }.invokeOnCompletion { cause ->
            // Never started (the bus scope was already complete): the caller must not wait forever.
            if (cause != null && !accepted.isDone) {
                val failure = BusClosedException(queue, "The bus is closed; the message was not accepted.")
                reply?.completeExceptionally(failure)
                accepted.completeExceptionally(failure)
            }
        }
        return accepted
    }

    /**
     * Binds the fan-out name [name] to [queues]: [fanOut] to it publishes one copy to each (the same
     * payload object, so payloads should be immutable). The queues must be registered.
     * @throws IllegalArgumentException for a blank or already bound name, or an empty or repeating list.
     * @throws UnknownQueueException for a queue that is not registered.
     */
    public fun bindFanOut(name: String, queues: List<String>) {
        require(name.isNotBlank()) { "Fan-out name must not be blank" }
        require(queues.isNotEmpty()) { "Fan-out '$name' needs at least one queue" }
        require(queues.toSet().size == queues.size) { "Fan-out '$name' lists a queue twice: $queues" }
        for (queue in queues) engine(queue)
        require(fanOuts.putIfAbsent(name, queues.toList()) == null) { "A fan-out named '$name' is already bound" }
    }

    /**
     * Publishes [data] once to every queue bound to the fan-out [name] (see [bindFanOut]); each gets its
     * own message. Returns the id of each copy.
     * @throws FanOutException when some queue refused its copy; it names those and the ones that accepted.
     * @throws IllegalArgumentException when no fan-out is bound under [name].
     */
    public suspend fun fanOut(name: String, data: Any, options: PublishOptions = NO_OPTIONS): FanOutResult {
        val queues = fanOutQueues(name)
        val accepted = LinkedHashMap<String, Long>()
        val refused = LinkedHashMap<String, Throwable>()
        for (queue in queues) {
            try {
                accepted[queue] = if (options === NO_OPTIONS) publish(queue, data) else publish(queue, data, options)
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                refused[queue] = e
            }
        }
        if (refused.isNotEmpty()) throw FanOutException(name, accepted, refused)
        return FanOutResult(name, accepted)
    }

    internal fun fanOutQueues(name: String): List<String> = fanOuts[name]
        ?: throw IllegalArgumentException("No fan-out named '$name' is bound; bind it with bindFanOut(\"$name\", queues) first.")

    private fun publishDeadLetter(queue: String, letter: DeadLetter) {
        val target = engines[queue]
        if (target == null) {
            logger.error { "Dead-letter queue '$queue' of queue '${letter.queue}' is not registered; the dead letter is logged here: $letter" }
            return
        }
        try {
            if (target.tryPublish(letter, null) == NO_ROOM) {
                scope.launch(CoroutineName("relaymq-dead-letter-$queue")) {
                    try {
                        target.publishSuspending(letter, null)
                    } catch (e: Exception) {
                        logger.error(e) { "Dead-letter queue '$queue' refused $letter; it is logged here" }
                    }
                }
            }
        } catch (e: Exception) {
            logger.error(e) { "Dead-letter queue '$queue' refused $letter; it is logged here" }
        }
    }

    /**
     * Pauses [queue]: consumers take nothing new until [resume]; handlers already running finish.
     * Publishing goes on (within the queue's capacity). Closing the bus resumes it to drain.
     */
    public fun pause(queue: String): Unit = engine(queue).pause()

    /** Resumes a paused [queue]. Harmless on a queue that is not paused. */
    public fun resume(queue: String): Unit = engine(queue).resume()

    /**
     * Changes how many handlers of [queue] may run at once, while running: growing starts consumers at
     * once; shrinking lets the surplus consumers finish their current message and stop. No message is
     * lost or handled twice. @throws IllegalArgumentException if [concurrency] < 1.
     */
    public fun setConcurrency(queue: String, concurrency: Int): Unit = engine(queue).setConcurrency(concurrency)

    internal fun engine(queue: String): QueueEngine<*> = engines[queue] ?: throw UnknownQueueException(queue)

    /**
     * Suspends until every queue is idle: every accepted message was processed (or abandoned) and no
     * handler is running. Meant for tests and batch jobs. A bus that was never started with messages
     * waiting does not become idle. Cancellation: stops waiting, nothing else.
     */
    public suspend fun awaitIdle() {
        idleWatch.future().await()
    }

    internal fun idleFuture() = idleWatch.future()

    /** `true` when [thread] is running a blocking handler of this bus right now. */
    internal fun isHandlerThread(thread: Thread): Boolean = engines.values.any { it.isHandlerThread(thread) }

    private fun isSettled(): Boolean = engines.values.all { it.isSettled() }

    /** The counters of [queue]. @throws UnknownQueueException if no such queue is registered. */
    public fun stats(queue: String): QueueStats = engine(queue).stats()

    /** The counters of every queue, keyed by name, in registration order. */
    public fun stats(): Map<String, QueueStats> =
        synchronized(lock) { registrationOrder.toList() }.associate { it.name to it.stats() }

    /** The names of the registered queues, in registration order. */
    public val queueNames: List<String>
        get() = synchronized(lock) { registrationOrder.map { it.name } }

    /**
     * Closes the bus and returns what happened. Idempotent: later and concurrent calls return the same
     * summary.
     *
     * 1. Publishing stops at once: every later [publish] throws [BusClosedException].
     * 2. Every message already accepted is still delivered, and handlers run, for up to
     *    [drainTimeout]. A bus that was never started is started for this.
     * 3. At the deadline, running handlers are cancelled (Java blocking handlers are interrupted) and
     *    every message not processed by then is counted and logged as abandoned.
     *
     * With a [snapshotDirectory], unprocessed messages are saved instead of abandoned, and with
     * [ShutdownMode.SNAPSHOT_IMMEDIATELY] (the default) step 2 only lets handlers already running
     * finish: everything still queued goes straight to the snapshot. Each queue's snapshot replaces
     * the previous one atomically. If a write fails, that queue's messages are logged as not saved,
     * the previous snapshot stays, and this function throws [SnapshotException] carrying the summary.
     *
     * Cancellation: cancelling the caller stops only its waiting; the close carries on to the end.
     *
     * @throws IllegalStateException when called from one of this bus's own handlers (it would wait
     *   for itself); close the bus from outside its handlers.
     */
    public suspend fun shutdown(): CloseSummary {
        if (currentCoroutineContext()[HandlerMarker]?.owner === this) {
            throw IllegalStateException(
                "shutdown() was called from a handler of this bus; it would wait for that handler to finish. " +
                    "Close the bus from outside its handlers.",
            )
        }
        return beginClose().await().orThrow()
    }

    /**
     * Blocking [shutdown] for Java and `use {}` blocks: closes the bus and waits for the close to end.
     * Idempotent. Do not call it from a coroutine (use [shutdown]); inside `runTest` it would block the
     * very thread the test dispatcher needs.
     */
    override fun close() {
        closeAndReport()
    }

    internal fun closeAndReport(): CloseSummary =
        try {
            beginClose().asCompletableFuture().join().orThrow()
        } catch (e: CompletionException) {
            throw e.cause ?: e
        }

    private fun beginClose(): Deferred<CloseSummary> = synchronized(lock) {
        closing?.let { return it }
        // A bus that never started drains on close, unless it saves to a snapshot straight away: then
        // its consumers are never started and everything it holds goes to the snapshot.
        if (state == State.NEW && !(snapshots != null && shutdownMode == ShutdownMode.SNAPSHOT_IMMEDIATELY)) startLocked()
        state = State.CLOSING
        val queues = registrationOrder.toList()
        for (engine in queues) engine.closeForPublishing()
        val processedBefore = queues.associate { it.name to it.processed() }
        logger.info { "RelayMQ closing: draining ${queues.size} queue(s) for up to $drainTimeout" }
        scope.async(CoroutineName("relaymq-close")) { drain(queues, processedBefore) }.also { closing = it }
    }

    private suspend fun drain(queues: List<QueueEngine<*>>, processedBefore: Map<String, Long>): CloseSummary {
        val store = snapshots
        var timedOut: Boolean
        val remaining: Map<String, QueueEngine.Remaining<*>>
        if (store != null && shutdownMode == ShutdownMode.SNAPSHOT_IMMEDIATELY) {
            for (engine in queues) engine.stopTaking()
            timedOut = withTimeoutOrNull(drainTimeout) {
                for (engine in queues) engine.awaitConsumers()
                true
            } == null
            remaining = takeRemaining(queues)
        } else {
            timedOut = withTimeoutOrNull(drainTimeout) {
                for (engine in queues) engine.awaitDrained()
                true
            } == null
            remaining = if (timedOut) takeRemaining(queues) else emptyMap()
        }

        val summaries = LinkedHashMap<String, QueueCloseSummary>()
        var failure: SnapshotException? = null
        for (engine in queues) {
            val rest = remaining[engine.name]
            val messages = rest?.all.orEmpty()
            var saved = 0L
            if (store != null) {
                try {
                    saved = writeSnapshot(store, engine, messages).toLong()
                    if (saved > 0) logger.info { "Queue '${engine.name}': saved $saved message(s) to ${store.fileFor(engine.name)}" }
                } catch (e: Exception) {
                    logger.error(e) {
                        "Queue '${engine.name}': writing the snapshot failed; ${messages.size} message(s) NOT saved " +
                            "(ids ${describeIds(messages)}). The previous snapshot file, if any, is untouched."
                    }
                    val error = SnapshotException("Writing the snapshot of queue '${engine.name}' failed: $e", e)
                    if (failure == null) failure = error else failure.addSuppressed(error)
                }
            }
            if (rest != null) engine.settle(rest, saved = saved > 0)
            val lost = if (saved > 0) emptyList() else messages
            if (lost.isNotEmpty()) {
                logger.warn {
                    "Queue '${engine.name}': ${lost.size} message(s) abandoned at close (drain timeout $drainTimeout), " +
                        "ids ${describeIds(lost)}"
                }
            }
            summaries[engine.name] = QueueCloseSummary(
                queue = engine.name,
                processedDuringClose = engine.processed() - (processedBefore[engine.name] ?: 0),
                saved = saved,
                abandoned = lost.size.toLong(),
                abandonedIds = lost.map { it.id },
            )
        }
        val summary = CloseSummary(summaries, timedOut = timedOut)
        summary.failure = failure?.let { SnapshotException(it.message ?: "snapshot failed", it.cause, summary) }
        synchronized(lock) { state = State.CLOSED }
        store?.close()
        idleWatch.onProgress()
        logger.info { "RelayMQ closed: $summary" }
        supervisor.complete()
        return summary
    }

    private suspend fun takeRemaining(queues: List<QueueEngine<*>>): Map<String, QueueEngine.Remaining<*>> =
        coroutineScope {
            queues.map { engine -> async { engine.name to engine.takeRemaining(ABANDON_GRACE) } }.awaitAll().toMap()
        }

    @Suppress("UNCHECKED_CAST")
    private fun writeSnapshot(store: SnapshotStore, engine: QueueEngine<*>, messages: List<Message<*>>): Int {
        val typed = engine as QueueEngine<Any?>
        return store.write(engine.name, typed.codec()!!, messages as List<Message<Any?>>)
    }

    /**
     * Test support: dies like a killed process would. Cancels everything without saving anything and
     * releases the snapshot directory lock (as the operating system does when a process dies).
     */
    internal fun crashForTesting() {
        synchronized(lock) { state = State.CLOSED }
        supervisor.cancel()
        snapshots?.close()
    }

    private fun describeIds(messages: List<Message<*>>): String {
        val shown = messages.take(MAX_IDS_LOGGED).joinToString(", ") { it.id.toString() }
        return if (messages.size > MAX_IDS_LOGGED) "$shown, ... (${messages.size - MAX_IDS_LOGGED} more)" else shown
    }

    private companion object {
        /** After the drain deadline, how long cancelled handlers get to unwind before they are reported. */
        val ABANDON_GRACE = 2.seconds
        const val MAX_IDS_LOGGED = 50

        /**
         * Messages handed over without the relay while there is no backlog, and refilled in batches by
         * the relay when there is one. Large enough that the relay wakes once per batch rather than once
         * per message under load; the backlog beyond it waits in the relay's compact buffer.
         */
        const val OUTBOX_CAPACITY = 512
    }
}
