package io.relaymq.redis.internal

import io.relaymq.spi.backendLogger
import io.lettuce.core.api.StatefulRedisConnection
import io.relaymq.spi.ReplyListener
import java.nio.ByteBuffer

private val logger = backendLogger("io.relaymq.redis.RedisStreams")

/**
 * The listener for this bus's request outcomes: a daemon thread doing `BLPOP <key> 1` on a connection
 * of its own, handing each outcome (8-byte correlation, then the outcome) to the bus. Outcomes sent while
 * it was not listening (Redis was down, the thread restarting) wait in the list, which expires a day
 * after the last one was pushed.
 */
internal class RedisReplies(
    private val backend: RedisBackend,
    private val key: String,
    private val listener: ReplyListener,
    private val connection: StatefulRedisConnection<ByteArray, ByteArray>,
) {
    @Volatile private var running = true
    private val thread = Thread(::listen, "relaymq-replies-${backend.consumerName}").apply { isDaemon = true }

    fun start() = thread.start()

    private fun listen() {
        val keyBytes = key.toByteArray()
        var backoff = 50L
        while (running) {
            try {
                val popped = connection.sync().blpop(1, keyBytes)
                backoff = 50L
                val value = popped?.getValueOrElse(null) ?: continue
                if (value.size < 8) continue
                val correlation = ByteBuffer.wrap(value, 0, 8).long
                try {
                    listener.onReply(correlation, value.copyOfRange(8, value.size))
                } catch (e: Exception) {
                    logger.error(e) { "The reply listener failed on an outcome" }
                }
            } catch (e: Exception) {
                if (!running) return
                logger.warn { "${backend.describe()}: waiting for request outcomes failed ($e); trying again in $backoff ms" }
                try {
                    Thread.sleep(backoff)
                } catch (interrupted: InterruptedException) {
                    return
                }
                backoff = (backoff * 2).coerceAtMost(5_000L)
            }
        }
    }

    fun stop() {
        running = false
        runCatching { connection.close() }
        thread.interrupt()
    }
}
