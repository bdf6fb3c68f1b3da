package io.relaymq.internal

import io.relaymq.DeadLetter
import io.relaymq.MessageCodec
import java.nio.charset.StandardCharsets

/**
 * The codec of a persistent queue registered without one and without a known payload type (Java's
 * `registerQueue(name, concurrency, handler)`): `String`, `byte[]` and [DeadLetter] payloads (so an
 * untyped Java queue can be a dead-letter queue), told apart by a tag byte. Any other payload is
 * refused at publish, with a message that says to register a codec.
 */
internal class BuiltInCodec(private val deadLetters: DeadLetterCodec) : MessageCodec<Any> {
    override fun type(): Class<Any> = Any::class.java

    override fun canEncode(value: Any): Boolean =
        value is String || value is ByteArray || (value is DeadLetter && deadLetters.canEncode(value))

    override fun encode(value: Any): ByteArray = when (value) {
        is String -> byteArrayOf(STRING) + value.toByteArray(StandardCharsets.UTF_8)
        is ByteArray -> byteArrayOf(BYTES) + value
        is DeadLetter -> byteArrayOf(DEAD_LETTER) + deadLetters.encode(value)
        else -> throw IllegalArgumentException("no built-in codec for ${value.javaClass.name}")
    }

    override fun decode(bytes: ByteArray): Any {
        require(bytes.isNotEmpty()) { "empty payload" }
        return when (bytes[0]) {
            STRING -> String(bytes, 1, bytes.size - 1, StandardCharsets.UTF_8)
            BYTES -> bytes.copyOfRange(1, bytes.size)
            DEAD_LETTER -> deadLetters.decode(bytes.copyOfRange(1, bytes.size))
            else -> throw IllegalArgumentException("unknown payload tag ${bytes[0]}")
        }
    }

    override fun toString(): String = "the built-in String/byte[]/DeadLetter codec"

    private companion object {
        const val STRING: Byte = 0
        const val BYTES: Byte = 1
        const val DEAD_LETTER: Byte = 2
    }
}
