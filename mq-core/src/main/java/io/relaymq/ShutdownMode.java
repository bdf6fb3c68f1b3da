package io.relaymq;

/**
 * What close does with pending messages when the bus has a snapshot directory. Without one, close
 * always drains (see {@link MessageBus#shutdown()} and {@code MQ.shutdown()}).
 *
 * <p>(Written in Java so that Java callers see a plain enum: a Kotlin enum adds a static
 * {@code getEntries()} returning a Kotlin type.)
 */
public enum ShutdownMode {
    /**
     * The default with a snapshot directory: stop handing messages to consumers at once, let handlers
     * already running finish (up to the drain timeout; those still running then are cancelled and their
     * messages saved too), and write everything not processed to the snapshot. Fast, whatever the
     * backlog.
     */
    SNAPSHOT_IMMEDIATELY,

    /**
     * Keep delivering for up to the drain timeout, as a bus without snapshots does, and write to the
     * snapshot only what is left at the deadline.
     */
    DRAIN_THEN_SNAPSHOT,
}
