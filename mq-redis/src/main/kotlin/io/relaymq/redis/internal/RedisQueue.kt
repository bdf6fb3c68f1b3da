package io.relaymq.redis.internal

import io.relaymq.spi.backendLogger
import io.lettuce.core.Consumer
import io.lettuce.core.RedisBusyException
import io.lettuce.core.RedisCommandTimeoutException
import io.lettuce.core.RedisConnectionException
import io.lettuce.core.RedisException
import io.lettuce.core.ScriptOutputType
import io.lettuce.core.StreamMessage
import io.lettuce.core.XAutoClaimArgs
import io.lettuce.core.XGroupCreateArgs
import io.lettuce.core.XReadArgs
import io.lettuce.core.api.StatefulRedisConnection
import io.relaymq.BackendException
import io.relaymq.QueueFullException
import io.relaymq.spi.RemoteDelivery
import io.relaymq.spi.RemoteQueue
import io.relaymq.spi.RemoteQueueFigures
import io.relaymq.spi.RemoteMessage
import kotlinx.coroutines.future.await
import kotlinx.coroutines.future.future
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CompletionException
import java.util.concurrent.TimeUnit

private val logger = backendLogger("io.relaymq.redis.RedisStreams")

/**
 * One queue in Redis, for one bus: the stream `<prefix>:{name}:stream` with the consumer group
 * `<prefix>`, the delayed set `<prefix>:{name}:delayed` and the id counter `<prefix>:{name}:ids`.
 *
 * ## A message's life in Redis
 * ```
 * publish ──► delayed set ──(due: PROMOTE)──► stream, not yet delivered ──(XREADGROUP)──► pending (this bus)
 *     └─────────────(due now)──────────────────────┘        ▲                              │   │   │
 *                                                          │ RELEASE (close, lost letter) ◄┘   │   │ EXTEND every visibility/3
 *                                       XAUTOCLAIM by another bus after the visibility timeout ◄┘   │
 *                                                              ACKNOWLEDGE: XACK + XDEL (gone) ◄────┘
 * ```
 * Only unfinished messages stay in the stream (acknowledged ones are deleted at once), so its length
 * is the backlog plus what is being handled, and the stream never grows beyond it.
 *
 * ## Fetch
 * One [fetch] runs at a time per queue (the feed's one fetcher): it promotes due delayed messages (at
 * most every [PROMOTE_EVERY_MILLIS], or when the next one is due), takes over messages idle for the
 * visibility timeout (at most every quarter of it), then reads new ones, blocking on the queue's own
 * connection for at most the wait (shortened to the next due time).
 */
internal class RedisQueue(
    private val backend: RedisBackend,
    private val name: String,
    private val capacity: Int,
    private val reads: StatefulRedisConnection<ByteArray, ByteArray>,
) : RemoteQueue {
    private val prefix = backend.keyPrefix
    private val stream = "$prefix:{$name}:stream".toByteArray()
    private val delayed = "$prefix:{$name}:delayed".toByteArray()
    private val ids = "$prefix:{$name}:ids".toByteArray()
    private val group = prefix.toByteArray()
    private val me = backend.consumerName.toByteArray()
    private val consumer: Consumer<ByteArray> = Consumer.from(group, me)
    private val visibilityMillis = backend.visibilityTimeout.toMillis()
    private val shared get() = backend.sharedConnection().async()
    private val scripts = ScriptRunner(backend)

    // Fetch state: only the one fetch under way touches these.
    private var nextPromoteAt = 0L
    private var nextReclaimAt = 0L
    private var nextCleanupAt = 0L
    private var reclaimCursor = "0-0"

    /** Creates the stream and the group when missing. Blocking, bounded by the timeout. */
    fun open() {
        try {
            backend.sharedConnection().sync().xgroupCreate(
                io.lettuce.core.XReadArgs.StreamOffset.from(stream, "0-0"), group, XGroupCreateArgs.Builder.mkstream(true),
            )
        } catch (e: RedisBusyException) {
            // BUSYGROUP: another bus created it first.
        } catch (e: Exception) {
            throw translate(e, "opening queue '$name'")
        }
    }

    private val publisher = RedisPublisher(
        backend, arrayOf(stream, delayed, ids), capacity,
        fail = { translate(it, "publishing to queue '$name'") },
        full = { QueueFullException(name, capacity) },
    )

    /** Waits (at most [timeoutMillis]) until the publishes made so far were answered; see [RedisPublisher.awaitSent]. */
    fun awaitPublished(timeoutMillis: Long) = publisher.awaitSent(timeoutMillis)

    override fun publish(message: RemoteMessage): CompletableFuture<Long> =
        publisher.publish(message.dueAtMillis, RedisRecord.encode(message))

    override fun fetch(max: Int, wait: Duration): CompletableFuture<List<RemoteDelivery>> = backend.scope.future {
        try {
            fetchNow(max, wait.toMillis())
        } catch (e: Exception) {
            if (!isNoGroup(e)) throw translate(e, "fetching from queue '$name'")
            // Redis lost the stream and its group (restarted without persistence, or flushed): start again.
            logger.warn { "Queue '$name': its consumer group is gone from Redis (restarted without persistence, or flushed?); creating it again" }
            open()
            emptyList()
        }
    }

    /** Redis answers NOGROUP: the stream or its group no longer exists. */
    private fun isNoGroup(e: Throwable): Boolean {
        var cause: Throwable? = e
        while (cause != null) {
            if (cause is RedisException && cause.message?.contains("NOGROUP") == true) return true
            cause = cause.cause
        }
        return false
    }

    private suspend fun fetchNow(max: Int, waitMillis: Long): List<RemoteDelivery> {
        var wait = waitMillis
        var now = System.currentTimeMillis()
        if (now >= nextPromoteAt) {
            val nextDue = scripts.run<Long>(RedisScripts.PROMOTE, ScriptOutputType.INTEGER, arrayOf(stream, delayed), max.coerceAtLeast(100).toString().toByteArray()).await()
            now = System.currentTimeMillis()
            nextPromoteAt = now + if (nextDue in 0 until PROMOTE_EVERY_MILLIS) nextDue else PROMOTE_EVERY_MILLIS
            if (nextDue >= 0) wait = minOf(wait, nextDue.coerceAtLeast(1))
        }
        val out = ArrayList<RemoteDelivery>()
        if (now >= nextReclaimAt) {
            nextReclaimAt = now + (visibilityMillis / 4).coerceAtLeast(25)
            reclaim(max, out)
        }
        if (now >= nextCleanupAt) {
            nextCleanupAt = now + CLEANUP_EVERY_MILLIS
            cleanUpConsumers()
        }
        if (out.size < max) {
            val args = XReadArgs.Builder.count((max - out.size).toLong())
            if (out.isEmpty() && wait > 0) args.block(Duration.ofMillis(wait))
            val read = reads.async().xreadgroup(consumer, args, XReadArgs.StreamOffset.lastConsumed(stream)).await()
            for (entry in read) toDelivery(entry)?.let(out::add)
        }
        return out
    }

    /** Takes over up to [max] messages idle for the visibility timeout (their consumer died or hangs). */
    private suspend fun reclaim(max: Int, out: MutableList<RemoteDelivery>) {
        val claimed = shared.xautoclaim(
            stream, XAutoClaimArgs.Builder.xautoclaim(consumer, Duration.ofMillis(visibilityMillis), reclaimCursor).count(max.toLong()),
        ).await()
        reclaimCursor = claimed.id ?: "0-0"
        val taken = claimed.messages.mapNotNull { toDelivery(it) }
        if (taken.isNotEmpty()) {
            logger.info { "Queue '$name': took over ${taken.size} message(s) whose consumer stopped renewing its claim for ${backend.visibilityTimeout}" }
        }
        out += taken
    }

    /**
     * Consumers gone for long (idle for [STALE_CONSUMER_MILLIS] and at least 10 visibility timeouts, holding
     * nothing) are removed from the group, so that it does not grow with every restart.
     */
    private suspend fun cleanUpConsumers() {
        val stale = maxOf(STALE_CONSUMER_MILLIS, visibilityMillis * 10)
        for (info in consumers()) {
            if (info.pending == 0L && info.idle > stale && !info.name.contentEquals(me)) {
                shared.xgroupDelconsumer(stream, Consumer.from(group, info.name)).await()
            }
        }
    }

    private class ConsumerInfo(val name: ByteArray, val pending: Long, val idle: Long)

    private suspend fun consumers(): List<ConsumerInfo> {
        val raw = shared.xinfoConsumers(stream, group).await()
        return raw.mapNotNull { entry ->
            val fields = entry as? List<*> ?: return@mapNotNull null
            var consumerName: ByteArray? = null
            var pending = 0L
            var idle = 0L
            var i = 0
            while (i + 1 < fields.size) {
                when (text(fields[i])) {
                    "name" -> consumerName = fields[i + 1] as? ByteArray
                    "pending" -> pending = (fields[i + 1] as? Number)?.toLong() ?: 0L
                    "idle" -> idle = (fields[i + 1] as? Number)?.toLong() ?: 0L
                }
                i += 2
            }
            consumerName?.let { ConsumerInfo(it, pending, idle) }
        }
    }

    private fun text(value: Any?): String? = when (value) {
        is ByteArray -> String(value, Charsets.UTF_8)
        is String -> value
        else -> null
    }

    private fun toDelivery(entry: StreamMessage<ByteArray, ByteArray>): RemoteDelivery? {
        val body = entry.body ?: return null // deleted meanwhile
        var id: ByteArray? = null
        var record: ByteArray? = null
        for ((field, value) in body) {
            if (field.size == 1 && field[0] == 'i'.code.toByte()) id = value
            if (field.size == 1 && field[0] == 'm'.code.toByte()) record = value
        }
        val message = try {
            RemoteDelivery(String(id!!, Charsets.UTF_8).toLong(), entry.id, RedisRecord.decode(record!!))
        } catch (e: Exception) {
            logger.error(e) {
                "Queue '$name': stream entry ${entry.id} is not a RelayMQ message (written by something else, or a newer version); it is removed. " +
                    "Fields: " + body.entries.joinToString { (k, v) -> String(k, Charsets.UTF_8) + "=" + java.util.Base64.getEncoder().encodeToString(v) }
            }
            scripts.run<Long>(RedisScripts.ACKNOWLEDGE, ScriptOutputType.INTEGER, arrayOf(stream), group, entry.id.toByteArray())
            return null
        }
        return message
    }

    override fun retry(delivery: RemoteDelivery, next: RemoteMessage): CompletableFuture<Boolean> =
        scripts.run<Long>(
            RedisScripts.RETRY, ScriptOutputType.INTEGER, arrayOf(stream, delayed),
            group, me, delivery.handle.toByteArray(), delivery.id.toString().toByteArray(),
            next.dueAtMillis.toString().toByteArray(), RedisRecord.encode(next),
        ).handle { held, e ->
            if (e != null) throw translate(e, "sending message ${delivery.id} of queue '$name' back for attempt ${next.attempt}")
            held == 1L
        }

    override fun acknowledge(deliveries: Collection<RemoteDelivery>): CompletableFuture<Void?> =
        endScript(RedisScripts.ACKNOWLEDGE, deliveries, withConsumer = false, "acknowledging")

    override fun release(deliveries: Collection<RemoteDelivery>): CompletableFuture<Void?> =
        endScript(RedisScripts.RELEASE, deliveries, withConsumer = true, "releasing")

    private fun endScript(script: String, deliveries: Collection<RemoteDelivery>, withConsumer: Boolean, what: String): CompletableFuture<Void?> {
        if (deliveries.isEmpty()) return CompletableFuture.completedFuture(null)
        val args = ArrayList<ByteArray>(deliveries.size + 2)
        args += group
        if (withConsumer) args += me
        for (delivery in deliveries) args += delivery.handle.toByteArray()
        return scripts.run<Long>(script, ScriptOutputType.INTEGER, arrayOf(stream), *args.toTypedArray())
            .handle { _, e ->
                // NOGROUP: Redis lost the queue (restart without persistence): nothing left to end.
                if (e != null && !isNoGroup(e)) throw translate(e, "$what ${deliveries.size} message(s) of queue '$name'") else null
            }
    }

    override fun extend(deliveries: Collection<RemoteDelivery>): CompletableFuture<Collection<RemoteDelivery>> {
        if (deliveries.isEmpty()) return CompletableFuture.completedFuture(emptyList())
        val args = ArrayList<ByteArray>(deliveries.size + 2)
        args += group
        args += me
        for (delivery in deliveries) args += delivery.handle.toByteArray()
        return scripts.run<List<Any?>>(RedisScripts.EXTEND, ScriptOutputType.MULTI, arrayOf(stream), *args.toTypedArray())
            .handle { lost, e ->
                if (e != null && isNoGroup(e)) return@handle deliveries.toList() // Redis lost the queue: nothing is held any more
                if (e != null) throw translate(e, "renewing claims in queue '$name'")
                val lostIds = lost.mapNotNullTo(HashSet()) { text(it) }
                deliveries.filter { it.handle in lostIds }
            }
    }

    override fun reply(address: String, correlation: Long, outcome: ByteArray): CompletableFuture<Void?> {
        val bytes = java.nio.ByteBuffer.allocate(8 + outcome.size).putLong(correlation).put(outcome).array()
        return scripts.run<Long>(
            RedisScripts.REPLY, ScriptOutputType.INTEGER, arrayOf(address.toByteArray()), bytes, REPLY_TTL_MILLIS.toString().toByteArray(),
        ).handle { _, e -> if (e != null) throw translate(e, "sending a request's outcome") else null }
    }

    override fun figures(): CompletableFuture<RemoteQueueFigures> = backend.scope.future {
        try {
            val commands = shared
            val length = commands.xlen(stream)
            val pending = commands.xpending(stream, group)
            val waiting = commands.zcard(delayed)
            val consumers = consumers()
            val ready = length.await()
            val handedOut = pending.await().count
            val later = waiting.await()
            RemoteQueueFigures(
                length = ready + later,
                pending = handedOut,
                lag = (ready - handedOut).coerceAtLeast(0),
                delayed = later,
                consumers = consumers.count { it.idle <= visibilityMillis },
            )
        } catch (e: Exception) {
            if (isNoGroup(e)) open() // Redis lost the queue: create it again, so the next read shows what it holds now
            throw translate(e, "reading the figures of queue '$name'")
        }
    }

    /** A Lettuce failure as RelayMQ reports it: [BackendException] saying what was being done and what to check. */
    private fun translate(failure: Throwable, doing: String): Throwable {
        val e = if (failure is CompletionException && failure.cause != null) failure.cause!! else failure
        return when (e) {
            is QueueFullException, is BackendException -> e
            is RedisCommandTimeoutException -> BackendException(
                "${backend.describe()} did not answer within ${backend.timeout} while $doing (publishTimeout); is it up and reachable? " +
                    "A publish that fails this way may still have been stored.",
                e,
            )
            is RedisConnectionException -> BackendException("${backend.describe()} is unreachable while $doing: ${e.message}. Is Redis running?", e)
            is RedisException -> BackendException("${backend.describe()} failed while $doing: ${e.message}", e)
            is java.util.concurrent.CancellationException -> e
            // The connection broke under the command (java.io.IOException and the like): Redis is unreachable.
            else -> BackendException("${backend.describe()} failed while $doing: $e. Is Redis running and reachable?", e)
        }
    }

    override fun toString(): String = "RedisQueue($name)"

    private companion object {
        const val PROMOTE_EVERY_MILLIS = 100L
        const val CLEANUP_EVERY_MILLIS = 60_000L
        const val STALE_CONSUMER_MILLIS = 3_600_000L
        const val REPLY_TTL_MILLIS = 86_400_000L
    }
}

/**
 * Runs a script with `EVAL`, sending its text each time (Redis caches the compiled script by its SHA1).
 * Not `EVALSHA` with a fallback: after a Redis restart empties the script cache, the fallback would
 * re-send a failed call after calls made later, reordering one producer's publishes.
 */
internal class ScriptRunner(private val backend: RedisBackend) {
    fun <T> run(script: String, type: ScriptOutputType, keys: Array<ByteArray>, vararg args: ByteArray): CompletableFuture<T> =
        backend.sharedConnection().async().eval<T>(script, type, keys, *args).toCompletableFuture()
}
