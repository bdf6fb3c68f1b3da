package io.relaymq.redis.internal

import io.relaymq.spi.backendLogger
import io.lettuce.core.ClientOptions
import io.lettuce.core.RedisClient
import io.lettuce.core.RedisURI
import io.lettuce.core.SocketOptions
import io.lettuce.core.TimeoutOptions
import io.lettuce.core.api.StatefulRedisConnection
import io.lettuce.core.codec.ByteArrayCodec
import io.relaymq.BackendException
import io.relaymq.spi.RemoteQueue
import io.relaymq.spi.ReplyListener
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import java.net.InetAddress
import java.time.Duration
import java.util.UUID
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicBoolean

private val logger = backendLogger("io.relaymq.redis.RedisStreams")

/**
 * The connections and settings of one `RedisStreams` backend.
 *
 * Connections: one shared, pipelined connection for every non-blocking command (publishes, scripts,
 * figures, replies: Lettuce writes commands from all threads to it in call order), one per queue for
 * its blocking reads (`XREADGROUP BLOCK` would stall everything behind it on a shared one), and one for
 * the reply listener's `BLPOP`. Every command is bounded by [timeout] ([TimeoutOptions]); while the
 * connection is down, commands wait for the reconnect for at most that long, then fail.
 */
internal class RedisBackend(
    uri: String,
    val visibilityTimeout: Duration,
    internal val timeout: Duration,
    internal val keyPrefix: String,
    val consumerName: String,
) {
    private val redisUri: RedisURI = RedisURI.create(uri).apply { this.timeout = this@RedisBackend.timeout }
    private val display = "Redis Streams at ${redisUri.host ?: redisUri.socket ?: "sentinel"}:${redisUri.port}"
    private val attached = AtomicBoolean()
    private val closed = AtomicBoolean()
    private var client: RedisClient? = null
    private var shared: StatefulRedisConnection<ByteArray, ByteArray>? = null
    private val blocking = CopyOnWriteArrayList<StatefulRedisConnection<ByteArray, ByteArray>>()
    private val queues = CopyOnWriteArrayList<RedisQueue>()
    private var replies: RedisReplies? = null
    internal val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /** Where publish futures complete: daemon threads made as needed, so callers' blocking stages cannot starve them. */
    internal val completions: java.util.concurrent.ExecutorService = java.util.concurrent.Executors.newCachedThreadPool { task ->
        Thread(task, "relaymq-redis-completions").apply { isDaemon = true }
    }

    /** Runs the publish sweepers (timeouts), apart from every pool a caller's code can block. */
    internal val timer: java.util.concurrent.ScheduledExecutorService = java.util.concurrent.Executors.newSingleThreadScheduledExecutor { task ->
        Thread(task, "relaymq-redis-timer").apply { isDaemon = true }
    }

    fun attach() {
        check(attached.compareAndSet(false, true)) {
            "This RedisStreams backend already serves a bus; build one backend per bus (RedisStreams.builder(uri).build())."
        }
        val client = RedisClient.create(redisUri)
        client.options = ClientOptions.builder()
            .autoReconnect(true)
            .timeoutOptions(TimeoutOptions.builder().timeoutSource(BlockingAwareTimeout(timeout)).build())
            .socketOptions(SocketOptions.builder().connectTimeout(timeout).keepAlive(true).build())
            .build()
        this.client = client
        shared = connect()
        logger.info { "$display: connected as consumer '$consumerName'" }
    }

    internal fun connect(): StatefulRedisConnection<ByteArray, ByteArray> = try {
        checkNotNull(client) { "the backend is not attached to a bus" }.connect(ByteArrayCodec.INSTANCE)
    } catch (e: Exception) {
        throw BackendException("Cannot connect to $display: $e. Is Redis running and reachable?", e)
    }

    internal fun sharedConnection(): StatefulRedisConnection<ByteArray, ByteArray> =
        checkNotNull(shared) { "the backend is not attached to a bus" }

    fun openQueue(name: String, capacity: Int): RemoteQueue {
        check(!closed.get()) { "$display is closed" }
        val reads = connect()
        blocking += reads
        return RedisQueue(this, name, capacity, reads).also {
            it.open()
            queues += it
        }
    }

    fun openReplies(listener: ReplyListener): String {
        val key = "$keyPrefix:replies:$consumerName"
        val replies = RedisReplies(this, key, listener, connect())
        this.replies = replies
        replies.start()
        return key
    }

    fun close() {
        if (!closed.compareAndSet(false, true)) return
        // Publishes made before the close still get their answer (stored, or a clear failure).
        val wait = minOf(timeout.toMillis(), CLOSE_WAIT_MILLIS)
        for (queue in queues) queue.awaitPublished(wait)
        replies?.stop()
        scope.cancel()
        timer.shutdownNow()
        completions.shutdown() // what is queued still runs: no future is left incomplete
        for (connection in blocking) runCatching { connection.close() }
        runCatching { shared?.close() }
        runCatching { client?.shutdown(Duration.ZERO, Duration.ofSeconds(2)) }
        logger.info { "$display: closed" }
    }

    internal fun describe(): String = display

    override fun toString(): String = display

    /**
     * Every command gets [timeout]; blocking reads (`XREADGROUP ... BLOCK`, `BLPOP`) get it on top of
     * the longest they block ([MAX_BLOCK_MILLIS]). With the plain timeout, a short one would cut idle
     * blocking reads off, and a `BLPOP` the client gave up on after Redis popped its element would lose
     * a request's outcome.
     */
    private class BlockingAwareTimeout(timeout: Duration) : TimeoutOptions.TimeoutSource() {
        private val millis = timeout.toMillis()

        override fun getTimeout(command: io.lettuce.core.protocol.RedisCommand<*, *, *>): Long = when (command.type) {
            io.lettuce.core.protocol.CommandType.XREADGROUP, io.lettuce.core.protocol.CommandType.BLPOP -> millis + MAX_BLOCK_MILLIS
            else -> millis
        }

        override fun getTimeUnit(): java.util.concurrent.TimeUnit = java.util.concurrent.TimeUnit.MILLISECONDS
    }

    companion object {
        /** The longest a blocking read of this backend blocks in Redis (BLPOP: 1 s; XREADGROUP: 500 ms). */
        const val MAX_BLOCK_MILLIS = 1_000L

        /** How long [close] waits, per queue, for the answers to publishes made before it. */
        const val CLOSE_WAIT_MILLIS = 5_000L

        /** `<host>-<pid>-<8 random hex digits>`: unique per bus. */
        @JvmStatic
        fun defaultConsumerName(): String {
            val host = try {
                InetAddress.getLocalHost().hostName
            } catch (e: Exception) {
                "host"
            }
            val pid = ProcessHandle.current().pid()
            return "$host-$pid-${UUID.randomUUID().toString().take(8)}"
        }

        @JvmStatic
        fun checkUri(uri: String) {
            try {
                RedisURI.create(uri)
            } catch (e: Exception) {
                throw IllegalArgumentException("'$uri' is not a Redis URI (redis://host:port, rediss://..., redis-sentinel://...): ${e.message}", e)
            }
        }
    }
}
