package io.relaymq.internal

import io.kotest.assertions.throwables.shouldThrow
import io.kotest.core.spec.style.FunSpec
import io.kotest.matchers.shouldBe
import io.kotest.property.Arb
import io.kotest.property.arbitrary.byte
import io.kotest.property.arbitrary.byteArray
import io.kotest.property.arbitrary.int
import io.kotest.property.arbitrary.list
import io.kotest.property.arbitrary.long
import io.kotest.property.arbitrary.string
import io.kotest.property.checkAll
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream

private fun encode(name: String, records: List<MessageRecord>): ByteArray =
    ByteArrayOutputStream().also { SnapshotFormat.write(it, name, 1_700_000_000_000, records.asSequence()) }.toByteArray()

private fun decode(bytes: ByteArray): Snapshot = SnapshotFormat.read(ByteArrayInputStream(bytes), bytes.size.toLong())

private val sample = listOf(
    MessageRecord(1, 10, "alpha".toByteArray()),
    MessageRecord(2, 20, ByteArray(0)),
    MessageRecord(7, 30, ByteArray(40) { it.toByte() }),
)

class SnapshotFormatSpec : FunSpec({

    test("round trip keeps name, ids, times and payloads") {
        checkAll(200, Arb.string(1..40), Arb.list(Arb.byteArray(Arb.int(0..64), Arb.byte()), 0..30), Arb.long(0L..1_000_000L)) { name, payloads, start ->
            val records = payloads.mapIndexed { i, p -> MessageRecord(start + i * 3, 1_000L + i, p) }
            val snapshot = decode(encode(name, records))
            snapshot.queueName shouldBe name
            snapshot.records.map { it.id } shouldBe records.map { it.id }
            snapshot.records.map { it.publishedAtMillis } shouldBe records.map { it.publishedAtMillis }
            snapshot.records.map { it.payload.toList() } shouldBe records.map { it.payload.toList() }
        }
    }

    test("truncation at every length is rejected, never read as fewer records") {
        val bytes = encode("queue", sample)
        for (length in 0 until bytes.size) {
            shouldThrow<CorruptSnapshotException> { decode(bytes.copyOf(length)) }
        }
    }

    test("a flipped bit anywhere (header, records, trailer, checksums) is rejected") {
        val bytes = encode("queue", sample)
        for (position in bytes.indices) {
            for (bit in 0 until 8) {
                val corrupt = bytes.copyOf()
                corrupt[position] = (corrupt[position].toInt() xor (1 shl bit)).toByte()
                shouldThrow<CorruptSnapshotException> { decode(corrupt) }
            }
        }
    }

    test("random corruption and appended garbage are rejected (property)") {
        val bytes = encode("queue", sample)
        checkAll(500, Arb.int(bytes.indices), Arb.int(1..255)) { position, mask ->
            val corrupt = bytes.copyOf()
            corrupt[position] = (corrupt[position].toInt() xor mask).toByte()
            shouldThrow<CorruptSnapshotException> { decode(corrupt) }
        }
        checkAll(100, Arb.byteArray(Arb.int(1..16), Arb.byte())) { tail ->
            shouldThrow<CorruptSnapshotException> { decode(bytes + tail) }
        }
    }

    test("a huge record length is refused before any allocation") {
        val bytes = encode("q", listOf(MessageRecord(1, 1, ByteArray(4))))
        // The first record's length field follows magic(4) version(2) flags(2) time(8) nameLength(2) name(1) crc(4).
        val at = 4 + 2 + 2 + 8 + 2 + 1 + 4
        val corrupt = bytes.copyOf()
        corrupt[at] = 0x7F
        val e = shouldThrow<CorruptSnapshotException> { decode(corrupt) }
        (e.message!!.contains("impossible length") || e.message!!.contains("needs")) shouldBe true
    }
})
