package io.relaymq.internal

import io.github.oshai.kotlinlogging.KLogger
import java.util.concurrent.atomic.AtomicLong

/**
 * Logs at most one line per [intervalMillis] and says how many were suppressed in between, so that a
 * flood of drops cannot flood the log while every drop still leaves a trace (counters, listener, log).
 */
internal class RateLimitedLog(
    private val logger: KLogger,
    private val prefix: String,
    private val intervalMillis: Long = 1_000,
) {
    private val nextAllowed = AtomicLong()
    private val suppressed = AtomicLong()

    fun warn(message: () -> String) {
        val now = System.currentTimeMillis()
        val next = nextAllowed.get()
        if (now >= next && nextAllowed.compareAndSet(next, now + intervalMillis)) {
            val skipped = suppressed.getAndSet(0)
            val line = message()
            logger.warn { if (skipped > 0) "$prefix: $line (and $skipped more like it in the last second)" else "$prefix: $line" }
        } else {
            suppressed.incrementAndGet()
        }
    }
}
