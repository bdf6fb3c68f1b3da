package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Blocking handlers run on their queue's own threads, named after the queue, which end with the bus. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class QueueThreadsTest {

    /**
     * The name of the current thread as a thread dump shows it. (With assertions on, as in these tests,
     * kotlinx.coroutines' debug mode appends " @coroutine#id" while a coroutine runs.)
     */
    static String threadName() {
        return Thread.currentThread().getName().replaceFirst(" @.*", "");
    }

    /** The live threads of [queue]'s pool. */
    static List<Thread> threadsOf(String queue) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("relaymq-" + queue + "-")).toList();
    }

    @Test
    void blockingHandlersRunOnThreadsNamedAfterTheirQueue() throws Exception {
        Set<String> names = ConcurrentHashMap.newKeySet();
        CountDownLatch allIn = new CountDownLatch(3);
        CountDownLatch release = new CountDownLatch(1);
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("jdbc", 3, (Message<Integer> m) -> {
                names.add(threadName());
                allIn.countDown();
                release.await();
            });
            bus.registerReplyingQueue("lookup", 1, (Message<String> m) -> threadName());
            bus.registerAsyncQueue("async", 1, (Message<String> m) ->
                java.util.concurrent.CompletableFuture.completedFuture(threadName()));
            bus.start();
            for (int i = 0; i < 3; i++) bus.publish("jdbc", i);
            assertTrue(allIn.await(30, TimeUnit.SECONDS), "3 handlers must block at once");
            assertEquals(Set.of("relaymq-jdbc-1", "relaymq-jdbc-2", "relaymq-jdbc-3"), names); // lowest free numbers
            assertTrue(threadsOf("jdbc").stream().allMatch(Thread::isDaemon));
            release.countDown();
            assertTrue(Pattern.matches("relaymq-lookup-\\d+", bus.<String>request("lookup", "x").get(10, TimeUnit.SECONDS)));
            // Async handlers' synchronous part runs on the bus's shared threads, not on a queue pool.
            String asyncThread = bus.<String>request("async", "x").get(10, TimeUnit.SECONDS);
            assertFalse(asyncThread.startsWith("relaymq-"), asyncThread);
        }
    }

    @Test
    void concurrencyIsKeptAcrossResizes() throws Exception {
        AtomicInteger active = new AtomicInteger();
        AtomicInteger max = new AtomicInteger();
        AtomicReference<CountDownLatch> in = new AtomicReference<>(new CountDownLatch(4));
        AtomicReference<CountDownLatch> release = new AtomicReference<>(new CountDownLatch(1));
        Set<String> names = ConcurrentHashMap.newKeySet();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("q", 4, (Message<Integer> m) -> {
                names.add(threadName());
                max.accumulateAndGet(active.incrementAndGet(), Math::max);
                try {
                    in.get().countDown();
                    release.get().await();
                } finally {
                    active.decrementAndGet();
                }
            });
            bus.start();
            for (int i = 0; i < 4; i++) bus.publish("q", i);
            assertTrue(in.get().await(30, TimeUnit.SECONDS), "4 at once");

            // Shrink while 4 block: the surplus finish their message, then never more than 1 runs.
            bus.setConcurrency("q", 1);
            release.get().countDown();
            bus.idle().get(30, TimeUnit.SECONDS);
            max.set(0);
            for (int i = 0; i < 50; i++) bus.publish("q", i);
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(1, max.get(), "after the shrink to 1");

            // Grow to 3: three block at once (the pool gives each consumer a thread), never 4.
            max.set(0);
            in.set(new CountDownLatch(3));
            release.set(new CountDownLatch(1));
            bus.setConcurrency("q", 3);
            for (int i = 0; i < 9; i++) bus.publish("q", i);
            assertTrue(in.get().await(30, TimeUnit.SECONDS), "3 at once after growing to 3");
            release.get().countDown();
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(3, max.get(), "after growing to 3");
            assertTrue(names.stream().allMatch(n -> Pattern.matches("relaymq-q-\\d+", n)), names.toString());
        }
    }

    /**
     * After a shrink, the pool keeps a thread for each consumer still finishing: a pool cut to the new
     * concurrency at once would leave a consumer without a thread behind a handler that ignores
     * interrupts, and the close, which needs every cancelled consumer to run, would never end.
     */
    @Test
    void aShrinkNeverLeavesAConsumerWithoutAThread() throws Exception {
        CountDownLatch stuck = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofMillis(100)).build();
        bus.registerQueue("stubborn", 2, (Message<Integer> m) -> {
            if (m.data() == 0) { // the first consumer: returns once the second one is stuck
                assertTrue(stuck.await(30, TimeUnit.SECONDS));
                return;
            }
            stuck.countDown();
            while (true) {
                try {
                    release.await(); // ignores interrupts: only the release ends it
                    return;
                } catch (InterruptedException ignored) {
                    // keep the thread, like a handler stuck in uninterruptible I/O
                }
            }
        });
        bus.start();
        bus.publish("stubborn", 0); // to the consumer that waited first
        bus.publish("stubborn", 1); // to the other one, which the shrink retires (the newest)
        assertTrue(stuck.await(30, TimeUnit.SECONDS));
        awaitSucceeded(bus, "stubborn", 1);
        bus.setConcurrency("stubborn", 1); // the stuck consumer retires; the idle one stays
        CloseSummary summary = bus.shutdown(); // returns: the idle consumer has a thread to stop on
        assertEquals(1, summary.abandoned());
        release.countDown();
        for (Thread thread : threadsOf("stubborn")) thread.join(TimeUnit.SECONDS.toMillis(30));
        assertEquals(List.of(), threadsOf("stubborn"));
    }

    /** Returns once [queue] counts [n] successes (the idle future cannot: a handler is stuck). */
    private static void awaitSucceeded(MessageBus bus, String queue, long n) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (bus.stats(queue).succeeded() < n) {
            if (System.nanoTime() > deadline) throw new AssertionError(queue + " never counted " + n + " successes");
            Thread.onSpinWait();
        }
    }

    @Test
    void theThreadsEndWithTheBus() throws Exception {
        CountDownLatch handled = new CountDownLatch(10);
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(30)).build();
        bus.registerQueue("ending", 4, (Message<Integer> m) -> handled.countDown());
        bus.start();
        for (int i = 0; i < 10; i++) bus.publish("ending", i);
        assertTrue(handled.await(30, TimeUnit.SECONDS));
        assertFalse(threadsOf("ending").isEmpty(), "the pool has threads while the bus runs");
        bus.close();
        for (Thread thread : threadsOf("ending")) thread.join(TimeUnit.SECONDS.toMillis(30)); // a bounded join, no sleep
        assertEquals(List.of(), threadsOf("ending"));
    }
}
