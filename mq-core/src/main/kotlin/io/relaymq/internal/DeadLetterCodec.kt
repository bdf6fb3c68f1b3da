package io.relaymq.internal

import io.relaymq.DeadLetter
import io.relaymq.MessageCodec
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.IOException
import java.nio.charset.StandardCharsets
import java.time.Instant

/**
 * RelayMQ's own codec for [DeadLetter] payloads, so that a dead-letter queue works on a bus with a
 * snapshot directory with no configuration. The source payload is encoded with the source queue's
 * codec (every queue of a persistent bus has one); the failure itself is not kept.
 *
 * ## Format (inside a snapshot record, which carries the length and a CRC32C)
 * ```
 * 1 byte   version (1)
 * string   source queue            (string = 4-byte length + UTF-8 bytes; length -1 for null)
 * 8 bytes  message id
 * string   key (nullable)
 * 4 bytes  attempts
 * string   failure class
 * string   failure message (nullable)
 * 8 bytes  first failure, epoch millis
 * 8 bytes  last failure, epoch millis
 * 4 bytes  payload length, then the payload as the source queue's codec encoded it
 * ```
 */
internal class DeadLetterCodec(private val codecOf: (String) -> MessageCodec<Any?>?) : MessageCodec<DeadLetter> {
    override fun type(): Class<DeadLetter> = DeadLetter::class.java

    override fun canEncode(value: Any): Boolean {
        if (value !is DeadLetter) return false
        val payload = value.payload
        return payload is DeadLetterPayload.Encoded || codecOf(value.queue)?.canEncode(payload.value()) == true
    }

    override fun encode(value: DeadLetter): ByteArray {
        val payload = when (val p = value.payload) {
            is DeadLetterPayload.Encoded -> p.bytes
            is DeadLetterPayload.Decoded -> {
                val codec = codecOf(value.queue)
                    ?: throw IllegalStateException("no codec for the payload of a dead letter of queue '${value.queue}'")
                codec.encode(p.value())
            }
        }
        val bytes = ByteArrayOutputStream(64 + payload.size)
        DataOutputStream(bytes).use { out ->
            out.writeByte(VERSION)
            out.writeString(value.queue)
            out.writeLong(value.messageId)
            out.writeString(value.key)
            out.writeInt(value.attempts)
            out.writeString(value.failureClass)
            out.writeString(value.failureMessage)
            out.writeLong(value.firstFailureAt.toEpochMilli())
            out.writeLong(value.lastFailureAt.toEpochMilli())
            out.writeInt(payload.size)
            out.write(payload)
        }
        return bytes.toByteArray()
    }

    override fun decode(bytes: ByteArray): DeadLetter {
        val input = DataInputStream(bytes.inputStream())
        val version = input.readUnsignedByte()
        if (version != VERSION) throw IOException("unknown dead letter format version $version")
        val queue = input.readString(bytes.size) ?: throw IOException("dead letter without a source queue")
        val id = input.readLong()
        val key = input.readString(bytes.size)
        val attempts = input.readInt()
        val failureClass = input.readString(bytes.size) ?: throw IOException("dead letter without a failure class")
        val failureMessage = input.readString(bytes.size)
        val first = input.readLong()
        val last = input.readLong()
        val length = input.readInt()
        if (length < 0 || length > input.available()) throw IOException("dead letter payload length $length out of bounds")
        val payload = ByteArray(length)
        input.readFully(payload)
        return DeadLetter(
            queue = queue,
            messageId = id,
            payload = DeadLetterPayload.Encoded(payload, queue, codecOf),
            key = key,
            attempts = attempts,
            failureClass = failureClass,
            failureMessage = failureMessage,
            firstFailureAt = Instant.ofEpochMilli(first),
            lastFailureAt = Instant.ofEpochMilli(last),
            failure = null,
        )
    }

    override fun toString(): String = "RelayMQ's dead letter codec"

    private fun DataOutputStream.writeString(value: String?) {
        if (value == null) {
            writeInt(-1)
            return
        }
        val utf8 = value.toByteArray(StandardCharsets.UTF_8)
        writeInt(utf8.size)
        write(utf8)
    }

    private fun DataInputStream.readString(limit: Int): String? {
        val length = readInt()
        if (length == -1) return null
        if (length < 0 || length > limit) throw IOException("string length $length out of bounds")
        val utf8 = ByteArray(length)
        readFully(utf8)
        return String(utf8, StandardCharsets.UTF_8)
    }

    private companion object {
        const val VERSION = 1
    }
}
