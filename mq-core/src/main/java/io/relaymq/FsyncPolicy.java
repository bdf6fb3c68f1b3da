package io.relaymq;

import java.time.Duration;
import java.util.Objects;

/**
 * When a durable queue's journal forces what it wrote to the disk ({@code FileChannel.force}), and so
 * what a crash can take. Set it on the bus: {@code MessageBus.builder().fsyncPolicy(FsyncPolicy.interval(
 * Duration.ofMillis(100)))}, Kotlin {@code MQ(journalDirectory = dir, fsyncPolicy = FsyncPolicy.none())}.
 *
 * <table>
 *   <caption>What each policy loses</caption>
 *   <tr><th>policy</th><th>publish completes when</th><th>process crash ({@code kill -9}, OOM)</th><th>power loss, kernel panic</th></tr>
 *   <tr><td>{@link #perGroupCommit()} (default)</td><td>its record is written and fsynced</td><td>nothing acknowledged</td><td>nothing acknowledged</td></tr>
 *   <tr><td>{@link #interval(Duration)}</td><td>its record is written to the operating system</td><td>nothing acknowledged</td><td>up to the last interval of acknowledged publishes</td></tr>
 *   <tr><td>{@link #none()}</td><td>its record is written to the operating system</td><td>nothing acknowledged</td><td>everything since the bus started (at most since the last sealed segment)</td></tr>
 * </table>
 *
 * <p>Under every policy completions (a handler succeeded, a message was dead-lettered, dropped or
 * withdrawn) are written lazily, so after a crash a message whose handler had finished may be delivered
 * again: durable queues deliver at least once.
 *
 * <p>(Written in Java so that Java callers see plain static factories, not a Kotlin companion.)
 */
public final class FsyncPolicy {
    private static final FsyncPolicy PER_GROUP_COMMIT = new FsyncPolicy(Kind.PER_GROUP_COMMIT, Duration.ZERO);
    private static final FsyncPolicy NONE = new FsyncPolicy(Kind.NONE, Duration.ZERO);

    enum Kind { PER_GROUP_COMMIT, INTERVAL, NONE }

    private final Kind kind;
    private final Duration interval;

    private FsyncPolicy(Kind kind, Duration interval) {
        this.kind = kind;
        this.interval = interval;
    }

    /**
     * The default and the safe choice: the journal writer fsyncs each batch of records (everything that
     * arrived while the previous fsync ran) before any publish in it completes. Concurrent publishers
     * share fsyncs; a lone publisher pays about one fsync per publish.
     */
    public static FsyncPolicy perGroupCommit() {
        return PER_GROUP_COMMIT;
    }

    /**
     * Publishes complete once their record is written to the operating system; the journal is fsynced
     * at most every {@code interval} while it has unsynced records, and at close. A process crash loses
     * nothing that was acknowledged (the operating system still writes it out); a power loss or kernel
     * crash can lose the publishes of the last interval.
     *
     * @throws IllegalArgumentException if {@code interval} is not positive.
     * @throws NullPointerException if {@code interval} is null.
     */
    public static FsyncPolicy interval(Duration interval) {
        Objects.requireNonNull(interval, "interval");
        if (interval.isZero() || interval.isNegative()) {
            throw new IllegalArgumentException(
                    "FsyncPolicy.interval: the interval must be positive (how often the journal is forced to disk), was " + interval);
        }
        return new FsyncPolicy(Kind.INTERVAL, interval);
    }

    /**
     * Publishes complete once their record is written to the operating system, and the journal is
     * fsynced only when it moves on to a new segment file and at close. Survives a process crash; a
     * power loss or kernel crash can lose everything written since the bus started (at least since the
     * last segment file was sealed).
     */
    public static FsyncPolicy none() {
        return NONE;
    }

    /** {@code true} for {@link #perGroupCommit()}: publishes wait for their fsync. */
    public boolean syncsEachCommit() {
        return kind == Kind.PER_GROUP_COMMIT;
    }

    /** The interval of {@link #interval(Duration)}; empty for the other policies. */
    public java.util.Optional<Duration> syncInterval() {
        return kind == Kind.INTERVAL ? java.util.Optional.of(interval) : java.util.Optional.empty();
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof FsyncPolicy && ((FsyncPolicy) other).kind == kind && ((FsyncPolicy) other).interval.equals(interval);
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + interval.hashCode();
    }

    @Override
    public String toString() {
        switch (kind) {
            case PER_GROUP_COMMIT: return "FsyncPolicy.perGroupCommit()";
            case INTERVAL: return "FsyncPolicy.interval(" + interval + ")";
            default: return "FsyncPolicy.none()";
        }
    }
}
