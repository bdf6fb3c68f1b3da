package io.relaymq.internal

import java.io.IOException
import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets

/**
 * One message as it crosses the disk, in a close snapshot ([SnapshotFormat]) or a durable queue's
 * journal ([JournalFormat]): both store a message with the same body, encoded and decoded here only.
 *
 * Body, big-endian:
 * ```
 *   id               i64
 *   publishedAt      i64  epoch millis
 *   dueAt            i64  epoch millis; 0 = due at once (delays, retries)
 *   firstFailureAt   i64  epoch millis; Long.MIN_VALUE = never failed
 *   attempt          i32  1 for a first delivery
 *   keyLength        u16  0xFFFF = no ordering key
 *   key              bytes, UTF-8 (keyLength of them)
 *   payload          the rest, as written by the queue's MessageCodec
 * ```
 */
internal class MessageRecord(
    val id: Long,
    val publishedAtMillis: Long,
    val payload: ByteArray,
    val dueAtMillis: Long = 0,
    val firstFailureAtMillis: Long = Long.MIN_VALUE,
    val attempt: Int = 1,
    val key: String? = null,
) {
    /** The same message at its next attempt (a journaled retry). */
    fun retried(attempt: Int, dueAtMillis: Long, firstFailureAtMillis: Long): MessageRecord =
        MessageRecord(id, publishedAtMillis, payload, dueAtMillis, firstFailureAtMillis, attempt, key)

    companion object {
        /** Bytes of the body before the key. */
        const val FIXED_BYTES: Int = 38
        private const val NO_KEY = 0xFFFF

        /** The UTF-8 key of [key], checked to fit. */
        fun keyBytes(id: Long, key: String?): ByteArray? {
            val bytes = key?.toByteArray(StandardCharsets.UTF_8) ?: return null
            require(bytes.size < NO_KEY) { "the ordering key of message $id is ${bytes.size} UTF-8 bytes; at most ${NO_KEY - 1} can be stored" }
            return bytes
        }

        fun bodySize(keyBytes: ByteArray?, payloadSize: Int): Long = FIXED_BYTES.toLong() + (keyBytes?.size ?: 0) + payloadSize

        /** Writes the body of a message to [out] (which must have [bodySize] bytes of room). */
        fun writeBody(
            out: ByteBuffer,
            id: Long,
            publishedAt: Long,
            dueAt: Long,
            firstFailureAt: Long,
            attempt: Int,
            keyBytes: ByteArray?,
            payload: ByteArray,
        ) {
            out.putLong(id).putLong(publishedAt).putLong(dueAt).putLong(firstFailureAt).putInt(attempt)
            out.putShort((keyBytes?.size ?: NO_KEY).toShort())
            if (keyBytes != null) out.put(keyBytes)
            out.put(payload)
        }

        fun writeBody(out: ByteBuffer, record: MessageRecord) = writeBody(
            out, record.id, record.publishedAtMillis, record.dueAtMillis, record.firstFailureAtMillis, record.attempt,
            keyBytes(record.id, record.key), record.payload,
        )

        /**
         * Decodes the body in [body] between [offset] and [offset] + [length].
         * @throws CorruptRecordException when the fields cannot be a message.
         */
        fun readBody(body: ByteArray, offset: Int, length: Int): MessageRecord {
            if (length < FIXED_BYTES) throw CorruptRecordException("a message body of $length bytes is shorter than $FIXED_BYTES")
            val b = ByteBuffer.wrap(body, offset, length)
            val id = b.long
            val publishedAt = b.long
            val dueAt = b.long
            val firstFailureAt = b.long
            val attempt = b.int
            if (attempt < 1) throw CorruptRecordException("message $id has attempt $attempt")
            val keyField = b.short.toInt() and 0xFFFF
            val keySize = if (keyField == NO_KEY) 0 else keyField
            if (FIXED_BYTES + keySize > length) throw CorruptRecordException("the key of message $id overruns its record")
            val key = if (keyField == NO_KEY) null else String(body, offset + FIXED_BYTES, keySize, StandardCharsets.UTF_8)
            val payload = body.copyOfRange(offset + FIXED_BYTES + keySize, offset + length)
            return MessageRecord(id, publishedAt, payload, dueAt, firstFailureAt, attempt, key)
        }
    }
}

/** Stored bytes that cannot be a record; [message] says why. */
internal class CorruptRecordException(message: String) : IOException(message)
