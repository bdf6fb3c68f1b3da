package io.relaymq.internal

import io.relaymq.MessageCodec
import io.relaymq.spi.RemoteDelivery
import io.relaymq.spi.RemoteMessage
import io.relaymq.spi.RemoteQueue
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineName
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.future.await
import kotlinx.coroutines.launch
import kotlinx.coroutines.withTimeoutOrNull
import java.util.Base64
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.atomic.LongAdder
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toKotlinDuration

private val logger = relayLogger("io.relaymq.internal.RemoteFeed")

/**
 * Moves one remote queue's messages between its store and this JVM's engine: fetches them into the
 * engine ([Admission.deliverRemote]), keeps their claims alive while they are here, and sends their ends
 * (acknowledgements and releases, in batches) back. One fetcher, one heartbeat and one sender coroutine
 * per queue, started with the bus's consumers.
 *
 * ## How much this JVM takes
 * The fetcher keeps at most `concurrency + prefetch` messages ready or running here (a failed message
 * due for a retry goes back to the store, where it waits: [retry]). `prefetch` adapts to the
 * handlers: the messages this JVM finished in the last ~100 ms (0 for slow handlers, so that a
 * 5-second handler never holds messages an idle process could run; up to [MAX_PREFETCH] for fast ones,
 * so that a fetch brings a batch). Paused, it fetches nothing.
 *
 * ## Invariants
 * - Every delivery is in [held] from its fetch until its end was sent (acknowledged or released), so the
 *   heartbeat extends exactly the claims this JVM still needs, and a delivery handed out twice (an
 *   extension that came too late) is never run twice here at once.
 * - Every delivery ends exactly once through [acknowledge] or [release] (its [RemoteReply] is told by the
 *   engine once). Ends that cannot be sent (store down) are retried until the close's deadline; after
 *   that the store hands them out again when their visibility timeout passes: at-least-once.
 * - After [stopFetching] returns, nothing enters the engine from the store; a batch that arrives after
 *   the stop goes straight back ([release]).
 */
internal class RemoteFeed(
    val queue: String,
    private val remote: RemoteQueue,
    private val engine: QueueEngine<Any?>,
    private val codec: MessageCodec<Any?>,
    visibilityTimeout: java.time.Duration,
    /** Where request outcomes go (the remote queue's reply); never throws. */
    private val answers: (address: String, correlation: Long, outcome: ByteArray) -> Unit,
) {
    private val visibility: Duration = visibilityTimeout.toKotlinDuration()
    private val held = ConcurrentHashMap<String, RemoteDelivery>()
    private val ends = Channel<End>(Channel.UNLIMITED)
    private val room = Channel<Unit>(Channel.CONFLATED)
    private val finished = LongAdder()
    @Volatile private var fetching = true
    private val failureLog = RateLimitedLog(logger, "Queue '$queue'")

    /** Deliveries that could not be decoded: logged, acknowledged, counted as failed. */
    val undecodable = LongAdder()

    private var windowStart = System.nanoTime()
    private var windowFinished = 0L
    @Volatile private var prefetch = 0

    private lateinit var fetchJob: Job
    private lateinit var heartbeatJob: Job
    private lateinit var senderJob: Job

    private class End(val delivery: RemoteDelivery, val acknowledge: Boolean)

    fun start(scope: CoroutineScope) {
        fetchJob = scope.launch(CoroutineName("relaymq-fetch-$queue")) { fetchLoop() }
        heartbeatJob = scope.launch(CoroutineName("relaymq-heartbeat-$queue")) { heartbeatLoop() }
        senderJob = scope.launch(CoroutineName("relaymq-ack-$queue")) { sendLoop() }
    }

    val isStarted: Boolean get() = ::fetchJob.isInitialized

    // ---------------------------------------------------------------- fetching

    private suspend fun fetchLoop() {
        var backoff = MIN_BACKOFF
        while (fetching) {
            if (engine.isPaused()) {
                withTimeoutOrNull(PAUSED_POLL) { room.receive() }
                continue
            }
            val free = free()
            if (free <= 0) {
                withTimeoutOrNull(ROOM_POLL) { room.receive() }
                continue
            }
            val batch = try {
                remote.fetch(free, FETCH_WAIT).await()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                failureLog.warn { "fetching messages from the backend failed ($e); trying again in $backoff" }
                delay(backoff)
                backoff = (backoff * 2).coerceAtMost(MAX_BACKOFF)
                continue
            }
            if (backoff != MIN_BACKOFF) logger.info { "Queue '$queue': fetching from the backend works again" }
            backoff = MIN_BACKOFF
            // Paused (or stopped) while the fetch waited: give the batch back, for other buses to take.
            val giveBack = !fetching || engine.isPaused()
            for (delivery in batch) {
                if (held.putIfAbsent(delivery.handle, delivery) != null) continue // already here: runs once
                if (giveBack || !deliver(delivery)) send(End(delivery, acknowledge = false))
            }
        }
    }

    /**
     * How many more messages this JVM takes now: 0 while it holds more than three quarters of what it
     * may (so that a fetch brings a batch, not one message at a time), unless it holds none.
     */
    private fun free(): Int {
        val now = System.nanoTime()
        if (now - windowStart >= WINDOW_NANOS) {
            val done = finished.sum()
            val perWindow = (done - windowFinished) * WINDOW_NANOS / (now - windowStart)
            prefetch = perWindow.coerceIn(0, MAX_PREFETCH.toLong()).toInt()
            windowStart = now
            windowFinished = done
        }
        val stats = engine.stats()
        val here = (stats.pending - stats.delayed) + stats.inFlight
        val cap = engine.concurrency() + prefetch
        val free = cap - here
        return if (here > 0 && free < cap / 4) 0 else free.coerceAtMost(Int.MAX_VALUE.toLong()).toInt()
    }

    private fun deliver(delivery: RemoteDelivery): Boolean {
        val message = delivery.message
        val data = try {
            codec.decode(message.payload)
        } catch (e: Exception) {
            undecodable.increment()
            logger.error(e) {
                "Queue '$queue': message ${delivery.id} cannot be decoded with $codec; it is acknowledged (removed) and logged here: " +
                    Base64.getEncoder().encodeToString(message.payload)
            }
            answer(delivery) { RemoteOutcome.failure(e, delivery.id) } // a requester must not wait forever
            send(End(delivery, acknowledge = true))
            return true
        }
        return engine.admission.deliverRemote(
            data, RemoteReply(this, delivery), delivery.id, message.publishedAtMillis, message.attempt,
            if (message.firstFailureAtMillis == Long.MIN_VALUE) RichMessage.NEVER_FAILED else message.firstFailureAtMillis,
        )
    }

    /**
     * Stops fetching: waits for a fetch under way (its messages are delivered or released), at most
     * [timeout]; then nothing enters the engine from the store any more.
     */
    suspend fun stopFetching(timeout: Duration) {
        fetching = false
        room.trySend(Unit)
        if (!isStarted) return
        if (withTimeoutOrNull(timeout) { fetchJob.join() } == null) {
            fetchJob.cancel() // the store is stuck: a batch it still sends is handed out again after the visibility timeout
        }
    }

    // ---------------------------------------------------------------- ends

    /** Sends [delivery]'s outcome to its requester, if it has one. */
    fun answer(delivery: RemoteDelivery, outcome: () -> ByteArray) {
        val address = delivery.message.replyTo ?: return
        val bytes = try {
            outcome()
        } catch (e: Exception) {
            logger.error(e) { "Queue '$queue': encoding the outcome of message ${delivery.id} failed; its requester gets none" }
            return
        }
        answers(address, delivery.message.correlation, bytes)
    }

    /**
     * Sends [delivery] back to the store for its next attempt ([next]). When the store refuses (this bus
     * no longer holds it) or fails, it is released instead, or left to its visibility timeout: it is
     * delivered again either way, its attempt count then starting over.
     */
    fun retry(delivery: RemoteDelivery, next: RichMessage<*>) {
        val message = delivery.message
        val again = RemoteMessage(
            message.payload, message.publishedAtMillis, next.dueAtMillis, message.replyTo, message.correlation, next.attempt,
            if (next.firstFailureAtMillis == RichMessage.NEVER_FAILED) Long.MIN_VALUE else next.firstFailureAtMillis,
        )
        val sent = try {
            remote.retry(delivery, again)
        } catch (e: Exception) {
            java.util.concurrent.CompletableFuture.failedFuture(e)
        }
        sent.whenComplete { stored, e ->
            when {
                e != null -> {
                    failureLog.warn { "could not send message ${delivery.id} back for attempt ${next.attempt} ($e); releasing it" }
                    send(End(delivery, acknowledge = false))
                }
                stored == true -> {
                    held.remove(delivery.handle)
                    finished.increment()
                }
                else -> held.remove(delivery.handle) // taken over by another bus meanwhile: it runs there
            }
        }
        room.trySend(Unit)
    }

    /** Ends [delivery] in the store (batched); its place here is free at once, so the fetcher may take the next. */
    fun acknowledge(delivery: RemoteDelivery) {
        send(End(delivery, acknowledge = true))
        room.trySend(Unit)
    }

    fun release(delivery: RemoteDelivery) {
        send(End(delivery, acknowledge = false))
        room.trySend(Unit)
    }

    private fun send(end: End) {
        if (ends.trySend(end).isFailure) {
            logger.warn { "Queue '$queue': message ${end.delivery.id} ended after the close; the store hands it out again after its visibility timeout" }
        }
    }

    private suspend fun sendLoop() {
        val acknowledged = ArrayList<RemoteDelivery>()
        val released = ArrayList<RemoteDelivery>()
        while (true) {
            val first = ends.receiveCatching().getOrNull() ?: return
            var end: End? = first
            while (end != null) {
                (if (end.acknowledge) acknowledged else released) += end.delivery
                end = if (acknowledged.size + released.size < MAX_BATCH) ends.tryReceive().getOrNull() else null
            }
            flush(acknowledged, "acknowledge") { remote.acknowledge(it) }
            flush(released, "release") { remote.release(it) }
        }
    }

    private suspend fun flush(batch: ArrayList<RemoteDelivery>, what: String, send: (List<RemoteDelivery>) -> java.util.concurrent.CompletableFuture<*>) {
        if (batch.isEmpty()) return
        var backoff = MIN_BACKOFF
        while (true) {
            try {
                send(batch).await()
                break
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                failureLog.warn { "could not $what ${batch.size} message(s) ($e); trying again in $backoff" }
                delay(backoff)
                backoff = (backoff * 2).coerceAtMost(MAX_BACKOFF)
            }
        }
        for (delivery in batch) held.remove(delivery.handle)
        finished.add(batch.size.toLong())
        batch.clear()
        room.trySend(Unit)
    }

    // ---------------------------------------------------------------- claims

    private suspend fun heartbeatLoop() {
        val period = (visibility / 3).coerceAtLeast(10.milliseconds)
        while (true) {
            delay(period)
            if (held.isEmpty()) continue
            val lost = try {
                remote.extend(held.values.toList()).await()
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                failureLog.warn { "could not extend the claims of ${held.size} message(s) ($e); another consumer may take them after the visibility timeout" }
                continue
            }
            if (lost.isNotEmpty()) {
                logger.warn {
                    "Queue '$queue': ${lost.size} message(s) held here were taken over by another consumer (their visibility timeout " +
                        "$visibility passed without an extension): they may run twice. Ids: ${lost.take(20).joinToString { it.id.toString() }}"
                }
            }
        }
    }

    /**
     * After the engine's close took what was left: sends the ends still queued (waiting at most
     * [timeout]), then stops. What could not be sent is handed out again after its visibility timeout.
     */
    suspend fun close(timeout: Duration) {
        ends.close()
        if (!isStarted) return
        if (withTimeoutOrNull(timeout) { senderJob.join() } == null) {
            senderJob.cancel()
            logger.error {
                "Queue '$queue': the ends of ${held.size} message(s) could not be sent to the backend before the close's deadline; " +
                    "the store hands them out again after their visibility timeout (at-least-once)"
            }
        }
        heartbeatJob.cancel()
        fetchJob.cancel()
    }

    /** Messages this JVM holds from the store (fetched, not yet ended there). */
    fun heldCount(): Int = held.size

    private companion object {
        val MIN_BACKOFF = 50.milliseconds
        val MAX_BACKOFF = 5.seconds
        val PAUSED_POLL = 100.milliseconds
        val ROOM_POLL = 100.milliseconds
        val FETCH_WAIT: java.time.Duration = java.time.Duration.ofMillis(500)
        const val MAX_BATCH = 512
        const val MAX_PREFETCH = 512
        const val WINDOW_NANOS = 100_000_000L
    }
}
