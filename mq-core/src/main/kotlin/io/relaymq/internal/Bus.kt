package io.relaymq.internal

import io.relaymq.BusClosedException
import io.relaymq.CloseSummary
import io.relaymq.DeadLetter
import io.relaymq.MessageCodec
import io.relaymq.Message
import io.relaymq.PublishOptions
import io.relaymq.QueueOptions
import io.relaymq.QueueStats
import io.relaymq.ShutdownMode
import io.relaymq.UnknownQueueException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.asExecutor
import kotlinx.coroutines.async
import kotlinx.coroutines.future.asCompletableFuture
import kotlinx.coroutines.future.await
import kotlinx.coroutines.launch
import io.relaymq.spi.RemoteBackend
import java.nio.file.Path
import java.time.Clock
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.Executor
import kotlin.coroutines.CoroutineContext
import kotlin.coroutines.EmptyCoroutineContext
import kotlin.coroutines.cancellation.CancellationException
import kotlin.time.Duration

private val logger = relayLogger("io.relaymq.internal.Bus")

/**
 * The one bus behind both doors ([io.relaymq.MQ] for Kotlin, [io.relaymq.MessageBus] for Java): the
 * registry of queues, the bus's state (new → running → closing → closed), the one publish sequence,
 * dead-letter routing, own-handler detection and idle waiting. Fan-out is [FanOuts]; the close is
 * [CloseProcedure].
 *
 * ## The publish sequence
 * Every publish, from either door, is: find the queue, [Admission.tryPublish] (never waits); if a
 * SUSPEND queue is full, wait for room: Kotlin callers suspend ([publish]), callers that cannot
 * ([publishAsync]: Java futures, fan-out from Java) join the queue's waiters without a thread or a
 * coroutine. Dead letters are internal publishes ([publishDeadLetter]): taken while the target drains
 * at close, and whatever its room.
 *
 * ## Locks
 * [lock] guards the registry's order and the state. No user code runs under it: snapshots are decoded
 * (the user's codec) before it is taken, with the queue's name reserved meanwhile.
 */
internal class Bus(val settings: BusSettings) {
    val dispatcher: CoroutineDispatcher get() = settings.dispatcher
    val drainTimeout: Duration get() = settings.drainTimeout
    val snapshotDirectory: Path? get() = settings.snapshotDirectory
    val shutdownMode: ShutdownMode get() = settings.shutdownMode
    val clock: Clock get() = settings.clock

    enum class State { NEW, RUNNING, CLOSING, CLOSED }

    val store: SnapshotStore? = settings.snapshotDirectory?.let { SnapshotStore(it, settings.strictSnapshots, settings.snapshotFileSystem) }

    /** The journal directory's lock: the snapshot store's when both are one directory. */
    private val journalLock: DirectoryLock? = settings.journalDirectory?.let { dir ->
        val snapshots = store
        if (snapshots != null && sameDirectory(snapshots.directory, dir)) snapshots.lock else DirectoryLock(dir)
    }
    private val lock = Any()
    @Volatile var state: State = State.NEW // written under lock
        private set
    private var closing: Deferred<CloseSummary>? = null // guarded by lock
    private val reserved = HashSet<String>() // guarded by lock: names being registered

    // Lookups on the publish path are lock-free; registration happens under lock.
    private val engines = ConcurrentHashMap<String, QueueEngine<*>>()
    private val order = ArrayList<QueueEngine<*>>() // guarded by lock


    val supervisor = SupervisorJob()
    val scope = CoroutineScope(
        supervisor + dispatcher + CoroutineName("relaymq") +
            CoroutineExceptionHandler { context, e -> logger.error(e) { "Unexpected failure in ${context[CoroutineName]}" } },
    )
    private val executor: Executor = dispatcher.asExecutor()
    private val executorDispatcher: CoroutineDispatcher? = settings.executor?.asCoroutineDispatcher()
    val idleWatch = IdleWatch(::isSettled, executor)
    private val ownHandler = OwnHandler(this)
    /** Per queue, the codec of its payloads on disk (snapshot, journal, or a durable queue's dead letters). */
    private val letterCodecs = ConcurrentHashMap<String, MessageCodec<Any?>>()
    private val deadLetterCodec = DeadLetterCodec(::codecOf)
    private val builtInCodec = BuiltInCodec(deadLetterCodec)

    /** The remote backend the queues live in, or `null` when they live here. */
    val remoteBackend: RemoteBackend? = (settings.backend as? RemoteBackend)?.also { it.attach() }

    /** Per queue on a remote backend, its link to the store (also registered in [engines] for its consumers). */
    private val links = ConcurrentHashMap<String, RemoteLink>()
    private val remoteRequests: RemoteRequests? = remoteBackend?.let { RemoteRequests(it, executor) }

    /** `true` when the queues live on a remote backend. */
    val isRemote: Boolean get() = remoteBackend != null

    /** The remote links, in registration order. */
    fun links(): List<RemoteLink> = queues().mapNotNull { links[it.name] }

    // ---------------------------------------------------------------- registry

    /**
     * Registers a queue, from either door.
     *
     * @param handlerType the handler's declared payload class (Kotlin's reified `T`), `null` for Java
     *   handlers; with [QueueOptions.payloadType] and [QueueOptions.codec] it gives the queue's payload
     *   type ([payloadTypeOf]).
     * @param blocking `true` for handlers that block their thread (Java [io.relaymq.MessageHandler],
     *   [io.relaymq.MessageFunction]): their consumers run on the builder's executor or, by default, on
     *   the queue's own threads; `false`: on the bus dispatcher.
     */
    fun <T> register(
        name: String,
        options: QueueOptions,
        handlerType: Class<*>?,
        handler: suspend (Message<T>) -> Any?,
        blocking: Boolean,
        /** `false`: a publish-only queue on a remote backend ([registerPublisher]): this bus runs none of its messages. */
        consumes: Boolean = true,
    ) {
        require(name.isNotBlank()) { "Queue name must not be blank, was '$name'" }
        val type = payloadTypeOf(name, handlerType, options)
        @Suppress("UNCHECKED_CAST")
        val codec = options.codec as MessageCodec<T>?
        val journalDirectory = settings.journalDirectory
        if (options.durable && journalDirectory == null) {
            throw IllegalArgumentException(
                "Queue '$name' is durable, but the bus has no journal directory to keep its journal in. " +
                    "Give the bus one (MessageBus.builder().journalDirectory(dir), MQ(journalDirectory = dir)), or register the queue without durable.",
            )
        }
        val remote = remoteBackend
        if (remote != null) checkRemoteOptions(name, options, remote)
        val persistCodec = if (store != null || options.durable || remote != null) codecFor(name, type, codec) else null
        // Dead letters of this queue may have to cross the disk in a durable dead-letter queue.
        val letterCodec = persistCodec ?: if (journalDirectory != null) codecOrNull(type, codec) else null
        synchronized(lock) {
            refuseWhenClosed("Cannot register queue '$name'")
            require(!engines.containsKey(name) && name !in reserved) {
                "A queue named '$name' is already registered; queue names must be unique within a bus."
            }
            if (state == State.RUNNING) checkDeadLetterQueue(name, options.deadLetterQueue, options.durable, letterCodec != null)
            reserved += name
        }
        try {
            // Outside the lock: decoding runs the user's codec.
            val journal = if (options.durable) openJournal(name, journalDirectory!!, persistCodec!!) else null
            val snapshots = if (store != null && journal == null) QueueSnapshots(name, store.also { it.open() }, persistCodec!!) else null
            val restored = if (journal != null) {
                restoredMessages(name, journal.recoveredMessages())
            } else {
                snapshots?.read()?.let { snapshots.toMessages(it) }.orEmpty()
            }
            if (journal != null && store != null && java.nio.file.Files.exists(store.fileFor(name))) {
                logger.warn {
                    "Queue '$name' is durable now, but snapshot ${store.fileFor(name)} holds messages it saved when it was not; " +
                        "the file is left untouched. Register the queue without durable once to process them."
                }
            }
            // The queue's own threads: blocking handlers, no executor of the user's. None start before
            // the consumers do; a failed registration below ends the pool with the engine unused.
            // A remote queue's store enforces its capacity: the local engine only holds what its feed fetched.
            val remoteQueue = remote?.openQueue(name, options.capacity)
            val threads = if (blocking && executorDispatcher == null) QueueThreads(name, options.concurrency) else null
            val engine = QueueEngine(
                name = name,
                options = if (remote == null) options else localOptionsOf(options),
                payloadType = type,
                handler = handler,
                blocking = blocking,
                consumerContext = consumerContext(blocking, threads),
                threads = threads,
                transport = ChannelRelay(name, outboxCapacity = settings.outboxCapacity),
                idle = idleWatch,
                snapshots = snapshots,
                journal = journal,
                clock = clock,
                publishDeadLetter = ::publishDeadLetter,
                ownHandler = ownHandler,
            )
            try {
                engine.restore(restored, journal?.recoveredMaxId ?: 0L)
            } catch (e: Exception) {
                engine.crashJournal()
                throw e
            }
            @Suppress("UNCHECKED_CAST")
            val link = remoteQueue?.let { queue ->
                val local = engine as QueueEngine<Any?>
                val feed = RemoteFeed(name, queue, local, persistCodec as MessageCodec<Any?>, remote.visibilityTimeout()) { address, correlation, outcome ->
                    sendOutcome(queue, name, address, correlation, outcome)
                }
                RemoteLink(name, queue, persistCodec, feed, local, FIGURES_WAIT, consumes).also { it.capacity = options.capacity }
            }
            synchronized(lock) {
                if (state == State.CLOSING || state == State.CLOSED) {
                    engine.stopThreads(now = true)
                    engine.crashJournal() // nothing was accepted into it: stopping it loses nothing
                }
                refuseWhenClosed("Cannot register queue '$name'")
                engine.startRelay(scope)
                @Suppress("UNCHECKED_CAST")
                letterCodec?.let { letterCodecs[name] = it as MessageCodec<Any?> }
                if (link != null) links[name] = link
                engines[name] = engine
                order.add(engine)
                if (state == State.RUNNING) {
                    engine.startConsumers()
                    if (link != null && link.consumes) link.feed.start(scope)
                }
            }
        } finally {
            synchronized(lock) { reserved -= name }
        }
        logger.debug { "Registered queue '$name' with $options" }
    }

    /**
     * What a remote backend cannot honour is refused at registration, saying why (never ignored).
     * Ordering keys are refused at publish (they are a publish option).
     */
    private fun checkRemoteOptions(name: String, options: QueueOptions, backend: RemoteBackend) {
        require(!options.durable) {
            "Queue '$name' is durable, but the bus keeps its queues on $backend: messages live in that store, and how durable they are is " +
                "the store's setting (for Redis: AOF with appendfsync always). Register the queue without durable."
        }
        require(!options.isBounded || options.overflow == io.relaymq.OverflowPolicy.REJECT) {
            "Queue '$name' has capacity ${options.capacity} with overflow ${options.overflow}, but on $backend a full queue can only refuse " +
                "publishes (the store is shared by many processes: none can drop another's messages or make it wait). Use OverflowPolicy.REJECT, or no capacity."
        }
        require(options.onDrop == null) {
            "Queue '$name' has a drop listener, but on $backend nothing is ever dropped (a full queue refuses the publish instead). Remove onDrop."
        }
    }

    /** The options of a remote queue's local engine: the store bounds the queue, so the engine does not. */
    private fun localOptionsOf(options: QueueOptions): QueueOptions = options.localPart()

    /** Sends a request's outcome through [queue]'s store; a failure is logged (the requester may time out). */
    private fun sendOutcome(queue: io.relaymq.spi.RemoteQueue, name: String, address: String, correlation: Long, outcome: ByteArray) {
        try {
            queue.reply(address, correlation, outcome).whenComplete { _, e ->
                if (e != null) logger.warn(e) { "Queue '$name': the outcome of a request could not be sent to its requester ($address)" }
            }
        } catch (e: Exception) {
            logger.warn(e) { "Queue '$name': the outcome of a request could not be sent to its requester ($address)" }
        }
    }

    /**
     * Registers [name] on the remote backend for publishing only: publishes and requests go to the
     * store, and the buses that registered it with a handler run them; this one takes none.
     * @throws IllegalArgumentException on the in-memory backend (nothing would ever run the messages),
     *   and as [register] for the name and options.
     */
    fun registerPublisher(name: String, options: QueueOptions, handlerType: Class<*>?) {
        requireNotNull(remoteBackend) {
            "Queue '$name': a publish-only queue needs a shared backend (RedisStreams): on the in-memory backend nothing " +
                "would ever run its messages. Register it with a handler instead."
        }
        register<Any?>(name, options, handlerType, PUBLISH_ONLY, blocking = false, consumes = false)
    }

    /** Opens [name]'s journal: locks the journal directory, recovers the queue's records. */
    private fun <T> openJournal(name: String, directory: Path, codec: MessageCodec<T>): QueueJournal<T> {
        try {
            checkNotNull(journalLock).open()
        } catch (e: IllegalStateException) {
            throw io.relaymq.JournalException("Journal ${e.message}")
        } catch (e: java.io.IOException) {
            throw io.relaymq.JournalException("Cannot use journal directory $directory: $e", e)
        }
        return QueueJournal.open(name, directory, codec, settings)
    }

    /**
     * Where a queue's consumers run: Kotlin and async handlers on the bus dispatcher; blocking handlers
     * on the builder's executor, or else on the queue's own [threads].
     */
    private fun consumerContext(blocking: Boolean, threads: QueueThreads?): CoroutineContext = when {
        !blocking -> EmptyCoroutineContext
        else -> executorDispatcher ?: checkNotNull(threads).dispatcher
    }

    /**
     * The codec that carries a queue's payloads to disk: the queue's own, else a built-in one for
     * untyped, `String`, `byte[]` and `DeadLetter` queues; `null` for another type without a codec.
     */
    @Suppress("UNCHECKED_CAST")
    private fun <T> codecOrNull(type: Class<*>?, codec: MessageCodec<T>?): MessageCodec<T>? = when {
        codec != null -> codec
        type == null -> builtInCodec as MessageCodec<T>
        type == String::class.java -> MessageCodec.utf8() as MessageCodec<T>
        type == ByteArray::class.java -> MessageCodec.bytes() as MessageCodec<T>
        type == DeadLetter::class.java -> deadLetterCodec as MessageCodec<T>
        else -> null
    }

    /** [codecOrNull], or an error saying which codec the queue needs. */
    private fun <T> codecFor(name: String, type: Class<*>?, codec: MessageCodec<T>?): MessageCodec<T> =
        codecOrNull(type, codec) ?: throw IllegalArgumentException(
            "Queue '$name' carries ${type?.name} payloads and " +
                (if (store != null) "the bus saves snapshots to $snapshotDirectory" else if (remoteBackend != null) "the bus keeps its queues on $remoteBackend" else "is durable") +
                ": pass a MessageCodec<${type?.simpleName}> (QueueOptions codec) so they can cross " +
                (if (remoteBackend != null) "to Redis." else "the disk."),
        )

    /** The codec that carries [queue]'s payloads to disk, when it has one (for dead-letter payloads). */
    private fun codecOf(queue: String): MessageCodec<Any?>? = letterCodecs[queue]

    private fun checkDeadLetterQueue(queue: String, target: String?, durable: Boolean, hasCodec: Boolean) {
        if (target == null) return
        val engine = engines[target] ?: throw IllegalArgumentException(
            "Queue '$queue' names '$target' as its dead-letter queue, but no queue '$target' is registered. " +
                "Register '$target' first, or fix deadLetterQueue.",
        )
        if (durable && !engine.isDurable) {
            throw IllegalArgumentException(
                "Queue '$queue' is durable, but its dead-letter queue '$target' is not: a dead letter would live in memory " +
                    "only, while its message had left the journal, and a crash would lose it. Make '$target' durable too.",
            )
        }
        if (engine.isDurable && !hasCodec) {
            throw IllegalArgumentException(
                "Queue '$queue' dead-letters into durable queue '$target', whose letters carry '$queue''s payloads to disk, " +
                    "but '$queue' has no codec for them: give '$queue' a MessageCodec (QueueOptions codec).",
            )
        }
    }

    private fun refuseWhenClosed(what: String) { // guarded by lock
        if (state == State.CLOSING || state == State.CLOSED) {
            throw BusClosedException(null, "$what: the bus is ${state.name.lowercase()}; create a new one.")
        }
    }

    fun start() {
        synchronized(lock) {
            when (state) {
                State.NEW -> {
                    for (engine in order) checkDeadLetterQueue(engine.name, engine.deadLetterQueue, engine.isDurable, letterCodecs.containsKey(engine.name))
                    store?.open()
                    startLocked()
                }
                State.RUNNING -> throw IllegalStateException("The bus is already started; start() is called once.")
                State.CLOSING, State.CLOSED -> refuseWhenClosed("Cannot start the bus")
            }
        }
    }

    fun startLocked() { // guarded by lock
        state = State.RUNNING
        for (engine in order) {
            engine.startConsumers()
            links[engine.name]?.let { if (it.consumes) it.feed.start(scope) }
        }
        logger.info { "RelayMQ started with ${order.size} queue(s)" }
        store?.orphans(order.map { it.name })?.forEach {
            logger.warn { "Snapshot file $it belongs to no registered queue; left untouched until that queue is registered" }
        }
        settings.journalDirectory?.let { dir -> journalOrphans(dir, order.filter { it.isDurable }.map { it.name }) }
    }

    fun engine(queue: String): QueueEngine<*> = engines[queue] ?: throw UnknownQueueException(queue)

    /** Registered queues in registration order. */
    fun queues(): List<QueueEngine<*>> = synchronized(lock) { order.toList() }

    /** The names of the registered queues in registration order, as an unmodifiable copy (both doors). */
    fun queueNames(): List<String> = java.util.Collections.unmodifiableList(queues().map { it.name })

    // ---------------------------------------------------------------- publishing

    /**
     * Publishes [data] to [queue], suspending for room in a full SUSPEND queue and, for a durable queue,
     * until the message is stored (not cancellable then: see [SuspendingDurablePublish.await]).
     */
    suspend fun publish(queue: String, data: Any, reply: Any?, key: String?, dueAt: Long): Long {
        val admission = engine(queue).admission
        // Cancelling the wait does not take back a message the store may already have (see remotePublish).
        if (remoteBackend != null) links[queue]?.let { return remotePublish(it, data, reply, key, dueAt).await() }
        if (admission.isDurable) {
            val durable = admission.prepareDurable(data, key, ::SuspendingDurablePublish) as SuspendingDurablePublish
            if (admission.tryPublish(data, reply, key, dueAt, durable = durable) == NO_ROOM) {
                admission.publishWhenRoom(data, reply, key, dueAt, durable)
            }
            return durable.await()
        }
        val id = admission.tryPublish(data, reply, key, dueAt)
        return if (id != NO_ROOM) id else admission.publishWhenRoom(data, reply, key, dueAt)
    }

    /**
     * Publishes without suspending or blocking: the future completes with the id once accepted (at once,
     * or when a full SUSPEND queue has room, in the order the caller published). Argument errors
     * (unknown queue, wrong payload) are thrown; state errors (closed, full REJECT queue) fail the
     * future and [reply].
     */
    fun publishAsync(queue: String, data: Any, reply: RequestFuture<Any?>?, key: String?, dueAt: Long): CompletableFuture<Long> {
        val admission = engine(queue).admission
        if (remoteBackend != null) links[queue]?.let { link ->
            val stored = try {
                remotePublish(link, data, reply, key, dueAt)
            } catch (e: IllegalStateException) { // BusClosedException: state, not arguments
                reply?.completeExceptionally(e)
                return CompletableFuture.failedFuture(e)
            }
            // The backend completes publishes on a pool thread, not its I/O thread (RemoteQueue.publish): no hop.
            return stored
        }
        // A durable queue's future is needed before the publish (the writer completes it); an in-memory
        // queue allocates one only when it has to wait for room.
        val durableFuture = if (admission.isDurable) DurablePublishFuture() else null
        val durable = durableFuture?.let { future -> admission.prepareDurable(data, key) { FutureDurablePublish(it, future, reply, executor) } }
        val id = try {
            admission.tryPublish(data, reply, key, dueAt, durable = durable)
        } catch (e: IllegalStateException) { // BusClosedException, QueueFullException: state, not arguments
            reply?.completeExceptionally(e)
            return CompletableFuture.failedFuture(e)
        }
        if (id != NO_ROOM) return durableFuture ?: CompletableFuture.completedFuture(id)
        val accepted = durableFuture ?: CompletableFuture<Long>()
        // Completed through the executor: the thread that lets a waiter in is a consumer of the queue,
        // which must not run the caller's dependent stages.
        val waiter = admission.publishWhenRoom(
            data, reply, key, dueAt, durable,
            onAccepted = { executor.execute { accepted.complete(it) } },
            onRefused = { failure ->
                executor.execute {
                    reply?.completeExceptionally(failure)
                    accepted.completeExceptionally(failure)
                }
            },
        )
        accepted.whenComplete { _, e -> if (e is CancellationException) waiter.cancel() } // gave up waiting
        return accepted
    }

    /**
     * A publish to a queue on the remote backend: checked and encoded here (the codec is user code),
     * then stored; the future completes on the store's thread once the store accepted the message (or
     * fails: [BackendException][io.relaymq.BackendException] when unreachable within its timeout,
     * `QueueFullException` when full). A request registers its [reply] to wait for the outcome, which may
     * come from any process that shares the queue.
     * @throws IllegalArgumentException for a payload of the wrong type or that the codec cannot encode,
     *   or an ordering key (not supported across processes).
     * @throws BusClosedException once the close began.
     */
    private fun remotePublish(link: RemoteLink, data: Any, reply: Any?, key: String?, dueAt: Long): CompletableFuture<Long> {
        require(key == null) {
            "Queue '${link.name}' is on $remoteBackend, where ordering keys are not supported (one key's messages would have to run " +
                "one at a time across every process). Publish without a key, or keep keyed work on an in-memory bus."
        }
        link.engine.admission.validate(data)
        if (state == State.CLOSING || state == State.CLOSED) throw link.engine.admission.closed()
        val payload = try {
            link.codec.encode(data)
        } catch (e: Exception) {
            throw IllegalArgumentException("Queue '${link.name}': ${link.codec} failed to encode the payload ($e); the message was not published.", e)
        }
        val requests = remoteRequests!!
        val correlation = if (reply != null) requests.register(link.name, reply) else 0L
        val address = if (reply != null) requests.address() else null
        val stored = try {
            link.remote.publish(io.relaymq.spi.RemoteMessage(payload, clock.millis(), dueAt, address, correlation))
        } catch (e: Exception) {
            CompletableFuture.failedFuture(e)
        }
        return stored.whenComplete { _, e ->
            if (e == null) {
                link.published.increment()
            } else {
                link.rejected.increment()
                if (reply != null) {
                    requests.forget(correlation)
                    when (reply) {
                        is KotlinReply -> reply.completeExceptionally(unwrap(e))
                        is CompletableFuture<*> -> executor.execute { reply.completeExceptionally(unwrap(e)) }
                    }
                }
            }
        }
    }

    private fun unwrap(e: Throwable): Throwable = if (e is CompletionException && e.cause != null) e.cause!! else e

    fun dueAtOf(options: PublishOptions): Long {
        val now = clock.millis()
        var due = if (options.delay.isPositive()) now + options.delay.inWholeMilliseconds else 0L
        val at = options.dueAt?.toEpochMilli()
        if (at != null && at > now) due = maxOf(due, at)
        return due
    }

    /**
     * Dead letters are internal publishes: taken while the target drains at close, whatever its room.
     * [whenSafe] runs once the letter is safe: at once, or once a durable target stored it.
     */
    private fun publishDeadLetter(queue: String, letter: DeadLetter, whenSafe: LetterWatch) {
        val target = engines[queue]
            ?: throw UnknownQueueException(queue) // checked at start and registration; logged by the caller
        val link = links[queue]
        if (link != null) {
            val payload = link.codec.encode(letter)
            link.remote.publish(io.relaymq.spi.RemoteMessage(payload, clock.millis(), 0L, null, 0L)).whenComplete { _, e ->
                if (e == null) {
                    link.published.increment()
                    whenSafe.safe()
                } else {
                    logger.error(unwrap(e)) {
                        "Dead-letter queue '$queue' could not store the dead letter of message ${letter.messageId} of queue '${letter.queue}'; " +
                            "the message goes back to its queue and is delivered again"
                    }
                    whenSafe.lost()
                }
            }
            return
        }
        val admission = target.admission
        if (!admission.isDurable) {
            admission.tryPublish(letter, null, null, 0L, internal = true)
            whenSafe.safe()
            return
        }
        val durable = admission.prepareDurable(letter, null) { payload -> DeadLetterDurablePublish(payload, queue, letter, whenSafe) }
        admission.tryPublish(letter, null, null, 0L, internal = true, durable = durable)
    }

    // ---------------------------------------------------------------- fan-out

    /** Fan-out bindings of this bus: one publish, one copy per bound queue. */
    val fanOuts = FanOuts(this)

    // ---------------------------------------------------------------- observing

    /** Every queue settled, read in close order (sources before their dead-letter queues): never early. */
    fun isSettled(): Boolean = CloseProcedure.drainOrder(snapshotOfQueues()).all { it.isSettled() }

    private fun snapshotOfQueues(): List<QueueEngine<*>> = synchronized(lock) { order.toList() }

    fun idleFuture(): CompletableFuture<Void?> {
        if (state == State.NEW && !isSettled()) {
            logger.warn { "idle() was called before start(): it completes once the bus has started and processed what it holds (or closed)." }
        }
        if (isRemote) return remoteIdleFuture()
        return idleWatch.future()
    }

    /**
     * On a remote backend, idle means: this bus holds nothing, and its queues' stores hold nothing either
     * (nothing ready, handed out anywhere, or delayed). Other processes change the store without telling
     * this one, so it is polled.
     */
    private fun remoteIdleFuture(): CompletableFuture<Void?> {
        val idle = CompletableFuture<Void?>()
        scope.launch(CoroutineName("relaymq-idle")) {
            while (!idle.isDone) {
                if (state == State.CLOSED || (isSettled() && links().all { storeIsEmpty(it) } && isSettled())) {
                    idle.complete(null)
                } else {
                    kotlinx.coroutines.delay(REMOTE_IDLE_POLL_MILLIS)
                }
            }
        }.invokeOnCompletion { if (!idle.isDone) idle.complete(null) } // the bus ended
        return idle
    }

    private suspend fun storeIsEmpty(link: RemoteLink): Boolean = try {
        link.remote.figures().await().length == 0L
    } catch (e: CancellationException) {
        throw e
    } catch (e: Exception) {
        false
    }

    fun stats(): Map<String, QueueStats> = snapshotOfQueues().associate { it.name to statsOf(it) }

    /** [queue]'s counters (with the store's figures for a remote queue). */
    fun stats(queue: String): QueueStats = statsOf(engine(queue))

    private fun statsOf(engine: QueueEngine<*>): QueueStats =
        (if (remoteBackend != null) links[engine.name]?.stats() else null) ?: engine.stats()

    /**
     * `true` when the caller is one of this bus's handlers: [context] (a suspending caller's) is a
     * handler's, or this thread runs a resumed part of a Kotlin handler, or the synchronous part of any
     * handler (see [OwnHandler]).
     */
    fun isInsideOwnHandler(context: CoroutineContext?): Boolean {
        if (context?.get(OwnHandler)?.bus === this) return true
        if (OwnHandler.isResumedHandlerOf(this)) return true
        val thread = Thread.currentThread()
        return engines.values.any { it.isHandlerThread(thread) }
    }

    // ---------------------------------------------------------------- closing

    /**
     * The blocking close of both doors (`MQ.close()`, `MessageBus.shutdown()`/`close()`): [close], waited
     * for on this thread, with the close's own exception rethrown rather than wrapped.
     */
    fun closeAndWait(): CloseSummary =
        try {
            close(null).asCompletableFuture().join().orThrow()
        } catch (e: CompletionException) {
            throw e.cause ?: e
        }

    /**
     * Starts the close (idempotent) and returns its outcome. Refused from one of this bus's own
     * consumers, which it would wait for.
     */
    fun close(callerContext: CoroutineContext?): Deferred<CloseSummary> {
        check(!isInsideOwnHandler(callerContext)) {
            "close()/shutdown() was called from a handler of this bus; it would wait for that handler to finish. " +
                "Close the bus from outside its handlers."
        }
        return synchronized(lock) {
            closing?.let { return it }
            // A bus that never started drains on close, unless it saves to a snapshot straight away:
            // then its consumers never start and everything it holds goes to the snapshot. On a remote
            // backend it holds nothing (its messages are in the store): it closes without starting.
            if (state == State.NEW && !isRemote && !(store != null && shutdownMode == ShutdownMode.SNAPSHOT_IMMEDIATELY)) startLocked()
            state = State.CLOSING
            val queues = order.toList()
            val saveAtOnce = store != null && shutdownMode == ShutdownMode.SNAPSHOT_IMMEDIATELY
            // Now, not when the close coroutine first runs: no message is handed out after close() when
            // saving at once.
            for (engine in queues) engine.closeForPublishing(saveAtOnce)
            logger.info { "RelayMQ closing: ${queues.size} queue(s), drain timeout $drainTimeout" }
            val procedure = CloseProcedure(this, queues)
            scope.async(CoroutineName("relaymq-close")) { procedure.run() }.also { closing = it }
        }
    }

    /** Called by [CloseProcedure] when it is done. */
    fun closed() {
        synchronized(lock) { state = State.CLOSED }
        for (engine in queues()) engine.stopThreads(now = false) // every consumer has exited or lost its message
        store?.close()
        journalLock?.close()
        remoteRequests?.failAll { BusClosedException(null, "The bus closed before the outcome of this request arrived; its message may still be handled by another process sharing the queue.") }
        remoteBackend?.close()
        idleWatch.onProgress()
        supervisor.complete()
    }

    /**
     * Test support: dies like a killed process would. Cancels everything without saving anything and
     * releases the snapshot directory lock (as the operating system does when a process dies).
     */
    fun crashForTesting() {
        synchronized(lock) { state = State.CLOSED }
        supervisor.cancel()
        for (engine in queues()) {
            engine.stopThreads(now = true)
            engine.crashJournal()
        }
        store?.close()
        journalLock?.close()
        remoteBackend?.close() // held messages stay claimed until their visibility timeout, as after a kill
    }

    /** Journal directories in [root] that belong to none of the [durable] queues (left untouched). */
    private fun journalOrphans(root: Path, durable: List<String>) {
        val known = durable.mapTo(HashSet()) { QueueFileNames.journalDirectoryName(it) }
        try {
            java.nio.file.Files.list(root).use { files ->
                files.filter {
                    val name = it.fileName.toString()
                    name.startsWith(QueueFileNames.PREFIX) && name.endsWith(QueueFileNames.JOURNAL_SUFFIX) && name !in known
                }.forEach {
                    logger.warn { "Journal $it belongs to no registered durable queue; left untouched until that queue is registered durable" }
                }
            }
        } catch (e: java.io.IOException) {
            logger.debug(e) { "Could not list journal directory $root" }
        }
    }

    private companion object {
        /** How long [stats] waits for a remote store's figures before showing the last ones read. */
        val FIGURES_WAIT: java.time.Duration = java.time.Duration.ofSeconds(1)

        const val REMOTE_IDLE_POLL_MILLIS = 20L

        /** The handler of a publish-only queue: never called (its feed never starts). */
        val PUBLISH_ONLY: suspend (Message<Any?>) -> Any? = { message ->
            error("Queue '${message.queue}' is publish-only on this bus; its messages run on the buses that registered a handler")
        }
    }
}
