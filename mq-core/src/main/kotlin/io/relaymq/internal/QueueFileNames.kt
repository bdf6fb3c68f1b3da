package io.relaymq.internal

import java.nio.charset.StandardCharsets
import java.security.MessageDigest

/**
 * Maps queue names to snapshot file names that are safe on every file system, whatever the name:
 * `queue-<encoded>.snapshot` (a durable queue's journal: the directory `queue-<encoded>.journal`), where each UTF-8 byte of the name other than `a-z`, `0-9`, `_` and `-`
 * becomes `%XX`. So `/`, `\`, `.` and `..` never reach the path (nothing is written outside the
 * directory), `CON` or `nul` are never device names, names that differ only in case never collide on
 * case-insensitive file systems, and unicode survives. Names whose encoding is long are shortened to a
 * prefix plus a SHA-256 of the full name, so no file name exceeds common 255-byte limits; the full
 * name is stored inside the file and checked on read.
 */
internal object QueueFileNames {
    const val PREFIX: String = "queue-"
    const val SUFFIX: String = ".snapshot"
    const val JOURNAL_SUFFIX: String = ".journal"
    private const val MAX_ENCODED = 120
    private val HEX = "0123456789ABCDEF".toCharArray()

    /** The snapshot file of [queue]. */
    fun fileName(queue: String): String = PREFIX + encoded(queue) + SUFFIX

    /** The journal directory of [queue] (inside the bus's journal directory). */
    fun journalDirectoryName(queue: String): String = PREFIX + encoded(queue) + JOURNAL_SUFFIX

    private fun encoded(queue: String): String {
        val encoded = StringBuilder()
        for (byte in queue.toByteArray(StandardCharsets.UTF_8)) {
            val c = byte.toInt() and 0xFF
            if (c in 'a'.code..'z'.code || c in '0'.code..'9'.code || c == '_'.code || c == '-'.code) {
                encoded.append(c.toChar())
            } else {
                encoded.append('%').append(HEX[c ushr 4]).append(HEX[c and 0xF])
            }
        }
        if (encoded.length > MAX_ENCODED) {
            var cut = 60
            while (cut > 0 && (encoded[cut - 1] == '%' || (cut > 1 && encoded[cut - 2] == '%'))) cut--
            val digest = MessageDigest.getInstance("SHA-256").digest(queue.toByteArray(StandardCharsets.UTF_8))
            val hash = digest.take(16).joinToString("") { "%02x".format(it) }
            return encoded.substring(0, cut) + "~" + hash
        }
        return encoded.toString()
    }
}
