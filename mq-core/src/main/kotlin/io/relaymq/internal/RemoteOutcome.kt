package io.relaymq.internal

import io.relaymq.RemoteHandlerException
import java.io.ByteArrayOutputStream
import java.io.DataInputStream
import java.io.DataOutputStream

/**
 * The outcome of a request as it crosses a remote backend, from the bus that handled the message to the
 * bus that waits for it.
 *
 * Format (big-endian): one tag byte, the message id (8 bytes), then
 * - `SUCCESS_NULL` (0): nothing (the handler returned `null` or `Unit`);
 * - `SUCCESS` (1): the result through the built-in codec (its own tag byte, then String UTF-8, byte[]
 *   or a dead letter);
 * - `FAILURE` (2): modified UTF-8 strings (`DataOutput.writeUTF`): the failure's class, then a presence
 *   byte and its message (cut to [MAX_MESSAGE_CHARS]).
 *
 * A result the built-in codec cannot carry fails the request with an explanation instead.
 */
internal object RemoteOutcome {
    private const val SUCCESS_NULL: Byte = 0
    private const val SUCCESS: Byte = 1
    private const val FAILURE: Byte = 2
    private const val MAX_MESSAGE_CHARS = 4000
    private val codec = BuiltInCodec(DeadLetterCodec { null })

    fun success(result: Any?, queue: String, id: Long): ByteArray {
        if (result == null || result == Unit) return header(SUCCESS_NULL, id).toByteArray()
        if (!codec.canEncode(result)) {
            return failure(
                IllegalArgumentException(
                    "The handler of queue '$queue' returned a ${result.javaClass.name} for message $id, but a result that crosses a " +
                        "remote backend must be a String or a byte[] (or null): return an encoded form (JSON, say).",
                ),
                id,
            )
        }
        val bytes = header(SUCCESS, id)
        bytes.write(codec.encode(result))
        return bytes.toByteArray()
    }

    private fun header(tag: Byte, id: Long): ByteArrayOutputStream {
        val bytes = ByteArrayOutputStream()
        DataOutputStream(bytes).use { out ->
            out.writeByte(tag.toInt())
            out.writeLong(id)
        }
        return bytes
    }

    fun failure(failure: Throwable, id: Long): ByteArray {
        val bytes = header(FAILURE, id)
        DataOutputStream(bytes).use { out ->
            out.writeUTF(failure.javaClass.name)
            val message = failure.message
            out.writeBoolean(message != null)
            if (message != null) out.writeUTF(message.take(MAX_MESSAGE_CHARS))
        }
        return bytes.toByteArray()
    }

    /** What [outcome] means for a requester of [queue]: the result, or (as a failure) a [RemoteHandlerException]. */
    fun decode(outcome: ByteArray, queue: String): Result<Any?> {
        require(outcome.size >= 9) { "an outcome of ${outcome.size} bytes is too short" }
        val id = DataInputStream(outcome.inputStream(1, 8)).readLong()
        return when (outcome[0]) {
            SUCCESS_NULL -> Result.success(null)
            SUCCESS -> Result.success(codec.decode(outcome.copyOfRange(9, outcome.size)))
            FAILURE -> {
                val input = DataInputStream(outcome.inputStream(9, outcome.size - 9))
                val type = input.readUTF()
                val message = if (input.readBoolean()) input.readUTF() else null
                Result.failure(RemoteHandlerException(queue, id, type, message))
            }
            else -> throw IllegalArgumentException("unknown outcome tag ${outcome[0]}")
        }
    }
}
