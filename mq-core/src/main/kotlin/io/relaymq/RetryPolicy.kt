package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import kotlin.math.min
import kotlin.math.pow
import kotlin.random.Random
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds
import kotlin.time.toKotlinDuration

/**
 * How a queue retries failed messages: up to [maxAttempts] deliveries in all, waiting an exponential
 * backoff with jitter between them, capped at [maxBackoff], for failures [retryOn] accepts.
 *
 * The wait before attempt `n + 1` is `min(maxBackoff, initialBackoff * multiplier^(n-1))`, then
 * multiplied by a random factor in `[1 - jitter, 1 + jitter]` (so that many failures at once do not
 * retry in lockstep), and never more than [maxBackoff]. A message waiting for its retry does not occupy
 * a consumer; it re-enters its queue when due, keeps its id, and carries its attempt number
 * ([Message.attempt]). After the last attempt, or a failure [retryOn] rejects, the message is
 * dead-lettered (see [QueueOptions.deadLetterQueue]).
 *
 * Kotlin: `RetryPolicy(maxAttempts = 5, initialBackoff = 200.milliseconds)`; Java:
 * `RetryPolicy.builder().maxAttempts(5).initialBackoff(Duration.ofMillis(200)).build()`.
 */
public class RetryPolicy(
    /** Deliveries in all, the first included; at least 1 (1 means no retry). */
    @get:JvmName("maxAttempts") public val maxAttempts: Int = 3,
    /** The wait before the first retry, before jitter. */
    @get:JvmSynthetic public val initialBackoff: Duration = 100.milliseconds,
    /** How much each wait grows over the previous one; at least 1. */
    @get:JvmName("multiplier") public val multiplier: Double = 2.0,
    /** No wait is longer than this, jitter included. */
    @get:JvmSynthetic public val maxBackoff: Duration = 30.seconds,
    /** Relative spread of the random factor applied to each wait, in `[0, 1]`. */
    @get:JvmName("jitter") public val jitter: Double = 0.2,
    /** Which failures are retried; by default all. */
    @get:JvmName("retryOn") public val retryOn: RetryPredicate = RetryPredicate { true },
) {
    init {
        require(maxAttempts >= 1) { "maxAttempts must be at least 1, was $maxAttempts" }
        require(initialBackoff.isPositive() || initialBackoff == Duration.ZERO) { "initialBackoff must not be negative, was $initialBackoff" }
        require(multiplier >= 1.0) { "multiplier must be at least 1, was $multiplier" }
        require(maxBackoff >= initialBackoff) { "maxBackoff ($maxBackoff) must be at least initialBackoff ($initialBackoff)" }
        require(jitter in 0.0..1.0) { "jitter must be within [0, 1], was $jitter" }
    }

    /** The wait before attempt [attempt] + 1, before jitter. (Kotlin only; Java sees the builder's values.) */
    @JvmSynthetic
    public fun nominalBackoff(attempt: Int): Duration {
        require(attempt >= 1) { "attempt must be at least 1, was $attempt" }
        val millis = initialBackoff.inWholeMilliseconds * multiplier.pow(attempt - 1)
        return min(millis, maxBackoff.inWholeMilliseconds.toDouble()).milliseconds
    }

    /** The jittered wait before attempt [attempt] + 1: within `nominal * (1 ± jitter)`, at most [maxBackoff]. */
    @JvmSynthetic
    internal fun backoff(attempt: Int, random: Random): Duration {
        val nominal = nominalBackoff(attempt).inWholeMilliseconds.toDouble()
        val factor = 1.0 + jitter * (2 * random.nextDouble() - 1)
        return min(nominal * factor, maxBackoff.inWholeMilliseconds.toDouble()).milliseconds
    }

    override fun toString(): String =
        "RetryPolicy(maxAttempts=$maxAttempts, initialBackoff=$initialBackoff, multiplier=$multiplier, " +
            "maxBackoff=$maxBackoff, jitter=$jitter)"

    /** Java builder for [RetryPolicy]; obtain one with [RetryPolicy.builder]. */
    public class Builder internal constructor(@Suppress("UNUSED_PARAMETER") marker: FromRelayMQ) {
        private var maxAttempts = 3
        private var initialBackoff: Duration = 100.milliseconds
        private var multiplier = 2.0
        private var maxBackoff: Duration = 30.seconds
        private var jitter = 0.2
        private var retryOn = RetryPredicate { true }

        /** See [RetryPolicy.maxAttempts]. */
        public fun maxAttempts(maxAttempts: Int): Builder = apply { this.maxAttempts = maxAttempts }

        /** See [RetryPolicy.initialBackoff]. */
        public fun initialBackoff(backoff: java.time.Duration): Builder = apply { initialBackoff = backoff.toKotlinDuration() }

        /** See [RetryPolicy.multiplier]. */
        public fun multiplier(multiplier: Double): Builder = apply { this.multiplier = multiplier }

        /** See [RetryPolicy.maxBackoff]. */
        public fun maxBackoff(backoff: java.time.Duration): Builder = apply { maxBackoff = backoff.toKotlinDuration() }

        /** See [RetryPolicy.jitter]. */
        public fun jitter(jitter: Double): Builder = apply { this.jitter = jitter }

        /** See [RetryPolicy.retryOn]. */
        public fun retryOn(predicate: RetryPredicate): Builder = apply { retryOn = predicate }

        /** The policy. @throws IllegalArgumentException for values out of range. */
        public fun build(): RetryPolicy = RetryPolicy(maxAttempts, initialBackoff, multiplier, maxBackoff, jitter, retryOn)
    }

    // Private: Java sees the static RetryPolicy.builder() and no Companion; Kotlin uses the constructor's named arguments.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)
    }
}
