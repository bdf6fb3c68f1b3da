package io.relaymq

/** What a bounded queue does with a message published while it is full. See [QueueOptions.capacity]. */
public enum class OverflowPolicy {
    /** The publisher waits: Kotlin's `publish` suspends, Java's future completes once there is room. */
    SUSPEND,

    /** The publish fails at once with [QueueFullException]; the caller still owns the message. */
    REJECT,

    /**
     * The new message is accepted and the oldest waiting message is dropped: counted in
     * [QueueStats.dropped], passed to [QueueOptions.onDrop], logged (rate-limited).
     */
    DROP_OLDEST,

    /**
     * The new message is dropped instead (it still gets an id): counted in [QueueStats.dropped], passed
     * to [QueueOptions.onDrop], logged (rate-limited).
     */
    DROP_NEWEST,
}
