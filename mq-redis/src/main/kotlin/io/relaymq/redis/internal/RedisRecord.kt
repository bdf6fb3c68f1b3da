package io.relaymq.redis.internal

import io.relaymq.spi.RemoteMessage
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream

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
 * payload        the rest: the queue codec's bytes
 * ```
 * Nothing else: attempts live in the bus that handles the message (see README, "When you outgrow one
 * JVM"), and the due time in the sorted set's score.
 */
internal object RedisRecord {
    private const val VERSION = 1
    private const val NO_REPLY = 0xFFFF

    fun encode(message: RemoteMessage): ByteArray {
        val bytes = ByteArrayOutputStream(message.payload.size + 32)
        DataOutputStream(bytes).use { out ->
            out.writeByte(VERSION)
            out.writeLong(message.publishedAtMillis)
            val replyTo = message.replyTo?.toByteArray(Charsets.UTF_8)
            if (replyTo == null) {
                out.writeShort(NO_REPLY)
            } else {
                require(replyTo.size < NO_REPLY) { "reply address too long" }
                out.writeShort(replyTo.size)
                out.write(replyTo)
            }
            out.writeLong(message.correlation)
            out.write(message.payload)
        }
        return bytes.toByteArray()
    }

    /** @throws IllegalArgumentException when [record] is not a record of this format. */
    fun decode(record: ByteArray): RemoteMessage {
        require(record.size >= 19) { "a record of ${record.size} bytes is too short" }
        val input = DataInputStream(record.inputStream())
        val version = input.readUnsignedByte()
        require(version == VERSION) { "unknown record version $version (written by a newer RelayMQ?)" }
        val publishedAt = input.readLong()
        val replyLength = input.readUnsignedShort()
        val replyTo = if (replyLength == NO_REPLY) {
            null
        } else {
            require(record.size >= 19 + replyLength) { "record cut short" }
            String(ByteArray(replyLength).also { input.readFully(it) }, Charsets.UTF_8)
        }
        val correlation = input.readLong()
        val offset = 1 + 8 + 2 + (if (replyTo == null) 0 else replyLength) + 8
        return RemoteMessage(record.copyOfRange(offset, record.size), publishedAt, 0L, replyTo, correlation)
    }
}
