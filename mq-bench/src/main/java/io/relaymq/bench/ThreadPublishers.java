package io.relaymq.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * {@code count} platform threads, each appending to a {@link DurableTarget} in a loop and blocking
 * until its record is durable: {@code count} concurrent publishers, as a server with that many
 * request threads has.
 */
final class ThreadPublishers implements PublishLoad {
    private final DurableTarget target;
    private final int count;
    private final List<Thread> threads = new ArrayList<>();
    private volatile boolean running = true;

    ThreadPublishers(DurableTarget target, int count) {
        this.target = target;
        this.count = count;
    }

    @Override
    public void start(PublishMeter meter) {
        for (int i = 0; i < count; i++) {
            Thread t = new Thread(() -> {
                try {
                    while (running) {
                        long start = System.nanoTime();
                        target.append();
                        meter.record(start);
                    }
                } catch (Throwable e) {
                    meter.fail(e);
                }
            }, "publisher-" + i);
            t.setDaemon(true);
            threads.add(t);
        }
        for (Thread t : threads) t.start();
    }

    @Override
    public void stop() throws Exception {
        running = false;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        for (Thread t : threads) {
            t.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime())));
            if (t.isAlive()) throw new IllegalStateException(t.getName() + " still publishing 60 s after stop");
        }
    }
}
