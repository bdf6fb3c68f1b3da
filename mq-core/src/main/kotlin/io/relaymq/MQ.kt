package io.relaymq

import io.relaymq.internal.Bus
import io.relaymq.internal.KotlinReply
import io.relaymq.internal.NO_OPTIONS
import io.relaymq.internal.NO_ROOM
import io.relaymq.internal.BusSettings
import io.relaymq.internal.DEFAULT_DRAIN_TIMEOUT
import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.future.await
import kotlinx.coroutines.withTimeout
import java.nio.file.Path
import java.time.Clock
import kotlin.coroutines.cancellation.CancellationException
import kotlin.time.Duration

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
 * - **Concurrency:** never more than `concurrency` handlers of one queue run at once (after a shrink
 *   by [setConcurrency], the surplus handlers already running finish first).
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
    settings: BusSettings,
    @Suppress("UNUSED_PARAMETER") fromRelayMQ: FromRelayMQ = FROM_RELAYMQ,
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
     * @param journalDirectory where durable queues ([QueueOptions.durable]) keep their crash-safe
     *   journals, one subdirectory per queue; `null` (the default): no queue can be durable. It may be
     *   the snapshot directory.
     * @param fsyncPolicy when journals are forced to disk, and so what a crash or a power loss can take
     *   (see [FsyncPolicy]); default [FsyncPolicy.perGroupCommit].
     * @param strictJournal a corrupt journal file makes registration fail (file left in place) instead
     *   of being moved aside, after recovering what it can, with an error log.
     * @param backend where the queues live: [QueueBackend.inMemory] (the default) or a shared store,
     *   `RedisStreams.builder(uri).build()` from `mq-redis` (then no snapshot or journal directory).
     * @throws IllegalArgumentException if [drainTimeout] is not positive, or [backend] is remote and a
     *   snapshot or journal directory is given.
     * @throws IllegalStateException if [backend] already serves another bus.
     */
    public constructor(
        dispatcher: CoroutineDispatcher = Dispatchers.Default,
        drainTimeout: Duration = DEFAULT_DRAIN_TIMEOUT,
        snapshotDirectory: Path? = null,
        shutdownMode: ShutdownMode = ShutdownMode.SNAPSHOT_IMMEDIATELY,
        strictSnapshots: Boolean = false,
        clock: Clock = Clock.systemUTC(),
        journalDirectory: Path? = null,
        fsyncPolicy: FsyncPolicy = FsyncPolicy.perGroupCommit(),
        strictJournal: Boolean = false,
        backend: QueueBackend = QueueBackend.inMemory(),
    ) : this(
        BusSettings(
            dispatcher, drainTimeout, snapshotDirectory, shutdownMode, strictSnapshots, clock,
            journalDirectory = journalDirectory, fsyncPolicy = fsyncPolicy, strictJournal = strictJournal, backend = backend,
        ),
    )

    @PublishedApi
    internal val bus: Bus = Bus(settings)

    /** How long [shutdown] waits for accepted messages before giving up on them. */
    public val drainTimeout: Duration get() = bus.drainTimeout

    /** The snapshot directory, or `null` when messages live in memory only. */
    public val snapshotDirectory: Path? get() = bus.snapshotDirectory

    /** Where durable queues keep their journals, or `null` when the bus has none. */
    public val journalDirectory: Path? get() = bus.settings.journalDirectory

    /** When journals are forced to disk. */
    public val fsyncPolicy: FsyncPolicy get() = bus.settings.fsyncPolicy

    /** Where the queues live: [QueueBackend.inMemory] or a remote store (Redis). */
    public val backend: QueueBackend get() = bus.settings.backend

    /** What close does with pending messages when there is a snapshot directory. */
    public val shutdownMode: ShutdownMode get() = bus.shutdownMode

    /** The clock behind publish times, delays and retry backoffs. */
    public val clock: Clock get() = bus.clock

    /**
     * Registers a queue whose handler receives payloads of type [T], before or after [start].
     *
     * Publishing a payload that is not a [T] to this queue fails at once with an
     * [IllegalArgumentException] rather than later inside the handler.
     *
     * With a snapshot directory, the queue's pending messages are restored now (before anything can be
     * published to it), and its payloads cross the disk through a codec: `String`, `ByteArray` and
     * [DeadLetter] queues get a built-in one; other types pass theirs in the options
     * (`QueueOptions(codec = orderCodec)`, see [registerQueue] with options).
     *
     * @param name the queue's name: non-blank, unique within this bus, case-sensitive.
     * @param concurrency how many handler calls may run at once (at least 1).
     * @param handler called once per message; see [MQ] for what happens when it throws.
     * @throws IllegalArgumentException for a blank name, a name already registered, concurrency < 1, a
     *   persistent queue of a type without a built-in codec and no codec, or (bus running) a
     *   dead-letter queue that is not registered.
     * @throws BusClosedException when the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked by another bus, or (strict) the
     *   queue's snapshot is corrupt.
     */
    public inline fun <reified T : Any> registerQueue(
        name: String,
        concurrency: Int = 1,
        noinline handler: suspend (Message<T>) -> Unit,
    ) {
        registerQueue(name, QueueOptions(concurrency = concurrency), T::class.javaObjectType, handler)
    }

    /**
     * Registers a queue with [options] (concurrency, capacity, overflow policy, drop listener, retries,
     * dead letters, snapshot codec); otherwise as the function above. A [QueueOptions.codec] must
     * handle [T] or a subclass of it (restored payloads go to this handler), and a
     * [QueueOptions.payloadType] (set by Java code) must be [T] or a subclass; otherwise registration
     * fails with [IllegalArgumentException] naming both classes.
     */
    public inline fun <reified T : Any> registerQueue(
        name: String,
        options: QueueOptions,
        noinline handler: suspend (Message<T>) -> Unit,
    ) {
        registerQueue(name, options, T::class.javaObjectType, handler)
    }

    /**
     * Registers a queue whose handler returns a result of type [R], for [request]; [publish] to it works
     * too (the result is then discarded). Otherwise as [registerQueue].
     */
    public inline fun <reified T : Any, R> registerReplyingQueue(
        name: String,
        concurrency: Int = 1,
        noinline handler: suspend (Message<T>) -> R,
    ) {
        registerQueue(name, QueueOptions(concurrency = concurrency), T::class.javaObjectType, handler)
    }

    /** [registerReplyingQueue] with [options]; see [registerQueue] with options. */
    public inline fun <reified T : Any, R> registerReplyingQueue(
        name: String,
        options: QueueOptions,
        noinline handler: suspend (Message<T>) -> R,
    ) {
        registerQueue(name, options, T::class.javaObjectType, handler)
    }

    /**
     * Registers [name] for publishing only, on a bus whose backend is shared (`RedisStreams`): this bus
     * publishes and sends requests to it with payloads of type [T], and the buses (in any JVM) that
     * registered it with a handler run its messages; this one runs none (a web tier that hands work to
     * a worker tier). [options] give the codec and the capacity; consumer settings (concurrency,
     * retries, dead letters) belong to the handlers' side and are not used here.
     * @throws IllegalArgumentException on the in-memory backend (nothing would ever run the messages),
     *   for a blank or duplicate name, or options the backend cannot honour.
     * @throws BusClosedException when the bus is closing or closed.
     */
    public inline fun <reified T : Any> registerPublisher(name: String, options: QueueOptions = QueueOptions()) {
        registerPublisher(name, options, T::class.javaObjectType)
    }

    /** [registerPublisher] for payloads of class [type]. */
    public fun <T : Any> registerPublisher(name: String, options: QueueOptions, type: Class<T>) {
        bus.registerPublisher(name, options, type)
    }

    /**
     * Registers a queue for payloads of [type]; the non-reified form of the functions above, for generic
     * code. The handler's return value is the result a [request] receives. Same rules and exceptions.
     */
    public fun <T : Any> registerQueue(
        name: String,
        options: QueueOptions,
        type: Class<T>,
        handler: suspend (Message<T>) -> Any?,
    ) {
        bus.register(name, options, type, handler, blocking = false)
    }

    /**
     * Starts every registered queue; queues registered later start at once. Messages published before
     * start wait and are delivered now.
     *
     * @throws IllegalStateException if already started.
     * @throws IllegalArgumentException when a queue's dead-letter queue is not registered (names both).
     * @throws BusClosedException if the bus is closing or closed.
     * @throws SnapshotException when the snapshot directory is locked by another bus.
     */
    public fun start() {
        bus.start()
    }

    /**
     * Publishes [data] to [queue] and returns the message's id once the queue has accepted it. An
     * accepted message will be handled (or, if the bus gives up at the drain deadline, reported as
     * abandoned or saved).
     *
     * Suspends only while a bounded [OverflowPolicy.SUSPEND] queue is full, until there is room (first
     * come, first served), and, for a durable queue ([QueueOptions.durable]), until the message's record
     * is on disk (as the bus's [FsyncPolicy] says; one group commit). Cancellation: a publish that
     * returned an id was accepted; one that threw was not. Waiting for room is cancellable; waiting for
     * the journal is not (it takes one fsync): a publish cancelled then still returns its id once
     * stored, and the cancellation takes effect at the caller's next suspension.
     *
     * (Inline so that the id is not boxed on its way out of a suspend function: publishing allocates
     * nothing but the message itself.)
     *
     * @throws UnknownQueueException if no queue named [queue] is registered.
     * @throws IllegalArgumentException if [data] is not of the queue's payload type.
     * @throws QueueFullException for a full [OverflowPolicy.REJECT] queue.
     * @throws BusClosedException if the bus is closing or closed (the message is not accepted), also
     *   when it closes while this publish waits for room.
     * @throws JournalException for a durable queue whose journal write or fsync failed (the message is
     *   not accepted; publish it again).
     */
    @Suppress("NOTHING_TO_INLINE")
    public suspend inline fun publish(queue: String, data: Any): Long {
        val id = offer(queue, data)
        return if (id != NO_ROOM) id else publishWhenRoom(queue, data)
    }

    /**
     * Non-suspending part of [publish]: the id, or [NO_ROOM] when a SUSPEND queue is full or the queue is
     * durable (its publish waits for the journal).
     */
    @PublishedApi
    internal fun offer(queue: String, data: Any): Long = offerNow(queue, data, null)

    /**
     * Accepts [data] (with [reply], for a request) without waiting: the id, or [NO_ROOM] when the
     * publish must wait (full SUSPEND queue, a durable queue's journal, a remote store).
     */
    private fun offerNow(queue: String, data: Any, reply: KotlinReply?): Long {
        val admission = bus.engine(queue).admission
        return if (admission.isDurable || bus.isRemote) NO_ROOM else admission.tryPublish(data, reply, null, 0L)
    }

    /** Suspending part of [publish], for a full SUSPEND queue or a durable queue. */
    @PublishedApi
    internal suspend fun publishWhenRoom(queue: String, data: Any): Long {
        val admission = bus.engine(queue).admission
        return if (admission.isDurable || bus.isRemote) bus.publish(queue, data, null, null, 0L) else admission.publishWhenRoom(data, null, null, 0L)
    }

    /**
     * Publishes [data] to [queue] with per-message [options]: an ordering key, a delay or a due time.
     * A delayed message is accepted now (it gets its id and counts against the queue's capacity) and
     * handed to a consumer no sooner than its due time. Otherwise as [publish].
     */
    public suspend fun publish(queue: String, data: Any, options: PublishOptions): Long =
        bus.publish(queue, data, null, options.key, bus.dueAtOf(options))

    /**
     * Publishes [data] to [queue] and waits for its handler to finish: returns what the handler returned
     * (`Unit` for queues registered with [registerQueue]) or throws what it threw (after the last
     * attempt, with retries). The two stages of one publish: acceptance (as [publish], including
     * waiting for room) and completion.
     *
     * Cancellation or [timeout] before a consumer took the message *withdraws* it at once: it is never
     * handled, no longer counts against the capacity, and is counted in [QueueStats.withdrawn]. After
     * that, the handler runs to its end and only the waiting stops. A message dropped by its queue's
     * overflow policy, or not processed because the bus closed, fails with [MessageDroppedException].
     *
     * @throws kotlinx.coroutines.TimeoutCancellationException when [timeout] elapses first (it also
     *   covers waiting for room in a full SUSPEND queue; a message still waiting for room is not accepted).
     * @throws QueueFullException, UnknownQueueException, IllegalArgumentException, BusClosedException as [publish].
     */
    public suspend fun <R> request(
        queue: String,
        data: Any,
        timeout: Duration = Duration.INFINITE,
        options: PublishOptions = NO_OPTIONS,
    ): R {
        // The common case: accepted at once, then waited for through the caller's own continuation.
        // Both calls below are tail calls, so this function has no frame of its own to allocate and
        // intercept on every request (which cost a third of a round trip).
        if (timeout.isInfinite() && options === NO_OPTIONS) {
            val reply = KotlinReply()
            if (offerNow(queue, data, reply) != NO_ROOM) return reply.await()
        }
        return requestWaiting(queue, data, timeout, options)
    }

    /** [request] that may wait for room, for the journal or the remote store, or time out. */
    private suspend fun <R> requestWaiting(queue: String, data: Any, timeout: Duration, options: PublishOptions): R {
        val reply = KotlinReply()
        val key = options.key
        val dueAt = if (options === NO_OPTIONS) 0L else bus.dueAtOf(options)
        val result = try {
            if (timeout.isInfinite()) {
                bus.publish(queue, data, reply, key, dueAt)
                reply.await<Any?>()
            } else {
                // The timeout covers waiting for room too (cancelling that wait accepts nothing).
                withTimeout(timeout) {
                    bus.publish(queue, data, reply, key, dueAt)
                    reply.await<Any?>()
                }
            }
        } catch (e: CancellationException) {
            reply.stopWaiting() // withdraws the message if no consumer took it yet
            throw e
        }
        @Suppress("UNCHECKED_CAST")
        return result as R
    }

    /**
     * Binds the fan-out name [name] to [queues]: [fanOut] to it publishes one copy to each (the same
     * payload object, so payloads should be immutable). The queues must be registered.
     * @throws IllegalArgumentException for a blank or already bound name, or an empty or repeating list.
     * @throws UnknownQueueException for a queue that is not registered.
     */
    public fun bindFanOut(name: String, queues: List<String>) {
        bus.fanOuts.bind(name, queues)
    }

    /** [bindFanOut] with the queues as arguments: `bindFanOut("order-placed", "audit", "mail")`. */
    public fun bindFanOut(name: String, vararg queues: String) {
        bus.fanOuts.bind(name, queues.asList())
    }

    /**
     * Publishes [data] once to every queue bound to the fan-out [name] (see [bindFanOut]); each gets its
     * own message, with [options]. Returns the id of each copy.
     * @throws FanOutException when some queue refused its copy; it names those and the ones that accepted.
     * @throws IllegalArgumentException when no fan-out is bound under [name].
     */
    public suspend fun fanOut(name: String, data: Any, options: PublishOptions = NO_OPTIONS): FanOutResult =
        bus.fanOuts.publish(name, data, if (options === NO_OPTIONS) null else options)

    /**
     * Pauses [queue]: consumers take nothing new until [resume] (messages waiting for their ordering
     * key included); handlers already running finish. Publishing goes on (within the queue's capacity).
     * Closing the bus resumes it to drain.
     */
    public fun pause(queue: String): Unit = bus.engine(queue).pause()

    /** Resumes a paused [queue]. Harmless on a queue that is not paused. */
    public fun resume(queue: String): Unit = bus.engine(queue).resume()

    /**
     * Changes how many handlers of [queue] may run at once, while running: growing starts consumers at
     * once (first taking back consumers an earlier shrink retired that are still finishing); shrinking
     * lets the surplus consumers finish their current message and stop. No message is lost or handled
     * twice. @throws IllegalArgumentException if [concurrency] < 1.
     */
    public fun setConcurrency(queue: String, concurrency: Int): Unit = bus.engine(queue).setConcurrency(concurrency)

    /**
     * Suspends until every queue is idle: every accepted message ended (processed, dropped, withdrawn,
     * saved or abandoned). Meant for tests and batch jobs. Called before [start], it waits for the bus
     * to start and process what it holds (and logs a warning). Cancellation: stops waiting, nothing else.
     */
    public suspend fun awaitIdle() {
        bus.idleFuture().await()
    }

    /** The counters of [queue]. @throws UnknownQueueException if no such queue is registered. */
    public fun stats(queue: String): QueueStats = bus.stats(queue)

    /** The counters of every queue, keyed by name, in registration order. */
    public fun stats(): Map<String, QueueStats> = bus.stats()

    /** The names of the registered queues, in registration order. */
    public val queueNames: List<String>
        get() = bus.queueNames()

    /**
     * Closes the bus and returns what happened. Idempotent: later and concurrent calls return the same
     * summary.
     *
     * 1. Publishing stops at once: every later [publish] throws [BusClosedException], and publishers
     *    waiting for room get it too.
     * 2. Every message already accepted is still delivered (delayed ones and retries when due), and
     *    handlers run, for up to [drainTimeout]. A bus that was never started is started for this.
     *    Paused queues are resumed.
     * 3. At the deadline, running handlers are cancelled (Java blocking handlers are interrupted) and
     *    every message not processed by then is counted and logged as abandoned, at once: a handler that
     *    finishes after the deadline does not change that. There is no grace period.
     *
     * With a [snapshotDirectory], unprocessed messages are saved instead of abandoned, and with
     * [ShutdownMode.SNAPSHOT_IMMEDIATELY] (the default) step 2 only lets handlers already running
     * finish: everything still waiting goes straight to the snapshot. Each queue's snapshot replaces
     * the previous one atomically. If a write fails, that queue's messages are logged as not saved,
     * the previous snapshot stays, and this function throws [SnapshotException] carrying the summary.
     *
     * Queues are closed in an order where each comes before its dead-letter queue, so failures during
     * the close still reach it.
     *
     * Cancellation: cancelling the caller stops only its waiting; the close carries on to the end.
     *
     * @throws IllegalStateException when called from one of this bus's own handlers, or a coroutine a
     *   handler started in its own scope (it would wait for itself); close the bus from outside its handlers.
     */
    public suspend fun shutdown(): CloseSummary = bus.close(currentCoroutineContext()).await().orThrow()

    /**
     * Blocking [shutdown] for Java and `use {}` blocks: closes the bus and waits for the close to end.
     * Idempotent. Do not call it from a coroutine (use [shutdown]); inside `runTest` it would block the
     * very thread the test dispatcher needs.
     * @throws IllegalStateException when called from one of this bus's own handlers (before or after
     *   it suspended, also in `withContext` or a coroutine it started in its own scope): it would wait
     *   for itself.
     */
    override fun close() {
        bus.closeAndWait()
    }

    /**
     * Test support: dies like a killed process would. Cancels everything without saving anything and
     * releases the snapshot directory lock (as the operating system does when a process dies).
     */
    @JvmSynthetic
    internal fun crashForTesting() {
        bus.crashForTesting()
    }
}
