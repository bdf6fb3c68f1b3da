package io.relaymq.internal

import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets
import java.util.zip.CRC32C

/*
 * Journal segment file format, version 1. All integers big-endian.
 *
 * A durable queue's journal is a directory of segment files named <index>.seg, index a 20-digit
 * zero-padded decimal that increases by one per new segment. Only the newest segment is written to;
 * older ones are sealed (forced to disk before the next one was created) and only ever read or deleted.
 *
 *   Header
 *     magic            4 bytes   "RMQJ" (0x524D514A)
 *     version          u16       1
 *     flags            u16       0 (reserved; a reader refuses any other value)
 *     segment          i64       the segment's index, as in its file name
 *     baseId           i64       the highest message id handed out when the segment was created: ids
 *                                continue above it even when every record below is gone
 *     createdAt        i64       epoch millis
 *     nameLength       u16       length of the queue name in UTF-8 bytes (1..MAX_NAME_BYTES)
 *     name             bytes     the queue name, UTF-8
 *     headerCrc        u32       CRC32C of every header byte above
 *
 *   Frames, one per record, back to back, until a length of 0 or the end of the file
 *     length           i32       length of the body, 1..MAX_RECORD_BYTES; 0 = no more frames
 *     crc              u32       CRC32C of the length field and the body
 *     body             type u8, then by type:
 *                        1 MESSAGE   a message, as MessageRecord encodes it (shared with snapshots):
 *                                    published, or relocated by recovery
 *                        2 RETRY     id i64, attempt i32, dueAt i64, firstFailureAt i64: the message
 *                                    waits for its next attempt (its payload stays in its MESSAGE)
 *                        3 COMPLETE  id i64: the message ended (handled, dead-lettered, dropped,
 *                                    withdrawn), or its publish failed (a tombstone)
 *
 * Files grow in zero-filled chunks ahead of the frames (so an fdatasync of new frames need not update
 * the file's size), which is why a zero length ends the frames. Records apply in file order, segment
 * after segment: a RETRY or COMPLETE only affects the MESSAGE of the same id written before it.
 *
 * Reading (JournalRecovery): a frame whose length is out of range, runs past the end, fails its CRC
 * or does not decode ends the valid part. If no valid frame follows it, it is the torn tail of a write
 * a crash interrupted: the damaged bytes are copied aside and the file truncated there. If valid frames
 * follow, the file is corrupt in the middle: every valid frame is recovered (found again by scanning
 * for a frame whose length, CRC and body check out) and the file is moved aside, never deleted.
 * Lengths are checked against MAX_RECORD_BYTES and the bytes left before anything is allocated.
 */

/** One record read back from a segment; [message] is set for [JournalFormat.MESSAGE]. */
internal class JournalRecord(
    val type: Int,
    val id: Long,
    val message: MessageRecord?,
    val attempt: Int = 0,
    val dueAtMillis: Long = 0,
    val firstFailureAtMillis: Long = Long.MIN_VALUE,
)

/** A segment's header. */
internal class SegmentHeader(val queue: String, val index: Long, val baseId: Long, val createdAtMillis: Long)

/**
 * What reading one segment found: its header (`null` when unreadable), every valid record in file
 * order, where the valid frames end, and the damage, if any.
 */
internal class SegmentScan(
    val header: SegmentHeader?,
    val records: List<JournalRecord>,
    /** Offset just past the last valid frame before the first damage (or of the whole file when undamaged). */
    val validEnd: Long,
    /** Offset of the first damaged byte, or -1 when the segment is clean. */
    val damageAt: Long,
    /** `true` when valid frames follow the damage: corruption in the middle, not a torn tail. */
    val corruptInMiddle: Boolean,
    /** Offset just past the last non-zero byte of the file (what a torn-tail copy must keep). */
    val dataEnd: Long,
    /** Why the first damaged frame was rejected. */
    val why: String?,
)

internal object JournalFormat {
    const val MAGIC: Int = 0x524D514A // "RMQJ"
    const val VERSION: Int = 1
    const val MAX_NAME_BYTES: Int = 4096
    const val MAX_RECORD_BYTES: Int = 256 * 1024 * 1024
    const val FRAME_OVERHEAD: Int = 8

    const val MESSAGE: Int = 1
    const val RETRY: Int = 2
    const val COMPLETE: Int = 3

    private const val RETRY_BODY = 1 + 8 + 4 + 8 + 8
    private const val COMPLETE_BODY = 1 + 8
    private const val HEADER_FIXED = 4 + 2 + 2 + 8 + 8 + 8 + 2

    fun segmentFileName(index: Long): String = "%020d.seg".format(index)

    /** The index of a segment file name, or `null` when [name] is not one. */
    fun segmentIndexOf(name: String): Long? {
        if (name.length != 24 || !name.endsWith(".seg")) return null
        val digits = name.substring(0, 20)
        if (!digits.all { it in '0'..'9' }) return null
        return digits.toLongOrNull()
    }

    fun header(queue: String, index: Long, baseId: Long, createdAt: Long): ByteArray {
        val name = queue.toByteArray(StandardCharsets.UTF_8)
        require(name.size in 1..MAX_NAME_BYTES) { "queue name of ${name.size} UTF-8 bytes cannot be stored" }
        val buffer = ByteBuffer.allocate(HEADER_FIXED + name.size + 4)
        buffer.putInt(MAGIC).putShort(VERSION.toShort()).putShort(0).putLong(index).putLong(baseId).putLong(createdAt)
        buffer.putShort(name.size.toShort()).put(name)
        buffer.putInt(crc(buffer.array(), 0, buffer.position()))
        return buffer.array()
    }

    /**
     * The frame of a MESSAGE record. Built by the publisher's thread (the CRC costs it, not the writer).
     * @throws IllegalArgumentException when the message is too large or its key too long to store.
     */
    fun messageFrame(id: Long, publishedAt: Long, dueAt: Long, firstFailureAt: Long, attempt: Int, key: String?, payload: ByteArray): ByteArray {
        val keyBytes = MessageRecord.keyBytes(id, key)
        val bodyLength = 1 + MessageRecord.bodySize(keyBytes, payload.size)
        require(bodyLength <= MAX_RECORD_BYTES) {
            "message $id encodes to ${payload.size} bytes; a journal record holds at most $MAX_RECORD_BYTES bytes. Publish a smaller payload."
        }
        val frame = ByteBuffer.allocate(FRAME_OVERHEAD + bodyLength.toInt())
        frame.putInt(bodyLength.toInt()).putInt(0).put(MESSAGE.toByte())
        MessageRecord.writeBody(frame, id, publishedAt, dueAt, firstFailureAt, attempt, keyBytes, payload)
        return seal(frame)
    }

    fun messageFrame(record: MessageRecord): ByteArray = messageFrame(
        record.id, record.publishedAtMillis, record.dueAtMillis, record.firstFailureAtMillis, record.attempt, record.key, record.payload,
    )

    /** Writes a RETRY frame into [out]. */
    fun putRetry(out: ByteBuffer, id: Long, attempt: Int, dueAt: Long, firstFailureAt: Long) {
        val start = out.position()
        out.putInt(RETRY_BODY).putInt(0).put(RETRY.toByte()).putLong(id).putInt(attempt).putLong(dueAt).putLong(firstFailureAt)
        sealAt(out, start, RETRY_BODY)
    }

    /** Writes a COMPLETE frame into [out]. */
    fun putComplete(out: ByteBuffer, id: Long) {
        val start = out.position()
        out.putInt(COMPLETE_BODY).putInt(0).put(COMPLETE.toByte()).putLong(id)
        sealAt(out, start, COMPLETE_BODY)
    }

    const val RETRY_FRAME_BYTES: Int = FRAME_OVERHEAD + RETRY_BODY
    const val COMPLETE_FRAME_BYTES: Int = FRAME_OVERHEAD + COMPLETE_BODY

    private fun seal(frame: ByteBuffer): ByteArray {
        val bytes = frame.array()
        val bodyLength = bytes.size - FRAME_OVERHEAD
        putIntAt(bytes, 4, frameCrc(bytes, 0, bodyLength))
        return bytes
    }

    private fun sealAt(out: ByteBuffer, start: Int, bodyLength: Int) {
        val crc = if (out.hasArray()) {
            frameCrc(out.array(), out.arrayOffset() + start, bodyLength)
        } else {
            val c = CRC32C()
            c.update(out.duplicate().position(start).limit(start + 4) as ByteBuffer)
            c.update(out.duplicate().position(start + FRAME_OVERHEAD).limit(start + FRAME_OVERHEAD + bodyLength) as ByteBuffer)
            c.value.toInt()
        }
        out.putInt(start + 4, crc)
    }

    /** CRC of the frame starting at [at]: its length field, then its body. */
    private fun frameCrc(bytes: ByteArray, at: Int, bodyLength: Int): Int {
        val c = CRC32C()
        c.update(bytes, at, 4)
        c.update(bytes, at + FRAME_OVERHEAD, bodyLength)
        return c.value.toInt()
    }

    /** Reads one segment's bytes; see the file comment for what counts as damage. */
    fun scan(bytes: ByteArray): SegmentScan {
        val size = bytes.size
        var dataEnd = size
        while (dataEnd > 0 && bytes[dataEnd - 1].toInt() == 0) dataEnd--
        val header = readHeader(bytes)
        val records = ArrayList<JournalRecord>()
        if (header == null) {
            // No header: an unborn segment (a crash while creating it) when nothing else is there.
            val found = resync(bytes, 0, records)
            return SegmentScan(null, records, 0, 0, found, dataEnd.toLong(), "unreadable header")
        }
        val start = headerSize(bytes)
        var pos = start
        while (true) {
            if (pos >= dataEnd) return SegmentScan(header, records, pos.toLong(), -1, false, dataEnd.toLong(), null)
            val why = frameAt(bytes, pos, records)
            if (why == null) {
                pos += FRAME_OVERHEAD + getInt(bytes, pos)
                continue
            }
            val validEnd = pos
            val found = resync(bytes, pos + 1, records)
            return SegmentScan(header, records, validEnd.toLong(), validEnd.toLong(), found, dataEnd.toLong(), why)
        }
    }

    /**
     * After damage: looks at every later offset for a frame that checks out, and reads on from each one
     * found. Returns `true` when any was found.
     */
    private fun resync(bytes: ByteArray, from: Int, records: MutableList<JournalRecord>): Boolean {
        var found = false
        var pos = from
        while (pos + FRAME_OVERHEAD < bytes.size) {
            if (plausibleFrame(bytes, pos) && frameAt(bytes, pos, records) == null) {
                found = true
                pos += FRAME_OVERHEAD + getInt(bytes, pos)
            } else {
                pos++
            }
        }
        return found
    }

    /**
     * A cheap first look while resynchronising (no allocation, no CRC): the length fits, the type is
     * known. Most offsets of a damaged region fail here.
     */
    private fun plausibleFrame(bytes: ByteArray, pos: Int): Boolean {
        val length = getInt(bytes, pos)
        if (length < 1 || length > MAX_RECORD_BYTES || length.toLong() > bytes.size - pos - FRAME_OVERHEAD) return false
        val type = bytes[pos + FRAME_OVERHEAD].toInt()
        return type == MESSAGE || type == RETRY || type == COMPLETE
    }

    /** Reads the frame at [pos] into [into]; returns why it is not a valid frame, or `null` when it is. */
    private fun frameAt(bytes: ByteArray, pos: Int, into: MutableList<JournalRecord>): String? {
        if (pos + FRAME_OVERHEAD > bytes.size) return "a frame header runs past the end of the file at offset $pos"
        val length = getInt(bytes, pos)
        if (length == 0) return "zeros where a frame was expected at offset $pos"
        if (length < 1 || length > MAX_RECORD_BYTES) return "impossible record length $length at offset $pos"
        if (length.toLong() > bytes.size - pos - FRAME_OVERHEAD) return "a record of $length bytes runs past the end of the file at offset $pos"
        if (getInt(bytes, pos + 4) != frameCrc(bytes, pos, length)) return "checksum mismatch at offset $pos"
        val body = pos + FRAME_OVERHEAD
        val record = when (bytes[body].toInt()) {
            MESSAGE -> try {
                val message = MessageRecord.readBody(bytes, body + 1, length - 1)
                JournalRecord(MESSAGE, message.id, message)
            } catch (e: CorruptRecordException) {
                return "undecodable message at offset $pos: ${e.message}"
            }
            RETRY -> {
                if (length != RETRY_BODY) return "retry record of $length bytes at offset $pos"
                val b = ByteBuffer.wrap(bytes, body + 1, length - 1)
                val id = b.long
                val attempt = b.int
                if (attempt < 2) return "retry record with attempt $attempt at offset $pos"
                JournalRecord(RETRY, id, null, attempt, b.long, b.long)
            }
            COMPLETE -> {
                if (length != COMPLETE_BODY) return "complete record of $length bytes at offset $pos"
                JournalRecord(COMPLETE, ByteBuffer.wrap(bytes, body + 1, 8).long, null)
            }
            else -> return "unknown record type ${bytes[body]} at offset $pos"
        }
        into.add(record)
        return null
    }

    private fun readHeader(bytes: ByteArray): SegmentHeader? {
        if (bytes.size < HEADER_FIXED + 1 + 4) return null
        val b = ByteBuffer.wrap(bytes)
        if (b.int != MAGIC) return null
        if (b.short.toInt() != VERSION) return null
        if (b.short.toInt() != 0) return null
        val index = b.long
        val baseId = b.long
        val createdAt = b.long
        val nameLength = b.short.toInt() and 0xFFFF
        if (nameLength !in 1..MAX_NAME_BYTES || HEADER_FIXED + nameLength + 4 > bytes.size) return null
        if (getInt(bytes, HEADER_FIXED + nameLength) != crc(bytes, 0, HEADER_FIXED + nameLength)) return null
        return SegmentHeader(String(bytes, HEADER_FIXED, nameLength, StandardCharsets.UTF_8), index, baseId, createdAt)
    }

    /** The size of the (valid) header at the start of [bytes]. */
    private fun headerSize(bytes: ByteArray): Int = HEADER_FIXED + (getShortAt(bytes, HEADER_FIXED - 2)) + 4

    /** Why [bytes] cannot be a segment of a journal this version reads, for the error message. */
    fun describeBadHeader(bytes: ByteArray): String = when {
        bytes.size < 4 -> "a ${bytes.size}-byte file"
        getInt(bytes, 0) != MAGIC -> "not a RelayMQ journal segment (magic ${"%08x".format(getInt(bytes, 0))})"
        bytes.size >= 6 && getShortAt(bytes, 4) != VERSION -> "journal format version ${getShortAt(bytes, 4)}, this RelayMQ reads $VERSION"
        else -> "a damaged header"
    }

    private fun crc(bytes: ByteArray, offset: Int, length: Int): Int = CRC32C().run {
        update(bytes, offset, length)
        value.toInt()
    }

    private fun getInt(b: ByteArray, at: Int): Int =
        ((b[at].toInt() and 0xFF) shl 24) or ((b[at + 1].toInt() and 0xFF) shl 16) or
            ((b[at + 2].toInt() and 0xFF) shl 8) or (b[at + 3].toInt() and 0xFF)

    private fun getShortAt(b: ByteArray, at: Int): Int = ((b[at].toInt() and 0xFF) shl 8) or (b[at + 1].toInt() and 0xFF)

    private fun putIntAt(b: ByteArray, at: Int, v: Int) {
        for (i in 0 until 4) b[at + i] = (v ushr (24 - 8 * i)).toByte()
    }
}
