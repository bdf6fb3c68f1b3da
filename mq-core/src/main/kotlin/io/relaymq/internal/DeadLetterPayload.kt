package io.relaymq.internal

import io.relaymq.MessageCodec

/**
 * The payload of a [io.relaymq.DeadLetter]: the original object, or (restored from a snapshot) the bytes
 * the source queue's codec made, decoded on first use with that queue's codec. Decoding waits until
 * then because the dead-letter queue is often registered (and restored) before its source queues.
 */
internal sealed class DeadLetterPayload {
    abstract fun value(): Any

    class Decoded(private val value: Any) : DeadLetterPayload() {
        override fun value(): Any = value
    }

    class Encoded(
        val bytes: ByteArray,
        private val sourceQueue: String,
        private val codecOf: (String) -> MessageCodec<Any?>?,
    ) : DeadLetterPayload() {
        @Volatile private var decoded: Any? = null

        override fun value(): Any {
            decoded?.let { return it }
            val codec = codecOf(sourceQueue) ?: throw IllegalStateException(
                "This dead letter was restored from a snapshot and its payload needs the codec of queue " +
                    "'$sourceQueue', which is not registered on this bus. Register '$sourceQueue' before reading data().",
            )
            val value = codec.decode(bytes) ?: throw IllegalStateException("The codec of queue '$sourceQueue' decoded a dead letter's payload to null")
            decoded = value
            return value
        }
    }
}
