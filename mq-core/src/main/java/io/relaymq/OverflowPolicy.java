package io.relaymq;

/**
 * What a bounded queue does with a message published while it is full. See {@link QueueOptions#capacity()}.
 *
 * <p>(Written in Java so that Java callers see a plain enum: a Kotlin enum adds a static
 * {@code getEntries()} returning a Kotlin type.)
 */
public enum OverflowPolicy {
    /** The publisher waits: Kotlin's {@code publish} suspends, Java's future completes once there is room. */
    SUSPEND,

    /** The publish fails at once with {@link QueueFullException}; the caller still owns the message. */
    REJECT,

    /**
     * The new message is accepted and the oldest waiting message is dropped: counted in
     * {@link QueueStats#dropped()}, passed to {@link QueueOptions#onDrop()}, logged (rate-limited).
     */
    DROP_OLDEST,

    /**
     * The new message is dropped instead (it still gets an id): counted in {@link QueueStats#dropped()},
     * passed to {@link QueueOptions#onDrop()}, logged (rate-limited).
     */
    DROP_NEWEST,
}
