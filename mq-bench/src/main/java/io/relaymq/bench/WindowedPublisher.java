package io.relaymq.bench;

import io.relaymq.MessageBus;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * One thread keeping up to {@code window} durable publishes in flight through their futures: it
 * publishes while it holds a permit, and each future's completion returns one. The latency of a
 * publish is from its {@code publish} call to its future's completion.
 */
final class WindowedPublisher implements PublishLoad {
    private final MessageBus bus;
    private final int window;
    private final Semaphore permits;
    private Thread thread;
    private volatile boolean running = true;

    WindowedPublisher(MessageBus bus, int window) {
        this.bus = bus;
        this.window = window;
        this.permits = new Semaphore(window);
    }

    @Override
    public void start(PublishMeter meter) {
        thread = new Thread(() -> {
            try {
                while (running) {
                    permits.acquire();
                    long start = System.nanoTime();
                    bus.publish(DurableBus.QUEUE, DurablePayload.TEXT).whenComplete((id, error) -> {
                        if (error != null) meter.fail(error); else meter.record(start);
                        permits.release();
                    });
                }
            } catch (Throwable e) {
                meter.fail(e);
            }
        }, "windowed-publisher");
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void stop() throws Exception {
        running = false;
        thread.join(TimeUnit.SECONDS.toMillis(60));
        if (!permits.tryAcquire(window, 60, TimeUnit.SECONDS)) {
            throw new IllegalStateException("publishes still outstanding 60 s after stop");
        }
    }
}
