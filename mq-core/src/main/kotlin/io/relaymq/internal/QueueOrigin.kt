package io.relaymq.internal

/**
 * What every message of one queue shares: the queue's name and the instant its messages' publish
 * times count from.
 *
 * Messages store their publish time as an `Int` of milliseconds after [epochMillis] rather than a
 * `Long`: with the name also behind this one reference, a [io.relaymq.Message] is 32 bytes instead
 * of 40 on a 64-bit JVM with compressed oops, which is what keeps a pending message under 40 bytes
 * beyond its payload. An origin covers about 24 days; the engine starts a new one when a time no
 * longer fits, and older messages keep pointing at theirs.
 */
internal class QueueOrigin(val name: String, val epochMillis: Long) {
    /** `now` as an offset from [epochMillis], or [DOES_NOT_FIT] (an `Int?` would box on every publish). */
    fun offsetOf(now: Long): Int {
        val offset = now - epochMillis
        return if (offset in 0..Int.MAX_VALUE.toLong()) offset.toInt() else DOES_NOT_FIT
    }

    companion object {
        const val DOES_NOT_FIT: Int = -1
    }
}
