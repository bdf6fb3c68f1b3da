package io.relaymq

import java.nio.charset.StandardCharsets

/**
 * Turns one queue's payloads into bytes and back, so that pending messages can be written to a snapshot
 * on close and restored on the next start. RelayMQ never uses Java serialization: every payload that
 * crosses the disk goes through a codec.
 *
 * A codec declares the payload [type] it handles; a bus with a snapshot directory refuses, at publish,
 * any payload its queue's codec cannot take ([canEncode]), so a payload that cannot be saved is never
 * discovered at close.
 *
 * Built-ins: [utf8] for `String`, [bytes] for `byte[]`. Write your own with [of] (Java) or by
 * implementing this interface (for JSON, Protobuf, ...). Codecs must be thread-safe and
 * `decode(encode(x))` must equal `x` as far as your handlers care.
 *
 * @param T the payload type.
 */
public interface MessageCodec<T> {
    /** The payload class this codec handles. */
    public fun type(): Class<T>

    /** `true` if [value] can be encoded; by default, when it is an instance of [type]. */
    public fun canEncode(value: Any): Boolean = type().isInstance(value)

    /** The bytes of [value]. Called on close, for each message saved to the snapshot. */
    public fun encode(value: T): ByteArray

    /** The payload back from [bytes] written by [encode]. Called on start, for each restored message. */
    public fun decode(bytes: ByteArray): T

    /** A function that encodes a payload, for [of]. */
    public fun interface Encoder<T> {
        /** The bytes of [value]. */
        @Throws(Exception::class)
        public fun encode(value: T): ByteArray
    }

    /** A function that decodes a payload, for [of]. */
    public fun interface Decoder<T> {
        /** The payload back from [bytes]. */
        @Throws(Exception::class)
        public fun decode(bytes: ByteArray): T
    }

    /** Factories for the built-in codecs. */
    public companion object {
        /** UTF-8 text. */
        @JvmStatic
        public fun utf8(): MessageCodec<String> = Utf8Codec

        /** Raw bytes, stored as they are. */
        @JvmStatic
        public fun bytes(): MessageCodec<ByteArray> = BytesCodec

        /** A codec for [type] made of two functions, for Java lambdas and method references. */
        @JvmStatic
        public fun <T : Any> of(type: Class<T>, encoder: Encoder<T>, decoder: Decoder<T>): MessageCodec<T> =
            object : MessageCodec<T> {
                override fun type(): Class<T> = type

                override fun encode(value: T): ByteArray = encoder.encode(value)

                override fun decode(bytes: ByteArray): T = decoder.decode(bytes)

                override fun toString(): String = "MessageCodec(${type.name})"
            }
    }
}

private object Utf8Codec : MessageCodec<String> {
    override fun type(): Class<String> = String::class.java

    override fun encode(value: String): ByteArray = value.toByteArray(StandardCharsets.UTF_8)

    override fun decode(bytes: ByteArray): String = String(bytes, StandardCharsets.UTF_8)

    override fun toString(): String = "MessageCodec.utf8()"
}

private object BytesCodec : MessageCodec<ByteArray> {
    override fun type(): Class<ByteArray> = ByteArray::class.java

    override fun encode(value: ByteArray): ByteArray = value

    override fun decode(bytes: ByteArray): ByteArray = bytes

    override fun toString(): String = "MessageCodec.bytes()"
}
