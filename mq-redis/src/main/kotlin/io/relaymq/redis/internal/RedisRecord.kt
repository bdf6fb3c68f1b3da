package io.relaymq.redis.internal

import io.relaymq.spi.RemoteMessage
import java.nio.ByteBuffer

/**
 * One message as RelayMQ stores it in Redis.
 *
 * A stream entry has two fields: `i`, the message id in decimal (from the queue's `ids` counter), and
 * `m`, the record below. A delayed message waits in the queue's sorted set as the member
 * `<id>:<record>`, scored by its due time in epoch millis; the promote script turns it into the same
 * stream entry once due.
 *
 * Record (big-endian):
 * ```
 * version        1 byte   (1)
 * publishedAt    8 bytes  epoch millis, the publisher's clock
 * replyTo        2 bytes  length of the UTF-8 address that follows, 0xFFFF for none
 *                n bytes
 * correlation    8 bytes  0 without replyTo
 * attempt        4 bytes  1, or the next attempt of a message a handler failed (RETRY script)
 * firstFailure   8 bytes  epoch millis of its first failed attempt; Long.MIN_VALUE before any
 * payload        the rest: the queue codec's bytes
 * ```
 * The due time is not in the record: it is the sorted set's score.
 */
internal object RedisRecord {
    private const val VERSION = 1
    private const val NO_REPLY = 0xFFFF
    private const val HEADER = 1 + 8 + 2 + 8 + 4 + 8

    fun encode(message: RemoteMessage): ByteArray {
        val replyTo = message.replyTo?.toByteArray(Charsets.UTF_8)
        require(replyTo == null || replyTo.size < NO_REPLY) { "reply address too long" }
        val payload = message.payload
        val buffer = ByteBuffer.allocate(HEADER + (replyTo?.size ?: 0) + payload.size)
        buffer.put(VERSION.toByte()).putLong(message.publishedAtMillis)
        if (replyTo == null) buffer.putShort(NO_REPLY.toShort()) else buffer.putShort(replyTo.size.toShort()).put(replyTo)
        buffer.putLong(message.correlation).putInt(message.attempt).putLong(message.firstFailureAtMillis).put(payload)
        return buffer.array()
    }

    /** @throws IllegalArgumentException when [record] is not a record of this format. */
    fun decode(record: ByteArray): RemoteMessage {
        require(record.size >= HEADER) { "a record of ${record.size} bytes is too short" }
        val buffer = ByteBuffer.wrap(record)
        val version = buffer.get().toInt() and 0xFF
        require(version == VERSION) { "unknown record version $version (written by a newer RelayMQ?)" }
        val publishedAt = buffer.long
        val replyLength = buffer.short.toInt() and 0xFFFF
        val replyTo = if (replyLength == NO_REPLY) {
            null
        } else {
            require(record.size >= HEADER + replyLength) { "record cut short" }
            String(record, buffer.position(), replyLength, Charsets.UTF_8).also { buffer.position(buffer.position() + replyLength) }
        }
        val correlation = buffer.long
        val attempt = buffer.int
        val firstFailure = buffer.long
        require(attempt >= 1) { "attempt $attempt" }
        return RemoteMessage(record.copyOfRange(buffer.position(), record.size), publishedAt, 0L, replyTo, correlation, attempt, firstFailure)
    }
}
