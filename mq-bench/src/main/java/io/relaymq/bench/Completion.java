package io.relaymq.bench;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Counts handled messages and wakes the benchmark thread when a batch is done. Every workload, ours and
 * the peers, pays exactly this per message: one atomic increment and one volatile read.
 */
public final class Completion {
    private final AtomicLong done = new AtomicLong();
    private volatile long target = Long.MAX_VALUE;
    private volatile CountDownLatch latch = new CountDownLatch(0);

    /** Expects {@code n} more messages. Call before publishing them. */
    public void arm(int n) {
        latch = new CountDownLatch(1);
        target = done.get() + n;
    }

    /** Called once per handled message. */
    public void onMessage() {
        if (done.incrementAndGet() == target) latch.countDown();
    }

    /** Blocks until the armed batch is handled; fails loudly rather than hang a benchmark forever. */
    public void await() {
        try {
            if (!latch.await(2, TimeUnit.MINUTES)) {
                throw new IllegalStateException("batch not done after 2 minutes: " + done.get() + " of " + target);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
