package io.relaymq.internal

import java.io.DataInputStream
import java.io.DataOutputStream
import java.io.EOFException
import java.io.IOException
import java.io.InputStream
import java.io.OutputStream
import java.nio.charset.StandardCharsets
import java.util.zip.CRC32C
import java.util.zip.CheckedInputStream
import java.util.zip.CheckedOutputStream

/*
 * Snapshot file format, version 1. All integers big-endian.
 *
 *   Header
 *     magic            4 bytes   "RMQS" (0x524D5153)
 *     version          u16       1
 *     flags            u16       0 (reserved; a reader refuses any other value)
 *     createdAt        i64       epoch millis when the snapshot was written
 *     nameLength       u16       length of the queue name in UTF-8 bytes (1..MAX_NAME_BYTES)
 *     name             bytes     the queue name, UTF-8 (so a file can be matched to its queue)
 *     headerCrc        u32       CRC32C of every header byte above
 *
 *   Records, zero or more
 *     length           i32       length of the record body, 38..MAX_RECORD_BYTES (never -1)
 *     bodyCrc          u32       CRC32C of the body
 *     body             bytes     one message, as MessageRecord encodes it (shared with the journal)
 *
 *   Trailer
 *     endMarker        i32       -1: no record is that long, so it cannot be mistaken for a record
 *     count            i64       number of records
 *     fileCrc          u32       CRC32C of every byte of the file before this field
 *
 * A reader validates magic, version, flags, the header CRC, each record's bounds and CRC, ids strictly
 * increasing, the count, the file CRC, and that nothing follows the trailer. Lengths are checked
 * against MAX_RECORD_BYTES and against the bytes the file still has *before* anything is allocated,
 * so a corrupt length can neither allocate gigabytes nor read past the end. Any failure means the whole
 * file is rejected: a snapshot is restored entirely or not at all.
 *
 * Writers never write in place: see SnapshotStore for the temp-file, fsync, rename, fsync-directory
 * sequence that makes a snapshot appear atomically.
 */

/** The decoded content of one snapshot file. */
internal class Snapshot(val queueName: String, val createdAtMillis: Long, val records: List<MessageRecord>)

/** A snapshot file that failed validation; [message] says where and how. */
internal class CorruptSnapshotException(message: String, cause: Throwable? = null) : IOException(message, cause)

internal object SnapshotFormat {
    const val MAGIC: Int = 0x524D5153 // "RMQS"
    const val VERSION: Int = 1
    const val MAX_NAME_BYTES: Int = 4096
    const val MAX_RECORD_BYTES: Int = 256 * 1024 * 1024
    private const val RECORD_FIXED_BYTES = MessageRecord.FIXED_BYTES
    private const val END_MARKER = -1

    /** Writes a whole snapshot to [out] (which the caller flushes, forces and closes). */
    fun write(out: OutputStream, queueName: String, createdAtMillis: Long, records: Sequence<MessageRecord>) {
        val fileCrc = CRC32C()
        val data = DataOutputStream(CheckedOutputStream(out, fileCrc))
        val name = queueName.toByteArray(StandardCharsets.UTF_8)
        require(name.size in 1..MAX_NAME_BYTES) { "queue name of ${name.size} UTF-8 bytes cannot be stored" }

        val header = java.io.ByteArrayOutputStream()
        DataOutputStream(header).apply {
            writeInt(MAGIC)
            writeShort(VERSION)
            writeShort(0)
            writeLong(createdAtMillis)
            writeShort(name.size)
            write(name)
        }
        val headerBytes = header.toByteArray()
        data.write(headerBytes)
        data.writeInt(crcOf(headerBytes, 0, headerBytes.size))

        var count = 0L
        var lastId = Long.MIN_VALUE
        for (record in records) {
            check(record.id > lastId) { "snapshot records must have strictly increasing ids" }
            lastId = record.id
            val key = MessageRecord.keyBytes(record.id, record.key)
            val bodyLength = MessageRecord.bodySize(key, record.payload.size)
            require(bodyLength <= MAX_RECORD_BYTES) {
                "message ${record.id} of queue '$queueName' encodes to ${record.payload.size} bytes; " +
                    "snapshots hold at most $MAX_RECORD_BYTES bytes per message"
            }
            val body = ByteArray(bodyLength.toInt())
            MessageRecord.writeBody(java.nio.ByteBuffer.wrap(body), record)
            data.writeInt(body.size)
            data.writeInt(crcOf(body, 0, body.size))
            data.write(body)
            count++
        }
        data.writeInt(END_MARKER)
        data.writeLong(count)
        data.flush()
        // The file CRC covers everything written so far; it is written outside the checked stream.
        DataOutputStream(out).apply {
            writeInt(fileCrc.value.toInt())
            flush()
        }
    }

    /**
     * Reads and validates a whole snapshot of [fileSize] bytes from [input].
     * @throws CorruptSnapshotException when anything does not check out.
     */
    fun read(input: InputStream, fileSize: Long): Snapshot {
        val fileCrc = CRC32C()
        val checked = CheckedInputStream(input, fileCrc)
        val data = DataInputStream(checked)
        var position = 0L

        fun need(bytes: Long, what: String) {
            if (bytes < 0 || position + bytes > fileSize) {
                throw CorruptSnapshotException("truncated or corrupt: $what needs $bytes bytes at offset $position, file has $fileSize")
            }
        }

        try {
            val headerCrc = CRC32C()
            need(16, "header")
            val fixed = ByteArray(16)
            data.readFully(fixed)
            position += 16
            headerCrc.update(fixed)
            val magic = getInt(fixed, 0)
            if (magic != MAGIC) throw CorruptSnapshotException("not a RelayMQ snapshot (magic ${"%08x".format(magic)})")
            val version = getShort(fixed, 4)
            if (version != VERSION) throw CorruptSnapshotException("snapshot format version $version, this RelayMQ reads $VERSION")
            val flags = getShort(fixed, 6)
            if (flags != 0) throw CorruptSnapshotException("unknown header flags $flags")
            val createdAt = getLong(fixed, 8)
            need(2, "name length")
            val nameLength = data.readUnsignedShort()
            position += 2
            headerCrc.update(byteArrayOf((nameLength ushr 8).toByte(), nameLength.toByte()))
            if (nameLength !in 1..MAX_NAME_BYTES) throw CorruptSnapshotException("queue name length $nameLength out of range")
            need(nameLength.toLong() + 4, "queue name and header checksum")
            val name = ByteArray(nameLength)
            data.readFully(name)
            position += nameLength
            headerCrc.update(name)
            val storedHeaderCrc = data.readInt()
            position += 4
            if (storedHeaderCrc != headerCrc.value.toInt()) throw CorruptSnapshotException("header checksum mismatch")

            val records = ArrayList<MessageRecord>()
            var lastId = Long.MIN_VALUE
            while (true) {
                need(4, "record length or end marker")
                val length = data.readInt()
                position += 4
                if (length == END_MARKER) break
                if (length < RECORD_FIXED_BYTES || length > MAX_RECORD_BYTES) {
                    throw CorruptSnapshotException("record ${records.size} has impossible length $length at offset ${position - 4}")
                }
                need(4L + length, "record ${records.size}")
                val storedCrc = data.readInt()
                val body = ByteArray(length)
                data.readFully(body)
                position += 4L + length
                if (storedCrc != crcOf(body, 0, body.size)) throw CorruptSnapshotException("record ${records.size} checksum mismatch")
                val record = try {
                    MessageRecord.readBody(body, 0, body.size)
                } catch (e: CorruptRecordException) {
                    throw CorruptSnapshotException("record ${records.size}: ${e.message}")
                }
                if (record.id <= lastId) throw CorruptSnapshotException("record ${records.size} id ${record.id} does not increase")
                lastId = record.id
                records.add(record)
            }
            need(12, "trailer")
            val count = data.readLong()
            position += 8
            if (count != records.size.toLong()) throw CorruptSnapshotException("trailer counts $count records, file has ${records.size}")
            val expectedFileCrc = fileCrc.value.toInt()
            val storedFileCrc = data.readInt()
            position += 4
            if (storedFileCrc != expectedFileCrc) throw CorruptSnapshotException("file checksum mismatch")
            if (position != fileSize || checked.read() != -1) throw CorruptSnapshotException("unexpected bytes after the trailer")
            return Snapshot(String(name, StandardCharsets.UTF_8), createdAt, records)
        } catch (e: EOFException) {
            throw CorruptSnapshotException("truncated at offset $position", e)
        } catch (e: RuntimeException) {
            // Belt and braces: whatever the bytes, a bad file is reported as corrupt, never as a crash.
            throw CorruptSnapshotException("unreadable at offset $position: $e", e)
        }
    }

    private fun crcOf(bytes: ByteArray, offset: Int, length: Int): Int = CRC32C().run {
        update(bytes, offset, length)
        value.toInt()
    }

    private fun getLong(b: ByteArray, at: Int): Long {
        var v = 0L
        for (i in 0 until 8) v = (v shl 8) or (b[at + i].toLong() and 0xFF)
        return v
    }

    private fun getInt(b: ByteArray, at: Int): Int =
        ((b[at].toInt() and 0xFF) shl 24) or ((b[at + 1].toInt() and 0xFF) shl 16) or
            ((b[at + 2].toInt() and 0xFF) shl 8) or (b[at + 3].toInt() and 0xFF)

    private fun getShort(b: ByteArray, at: Int): Int = ((b[at].toInt() and 0xFF) shl 8) or (b[at + 1].toInt() and 0xFF)
}
