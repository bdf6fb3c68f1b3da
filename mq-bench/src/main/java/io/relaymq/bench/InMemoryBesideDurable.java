package io.relaymq.bench;

import io.relaymq.Message;
import io.relaymq.MessageBus;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Is an in-memory queue slowed down by a durable queue on the same bus? The in-memory workload is the
 * suite's "Java publish" one: 4 producer threads publish (fire and forget) batches of 100,000 messages
 * to a queue with 4 consumers that count them; its score is messages handled per second. Variants:
 *
 * <ul>
 *   <li>{@code alone}: a bus with only the in-memory queue (no journal directory);
 *   <li>{@code idle-durable}: the same bus also has a journal and a durable queue nobody publishes to;
 *   <li>{@code same-bus}: the same bus's durable queue is under load from {@value #DURABLE_PUBLISHERS}
 *       threads publishing and joining;
 *   <li>{@code separate-bus}: that same durable load runs on another bus in the same JVM.
 * </ul>
 *
 * {@code same-bus} against {@code separate-bus} isolates what sharing the bus costs; against {@code alone}
 * it also includes the CPU the durable load itself takes on this 2-core machine.
 */
final class InMemoryBesideDurable {
    static final int DURABLE_PUBLISHERS = 64;
    static final int PRODUCERS = 4;
    static final int CONSUMERS = 4;
    static final int BATCH = 100_000;

    private InMemoryBesideDurable() { }

    static Map<String, String> run(String variant, Path journal, LoadMeasurement.Timing timing) throws Exception {
        MessageBus.Builder memBuilder = switch (variant) {
            case "alone", "separate-bus" -> MessageBus.builder().drainTimeout(Duration.ofSeconds(60));
            case "idle-durable", "same-bus" -> DurableBus.builder(journal);
            default -> throw new IllegalArgumentException("unknown variant " + variant);
        };
        boolean durableOnMemBus = variant.equals("idle-durable") || variant.equals("same-bus");
        Completion completion = new Completion();
        MessageBus memBus = memBuilder.build();
        memBus.registerQueue("mem", CONSUMERS, (Message<Integer> m) -> completion.onMessage());
        if (durableOnMemBus) DurableBus.register(memBus, m -> { });
        memBus.start();

        MessageBus durableBus = variant.equals("separate-bus") ? DurableBus.started(journal) : null;
        ThreadPublishers durableLoad = null;
        PublishMeter durableMeter = new PublishMeter();
        RelayBlockingTarget target = null;
        if (variant.equals("same-bus") || variant.equals("separate-bus")) {
            target = new RelayBlockingTarget(durableBus != null ? durableBus : memBus, journal, false);
            durableLoad = new ThreadPublishers(target, DURABLE_PUBLISHERS);
            durableLoad.start(durableMeter);
        }
        Producers producers = new Producers(PRODUCERS);
        try {
            runFor(timing.warmupSeconds() * 1000L, completion, producers, memBus, durableMeter);
            MachineLoad.Window window = MachineLoad.forDirectory(journal).window();
            long durableBefore = durableMeter.completed();
            long start = System.nanoTime();
            StringBuilder iterations = new StringBuilder();
            long total = 0;
            for (int i = 0; i < timing.iterations(); i++) {
                long t0 = System.nanoTime();
                long n = runFor(timing.iterationSeconds() * 1000L, completion, producers, memBus, durableMeter);
                double rate = n * 1e9 / (System.nanoTime() - t0);
                total += n;
                if (i > 0) iterations.append(';');
                iterations.append(LoadMeasurement.fmt(rate));
            }
            long elapsed = System.nanoTime() - start;
            Map<String, String> figures = new LinkedHashMap<>();
            figures.put("opsPerSec", LoadMeasurement.fmt(total * 1e9 / elapsed));
            figures.put("iterations", iterations.toString());
            if (durableLoad != null) {
                figures.put("durableOpsPerSec", LoadMeasurement.fmt((durableMeter.completed() - durableBefore) * 1e9 / elapsed));
            }
            figures.putAll(window.end());
            return figures;
        } finally {
            producers.close();
            if (durableLoad != null) durableLoad.stop();
            durableMeter.throwIfFailed();
            if (target != null) target.close(); // checks that the durable load did journal
            memBus.shutdown();
            if (durableBus != null) durableBus.shutdown();
        }
    }

    /** Runs whole batches for at least {@code millis}; returns the number of messages handled. */
    private static long runFor(long millis, Completion completion, Producers producers, MessageBus bus,
                               PublishMeter durableMeter) throws Exception {
        long end = System.nanoTime() + millis * 1_000_000;
        long n = 0;
        do {
            completion.arm(BATCH);
            producers.run(BATCH, () -> bus.publish("mem", Workload.PAYLOAD));
            completion.await();
            n += BATCH;
            durableMeter.throwIfFailed();
        } while (System.nanoTime() < end);
        return n;
    }
}
