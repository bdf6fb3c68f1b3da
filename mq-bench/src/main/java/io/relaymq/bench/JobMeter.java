package io.relaymq.bench;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Redis suite's meter for one batch of jobs, shared by every Java target: the publish-to-handler
 * latency of each job (exact percentiles: one slot per job), and the moment the last job finished.
 * Per job it costs an atomic increment and an array store.
 */
final class JobMeter {
    private final int jobs;
    private final long[] latencies;
    private final AtomicInteger recorded = new AtomicInteger();
    private final AtomicInteger finished = new AtomicInteger();
    private final CountDownLatch allFinished = new CountDownLatch(1);
    private final CountDownLatch allHandled = new CountDownLatch(1);
    private volatile long handledAt;
    private volatile long finishedAt;

    JobMeter(int jobs) {
        this.jobs = jobs;
        this.latencies = new long[jobs];
    }

    int jobs() {
        return jobs;
    }

    /** A handler started a job published at {@code publishedNanos} (System.nanoTime). */
    void handling(long publishedNanos) {
        long now = System.nanoTime();
        int i = recorded.getAndIncrement();
        if (i < jobs) latencies[i] = now - publishedNanos;
        if (i == jobs - 1) {
            handledAt = System.nanoTime();
            allHandled.countDown();
        }
    }

    /** {@code n} jobs are finished: handled and acknowledged (their acknowledgement answered). */
    void finished(int n) {
        if (finished.addAndGet(n) >= jobs && allFinished.getCount() > 0) {
            finishedAt = System.nanoTime();
            allFinished.countDown();
        }
    }

    /** Marks the batch finished at {@code nanos} (for a target that learns it by polling Redis). */
    void finishedAt(long nanos) {
        finishedAt = nanos;
        finished.set(jobs);
        allFinished.countDown();
    }

    /** Waits until every job was handled; returns System.nanoTime of the last handler start. */
    long awaitHandled(long timeoutSeconds) throws InterruptedException {
        if (!allHandled.await(timeoutSeconds, TimeUnit.SECONDS)) {
            throw new IllegalStateException("only " + recorded.get() + " of " + jobs + " jobs handled after " + timeoutSeconds + " s");
        }
        return handledAt;
    }

    /** Waits until every job finished; returns System.nanoTime of that moment. */
    long awaitFinished(long timeoutSeconds) throws InterruptedException {
        if (!allFinished.await(timeoutSeconds, TimeUnit.SECONDS)) {
            throw new IllegalStateException("only " + finished.get() + " of " + jobs + " jobs finished (" + recorded.get()
                + " handled) after " + timeoutSeconds + " s");
        }
        return finishedAt;
    }

    /** p50, p99, p99.9 and max of the publish-to-handler latencies, in microseconds. */
    Map<String, String> percentiles() {
        int n = Math.min(recorded.get(), jobs);
        long[] sorted = Arrays.copyOf(latencies, n);
        Arrays.sort(sorted);
        return percentiles(sorted);
    }

    static Map<String, String> percentiles(long[] sortedNanos) {
        Map<String, String> figures = new LinkedHashMap<>();
        figures.put("p50us", LoadMeasurement.fmt(at(sortedNanos, 50) / 1000.0));
        figures.put("p99us", LoadMeasurement.fmt(at(sortedNanos, 99) / 1000.0));
        figures.put("p999us", LoadMeasurement.fmt(at(sortedNanos, 99.9) / 1000.0));
        figures.put("maxus", LoadMeasurement.fmt(sortedNanos.length == 0 ? Double.NaN : sortedNanos[sortedNanos.length - 1] / 1000.0));
        return figures;
    }

    /** The nearest-rank percentile. */
    private static double at(long[] sorted, double percentile) {
        if (sorted.length == 0) return Double.NaN;
        int rank = (int) Math.ceil(percentile / 100.0 * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }
}
