package io.relaymq.redis;

import io.relaymq.MessageBus;
import io.relaymq.MessageHandler;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Second pair of eyes on issue 12: the Java door's futures on Redis Streams. */
class RedisBreakJavaTest {
    private static TestRedis redis;
    private static final AtomicInteger prefixes = new AtomicInteger();

    @BeforeAll
    static void startRedis() {
        redis = new TestRedis(false);
    }

    @AfterAll
    static void stopRedis() {
        redis.close();
    }

    private static MessageBus bus(String prefix) {
        return MessageBus.builder().backend(RedisStreams.builder(redis.getUri()).keyPrefix(prefix).build()).build();
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(20, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * FINDING (hangs: every publish and the whole bus stop). Root cause: RedisPublisher.completions is
     * Dispatchers.Default (RedisPublisher.kt:42), the same 2..N threads that run the bus (Kotlin/async handlers,
     * feeds) and the backend's scope (RedisBackend.kt:51, the publish sweeper RedisPublisher.kt:44). Once as many
     * stages block as Default has threads, no publish future ever completes again, not even failed by the sweeper
     * ("every publish's future completes within the timeout ... whatever Redis does", RedisPublisher.kt:21).
     */
    @Test
    void blockingStagesDoNotStopEveryLaterPublish() throws Exception {
        MessageBus bus = bus("jbrk" + prefixes.incrementAndGet());
        bus.registerPublisher("q");
        bus.start();
        int threads = Math.max(2, Runtime.getRuntime().availableProcessors()); // Dispatchers.Default's parallelism
        Thread caller = Thread.currentThread();
        CountDownLatch gate = new CountDownLatch(1);
        AtomicInteger blocked = new AtomicInteger();
        for (int tries = 0; tries < 500 && blocked.get() < threads; tries++) {
            int before = blocked.get();
            CompletableFuture<Long> f = bus.publish("q", "blocker");
            CountDownLatch ran = new CountDownLatch(1);
            f.whenComplete((id, e) -> {
                if (Thread.currentThread() != caller) {
                    blocked.incrementAndGet();
                    ran.countDown();
                    await(gate); // e.g. a JDBC call, or join() on another future
                } else {
                    ran.countDown();
                }
            });
            ran.await(20, TimeUnit.SECONDS);
            assertTrue(blocked.get() >= before);
        }
        assertEquals(threads, blocked.get(), "precondition: one blocked stage per Default thread");
        try {
            CompletableFuture<Long> later = bus.publish("q", "later");
            boolean completed;
            try {
                later.get(15, TimeUnit.SECONDS); // publishTimeout is 10 s: it must complete (stored or failed) by then
                completed = true;
            } catch (java.util.concurrent.TimeoutException e) {
                completed = false;
            } catch (java.util.concurrent.ExecutionException e) {
                completed = true;
            }
            assertTrue(completed, "with " + threads + " blocking stages, a later publish's future never completed");
        } finally {
            gate.countDown();
            bus.shutdown();
        }
    }

    /**
     * HELD (expected to pass): README "publishes made before the close still get their answer": futures of
     * publishes made just before close() all complete, and every one that succeeded is in Redis.
     */
    @Test
    void publishesInFlightAtCloseGetTheirAnswerAndAreStored() throws Exception {
        String prefix = "jbrk" + prefixes.incrementAndGet();
        MessageBus web = bus(prefix);
        web.registerPublisher("q");
        web.start();
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < 3000; i++) futures.add(web.publish("q", "m" + i));
        web.shutdown();
        int ok = 0;
        for (CompletableFuture<Long> f : futures) {
            try {
                f.get(15, TimeUnit.SECONDS);
                ok++;
            } catch (java.util.concurrent.ExecutionException e) {
                // failed: must then not be stored (or the error says it may be)
            }
        }
        Set<String> handled = ConcurrentHashMap.newKeySet();
        MessageBus worker = bus(prefix);
        MessageHandler<String> handler = m -> handled.add(m.data());
        worker.registerQueue("q", 4, handler);
        worker.start();
        worker.idle().get(30, TimeUnit.SECONDS);
        worker.shutdown();
        assertEquals(ok, handled.size());
        assertEquals(3000, ok);
    }
}
