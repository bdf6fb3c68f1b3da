package io.relaymq

import io.relaymq.internal.FROM_RELAYMQ
import io.relaymq.internal.FromRelayMQ
import java.time.Instant
import kotlin.time.Duration
import kotlin.time.toKotlinDuration

/**
 * Per-message options for `publish`: an ordering [key], and delayed delivery ([delay] or [dueAt]).
 * Kotlin: `PublishOptions(key = "user-42", delay = 5.seconds)`; Java:
 * `PublishOptions.builder().key("user-42").delay(Duration.ofSeconds(5)).build()`.
 */
public class PublishOptions(
    /**
     * Messages of one queue with the same key are handled one at a time, in publish order; different
     * keys run in parallel up to the queue's concurrency. `null` for none.
     */
    @get:JvmName("key") public val key: String? = null,
    /** Deliver no sooner than this long after the publish. */
    @get:JvmSynthetic public val delay: Duration = Duration.ZERO,
    /** Deliver no sooner than this instant; `null` for none. When both are set, the later one counts. */
    @get:JvmName("dueAt") public val dueAt: Instant? = null,
) {
    init {
        require(!delay.isNegative()) { "delay must not be negative, was $delay" }
    }

    override fun toString(): String = "PublishOptions(key=$key, delay=$delay, dueAt=$dueAt)"

    /** Java builder for [PublishOptions]; obtain one with [PublishOptions.builder]. */
    public class Builder internal constructor(@Suppress("UNUSED_PARAMETER") marker: FromRelayMQ) {
        private var key: String? = null
        private var delay = Duration.ZERO
        private var dueAt: Instant? = null

        /** See [PublishOptions.key]. */
        public fun key(key: String?): Builder = apply { this.key = key }

        /** See [PublishOptions.delay]. */
        public fun delay(delay: java.time.Duration): Builder = apply { this.delay = delay.toKotlinDuration() }

        /** See [PublishOptions.dueAt]. */
        public fun dueAt(dueAt: Instant?): Builder = apply { this.dueAt = dueAt }

        /** The options. @throws IllegalArgumentException for a negative delay. */
        public fun build(): PublishOptions = PublishOptions(key, delay, dueAt)
    }

    // Private: Java sees the static PublishOptions.builder() and no Companion; Kotlin uses the constructor's named arguments.
    private companion object {
        /** A builder with every option at its default. */
        @JvmStatic
        fun builder(): Builder = Builder(FROM_RELAYMQ)
    }
}
