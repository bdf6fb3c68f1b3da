package io.relaymq.bench;

import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.Recorder;

/**
 * What a publish load records: completed publishes, each one's latency (publish call to durable
 * acknowledgement, in nanoseconds) and the first failure. Thread-safe; read by {@link LoadMeasurement}.
 */
public final class PublishMeter {
    private final LongAdder completed = new LongAdder();
    private final Recorder latency = new Recorder(3);
    private final AtomicReference<Throwable> failure = new AtomicReference<>();

    void record(long startNanos) {
        latency.recordValue(Math.max(1, System.nanoTime() - startNanos));
        completed.increment();
    }

    void fail(Throwable t) {
        failure.compareAndSet(null, t);
    }

    long completed() {
        return completed.sum();
    }

    /** The latencies recorded since the previous call. */
    Histogram takeLatencies() {
        return latency.getIntervalHistogram();
    }

    void throwIfFailed() {
        Throwable t = failure.get();
        if (t != null) throw new IllegalStateException("a publish failed: " + t, t);
    }
}
