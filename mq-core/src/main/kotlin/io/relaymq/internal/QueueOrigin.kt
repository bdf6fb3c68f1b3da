package io.relaymq.internal

/**
 * What a run of one queue's messages shares: the queue's name, and the id and instant their ids and
 * publish times count from.
 *
 * A [io.relaymq.Message] keeps its id and its publish time in one `Int` ([pack]): the id as an offset
 * from [idBase] in the high [ID_BITS] bits, the publish time in milliseconds after [epochMillis] in the
 * low [TIME_BITS]. With the name behind the same reference, a plain message is three references wide:
 * 24 bytes on a 64-bit JVM with compressed oops (instead of 40 for a `String`, a `Long` id and a `Long`
 * time), which is what keeps a pending message under 32 bytes beyond its payload.
 *
 * An origin covers about a million ids and four seconds. Publishers share the queue's current one
 * ([Origins]) and start a new one when an (id, time) no longer fits; older messages keep pointing at
 * theirs. A new origin starts a little before the id and time that made it ([ID_SLACK], [TIME_SLACK]),
 * so that concurrent publishers whose ids or clock readings are a little behind still fit in it rather
 * than each starting their own. At four seconds per origin, a queue publishing one message a second
 * pays 8 bytes per message for origins (a 32-byte origin every four messages); one publishing a
 * thousand a second, 0.01.
 */
internal class QueueOrigin(val name: String, val epochMillis: Long, val idBase: Long) {
    /** `true` when [id] and [millis] fit in [pack]. */
    fun fits(id: Long, millis: Long): Boolean {
        val idOffset = id - idBase
        val timeOffset = millis - epochMillis
        return idOffset in 0..MAX_ID_OFFSET && timeOffset in 0..MAX_TIME_OFFSET
    }

    /** [id] and [millis] as one `Int`; only for values that [fits]. */
    fun pack(id: Long, millis: Long): Int = ((id - idBase).toInt() shl TIME_BITS) or (millis - epochMillis).toInt()

    fun idOf(packed: Int): Long = idBase + (packed ushr TIME_BITS)

    fun millisOf(packed: Int): Long = epochMillis + (packed and MAX_TIME_OFFSET.toInt())

    companion object {
        const val ID_BITS: Int = 20
        const val TIME_BITS: Int = 32 - ID_BITS
        const val MAX_ID_OFFSET: Long = (1L shl ID_BITS) - 1
        const val MAX_TIME_OFFSET: Long = (1L shl TIME_BITS) - 1
        const val ID_SLACK: Long = 4096
        const val TIME_SLACK: Long = 64

        /** An origin that fits [id] and [millis], with room for ids and times a little behind them. */
        fun around(name: String, id: Long, millis: Long): QueueOrigin {
            val idBase = if (id >= ID_SLACK) id - ID_SLACK else minOf(0L, id)
            val epoch = if (millis - TIME_SLACK > millis) millis else millis - TIME_SLACK // overflow near Long.MIN_VALUE
            return QueueOrigin(name, epoch, idBase)
        }
    }
}

/**
 * The current [QueueOrigin] of one queue's publishes (or of a restore). A racy cache: publishers read
 * and replace [current] without synchronization. That is safe because an origin is immutable (final
 * fields) and any origin that [fits] a message is a correct one for it; a lost replacement only means
 * one more origin object.
 */
internal class Origins(private val queue: String) {
    private var current: QueueOrigin = QueueOrigin(queue, 0L, 0L)

    /** An origin that fits [id] and [millis]: the current one, or a new current one. */
    fun originFor(id: Long, millis: Long): QueueOrigin {
        val origin = current
        if (origin.fits(id, millis)) return origin
        return QueueOrigin.around(queue, id, millis).also { current = it }
    }
}
