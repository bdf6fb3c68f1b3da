package io.relaymq.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A Java target of the Redis suite ({@link RedisRunner}): consumers at some concurrency already
 * running on a Redis server; {@link #run} publishes a batch of jobs and returns when every one was
 * handled and acknowledged. Every job carries its publish time ({@code System.nanoTime()}, taken just
 * before the publish call); the handler records the latency to its start and does nothing else.
 *
 * <p>Producers: {@code producers} platform threads, each publishing its share with at most
 * {@code window} publishes in flight (a semaphore released when Redis answered): the pipelined
 * publishing a competent user writes with an asynchronous client.
 */
abstract class RedisJobsTarget implements AutoCloseable {
    /** Seconds to wait for a batch before failing the cell. */
    static final long BATCH_TIMEOUT_SECONDS = 540;

    /** The meter the handlers record into; set by {@link #run} before the first publish. */
    protected volatile JobMeter meter = new JobMeter(0);

    /** Publishes one job stamped {@code nanos}; the stage completes when Redis accepted it. */
    abstract CompletionStage<?> publish(long nanos);

    /**
     * Returns once every job of the batch is acknowledged, with System.nanoTime of the moment it was
     * known; called after every job was handled. By default, when the consumers told {@code meter}.
     */
    long awaitAcknowledged(JobMeter meter) throws Exception {
        return meter.awaitFinished(BATCH_TIMEOUT_SECONDS);
    }

    /** Runs one batch of {@code meter.jobs()} jobs; returns its figures. */
    final Map<String, String> run(JobMeter meter, int producers, int window) throws Exception {
        this.meter = meter;
        int jobs = meter.jobs();
        CountDownLatch go = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int p = 0; p < producers; p++) {
            int share = jobs / producers + (p < jobs % producers ? 1 : 0);
            Thread t = new Thread(() -> {
                Semaphore inFlight = new Semaphore(window);
                try {
                    go.await();
                    for (int i = 0; i < share && failure.get() == null; i++) {
                        inFlight.acquire();
                        publish(System.nanoTime()).whenComplete((r, e) -> {
                            if (e != null) failure.compareAndSet(null, e);
                            inFlight.release();
                        });
                    }
                    inFlight.acquire(window); // every publish of this producer answered
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }, "producer-" + p);
            t.start();
            threads.add(t);
        }
        long start = System.nanoTime();
        go.countDown();
        for (Thread t : threads) t.join();
        long published = System.nanoTime();
        if (failure.get() != null) throw new IllegalStateException("a publish failed", failure.get());
        long handled = meter.awaitHandled(BATCH_TIMEOUT_SECONDS);
        long acknowledged = awaitAcknowledged(meter);
        Map<String, String> figures = new LinkedHashMap<>();
        double seconds = (acknowledged - start) / 1e9;
        figures.put("jobsPerSec", LoadMeasurement.fmt(jobs / seconds));
        figures.put("seconds", LoadMeasurement.fmt(seconds));
        figures.put("publishedSec", LoadMeasurement.fmt((published - start) / 1e9));
        figures.put("handledSec", LoadMeasurement.fmt((handled - start) / 1e9));
        figures.putAll(meter.percentiles());
        return figures;
    }

    /**
     * Latency without a backlog: one producer publishes {@code meter.jobs()} jobs at {@code ratePerSec}
     * (each at its scheduled time, not waiting for the previous one); returns the publish-to-handler
     * percentiles, keys prefixed {@code paced}.
     */
    final Map<String, String> runPaced(JobMeter meter, int ratePerSec) throws Exception {
        this.meter = meter;
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long period = 1_000_000_000L / ratePerSec;
        long start = System.nanoTime();
        for (int i = 0; i < meter.jobs() && failure.get() == null; i++) {
            long due = start + i * period;
            for (long now = System.nanoTime(); now < due; now = System.nanoTime()) {
                java.util.concurrent.locks.LockSupport.parkNanos(due - now);
            }
            publish(System.nanoTime()).whenComplete((r, e) -> {
                if (e != null) failure.compareAndSet(null, e);
            });
        }
        if (failure.get() != null) throw new IllegalStateException("a publish failed", failure.get());
        meter.awaitHandled(BATCH_TIMEOUT_SECONDS);
        awaitAcknowledged(meter);
        Map<String, String> figures = new LinkedHashMap<>();
        meter.percentiles().forEach((k, v) -> figures.put("paced" + Character.toUpperCase(k.charAt(0)) + k.substring(1), v));
        return figures;
    }
}
