package io.relaymq.bench;

import io.relaymq.Message;
import io.relaymq.MessageBus;
import java.lang.management.ManagementFactory;
import java.lang.ref.Reference;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Heap retained per pending message, beyond the payload: live heap after a full GC with one million
 * messages waiting, minus live heap before, divided by a million. Every structure holds the same shared
 * payload object, so payload bytes are zero by construction.
 */
final class PendingMemory {
    static final int PENDING = 1_000_000;

    private PendingMemory() { }

    /** Bytes per pending message for each structure, in a fixed order. */
    static Map<String, Double> measure() throws Exception {
        Map<String, Double> bytes = new LinkedHashMap<>();
        bytes.put("channel", perMessage(() -> filledHolder(0)));
        bytes.put("linkedBlockingQueue", perMessage(() -> filledHolder(1)));
        bytes.put("relaymq (not started)", notStarted());
        bytes.put("relaymq (started, consumer busy)", behindBusyConsumer());
        return bytes;
    }

    private interface Fill {
        Object fill() throws Exception;
    }

    private static Object filledHolder(int kind) {
        if (kind == 0) return ChannelFillKt.filledChannel(PENDING);
        LinkedBlockingQueue<Integer> queue = new LinkedBlockingQueue<>();
        for (int i = 0; i < PENDING; i++) queue.add(Workload.PAYLOAD);
        return queue;
    }

    private static double perMessage(Fill fill) throws Exception {
        long before = liveHeap();
        Object holder = fill.fill();
        long after = liveHeap();
        Reference.reachabilityFence(holder);
        return (after - before) / (double) PENDING;
    }

    private static double notStarted() throws Exception {
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(30)).build();
        bus.registerQueue("pending", 1, (Message<Integer> m) -> { });
        double result = perMessage(() -> {
            for (int i = 0; i < PENDING; i++) bus.publish("pending", Workload.PAYLOAD);
            return bus;
        });
        bus.close();
        return result;
    }

    private static double behindBusyConsumer() throws Exception {
        CountDownLatch busy = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(30)).build();
        bus.registerQueue("pending", 1, (Message<Integer> m) -> {
            busy.countDown();
            release.await();
        });
        bus.start();
        bus.publish("pending", Workload.PAYLOAD);
        busy.await(30, TimeUnit.SECONDS);
        double result = perMessage(() -> {
            for (int i = 0; i < PENDING; i++) bus.publish("pending", Workload.PAYLOAD);
            Thread.sleep(1_000); // let the relay move the backlog out of the inbox
            return bus;
        });
        release.countDown();
        bus.close();
        return result;
    }

    private static long liveHeap() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(50);
        }
        return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
    }
}
