package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Java facade, used the way a Java caller would. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MessageBusTest {

    @Test
    void quickStartFlow() throws Exception {
        List<String> seen = new ArrayList<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("words", 1, (Message<String> m) -> {
                synchronized (seen) {
                    seen.add(m.queue() + "#" + m.id() + "=" + m.data());
                }
            });
            bus.start();
            assertEquals(1L, bus.publish("words", "hello").get());
            assertEquals(2L, bus.publish("words", "world").get());
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(List.of("words#1=hello", "words#2=world"), seen);
            QueueStats stats = bus.stats("words");
            assertEquals(2, stats.published());
            assertEquals(2, stats.succeeded());
            assertEquals(0, stats.pending());
        }
    }

    @Test
    void badInputIsRefusedWithClearErrors() {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("q", 1, (Message<String> m) -> { });

            // Nulls: Kotlin's own parameter check, naming the method and the parameter.
            assertNullRefused("publish", "data", () -> bus.publish("q", null));

            UnknownQueueException unknown = assertThrows(UnknownQueueException.class, () -> bus.publish("nope", "x"));
            assertEquals("nope", unknown.queueName());
            assertTrue(unknown.getMessage().contains("'nope'"));

            assertNullRefused("publish", "queue", () -> bus.publish(null, "x"));
            assertNullRefused("registerQueue", "handler", () -> bus.registerQueue("h", 1, (MessageHandler<String>) null));
            assertNullRefused("registerQueue", "name", () -> bus.registerQueue(null, 1, (Message<String> m) -> { }));
            assertNullRefused("registerAsyncQueue", "options", () -> bus.registerAsyncQueue("h", (QueueOptions) null, (Message<String> m) -> null));
            assertNullRefused("request", "timeout", () -> bus.request("q", "x", (Duration) null));
            assertNullRefused("drainTimeout", "timeout", () -> MessageBus.builder().drainTimeout(null));
            assertNullRefused("overflow", "policy", () -> QueueOptions.builder().overflow(null));
            IllegalArgumentException dup =
                assertThrows(IllegalArgumentException.class, () -> bus.registerQueue("q", 1, (Message<String> m) -> { }));
            assertTrue(dup.getMessage().contains("'q'"));
            assertThrows(IllegalArgumentException.class, () -> bus.registerQueue("zero", 0, (Message<String> m) -> { }));
            assertThrows(IllegalArgumentException.class, () -> bus.registerQueue("", 1, (Message<String> m) -> { }));
            assertThrows(IllegalArgumentException.class, () -> MessageBus.builder().drainTimeout(Duration.ZERO));
            assertEquals(0, bus.stats("q").published());
        }
    }

    /** A null argument throws NullPointerException whose message names the method and the parameter. */
    static void assertNullRefused(String method, String parameter, org.junit.jupiter.api.function.Executable call) {
        NullPointerException e = assertThrows(NullPointerException.class, call);
        String message = String.valueOf(e.getMessage());
        assertTrue(message.contains("method ") && message.contains("." + method + ",") && message.endsWith("parameter " + parameter),
            "expected the NPE to name " + method + "(" + parameter + "), was: " + message);
    }

    @Test
    void publishAfterCloseFailsTheFuture() throws Exception {
        MessageBus bus = MessageBus.builder().build();
        bus.registerQueue("q", 1, (Message<String> m) -> { });
        bus.start();
        bus.close();
        CompletableFuture<Long> refused = bus.publish("q", "late");
        ExecutionException e = assertThrows(ExecutionException.class, refused::get);
        BusClosedException closed = assertInstanceOf(BusClosedException.class, e.getCause());
        assertEquals("q", closed.queueName());
        assertEquals(0, bus.stats("q").published());
    }

    @Test
    void closeTwiceReturnsTheSameSummary() {
        MessageBus bus = MessageBus.builder().build();
        bus.registerQueue("q", 2, (Message<Integer> m) -> { });
        bus.start();
        for (int i = 0; i < 100; i++) bus.publish("q", i);
        CloseSummary first = bus.shutdown();
        bus.close();
        assertSame(first, bus.shutdown());
        assertEquals(0, first.abandoned());
        assertEquals(100, bus.stats("q").succeeded());
    }

    @Test
    void blockingHandlersRunInParallelUpToConcurrencyButNeverMore() throws Exception {
        int concurrency = 4;
        CountDownLatch allStarted = new CountDownLatch(concurrency);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger active = new AtomicInteger();
        AtomicInteger maxActive = new AtomicInteger();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("jdbc", concurrency, (Message<Integer> m) -> {
                maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
                allStarted.countDown();
                release.await(); // blocking, like a JDBC call
                active.decrementAndGet();
            });
            bus.start();
            for (int i = 0; i < 20; i++) bus.publish("jdbc", i);
            assertTrue(allStarted.await(30, TimeUnit.SECONDS), "4 handlers must be able to block at once");
            assertEquals(concurrency, bus.stats("jdbc").inFlight());
            release.countDown();
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(concurrency, maxActive.get());
            assertEquals(20, bus.stats("jdbc").succeeded());
        }
    }

    @Test
    void userSuppliedExecutorRunsTheHandlers() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2, r -> new Thread(r, "user-pool"));
        Set<String> threads = ConcurrentHashMap.newKeySet();
        try (MessageBus bus = MessageBus.builder().executor(pool).build()) {
            bus.registerQueue("q", 2, (Message<String> m) -> threads.add(Thread.currentThread().getName()));
            bus.start();
            for (int i = 0; i < 50; i++) bus.publish("q", "x" + i);
            bus.idle().get(30, TimeUnit.SECONDS);
        } finally {
            pool.shutdown();
        }
        assertFalse(threads.isEmpty());
        assertTrue(threads.stream().allMatch(name -> name.startsWith("user-pool")), threads.toString());
    }

    @Test
    void throwingHandlerIsCountedAndTheQueueCarriesOn() throws Exception {
        AtomicInteger ok = new AtomicInteger();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("flaky", 2, (Message<Integer> m) -> {
                if (m.data() % 2 == 1) throw new java.io.IOException("checked failure " + m.id());
                ok.incrementAndGet();
            });
            bus.start();
            for (int i = 0; i < 100; i++) bus.publish("flaky", i);
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(50, ok.get());
            assertEquals(50, bus.stats("flaky").failed());
        }
    }

    @Test
    void asyncHandlersCompleteThroughTheirStage() throws Exception {
        ExecutorService io = Executors.newFixedThreadPool(2);
        AtomicInteger done = new AtomicInteger();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerAsyncQueue("async", 3, (Message<Integer> m) -> CompletableFuture.runAsync(() -> {
                if (m.data() == 7) throw new IllegalStateException("seven");
                done.incrementAndGet();
            }, io));
            bus.registerAsyncQueue("broken", 1, (Message<Integer> m) -> null);
            bus.start();
            for (int i = 0; i < 10; i++) bus.publish("async", i);
            bus.publish("broken", 1);
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(9, done.get());
            assertEquals(1, bus.stats("async").failed());
            assertEquals(1, bus.stats("broken").failed());
        } finally {
            io.shutdown();
        }
    }

    @Test
    void aBlockedHandlerIsInterruptedAtTheDrainDeadlineAndReported() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        AtomicReference<Throwable> seenByHandler = new AtomicReference<>();
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofMillis(200)).build();
        bus.registerQueue("stuck", 1, (Message<String> m) -> {
            started.countDown();
            try {
                new CountDownLatch(1).await(); // never returns on its own
            } catch (InterruptedException e) {
                seenByHandler.set(e);
                throw e;
            }
        });
        bus.start();
        bus.publish("stuck", "a");
        bus.publish("stuck", "b");
        assertTrue(started.await(30, TimeUnit.SECONDS));
        CloseSummary summary = bus.shutdown();
        assertTrue(summary.timedOut());
        assertEquals(2, summary.abandoned());
        assertEquals(List.of(1L, 2L), summary.queues().get("stuck").abandonedIds());
        // Close does not wait for interrupted handlers to unwind (no grace): the interrupt is delivered.
        for (int i = 0; i < 1_000 && seenByHandler.get() == null; i++) Thread.sleep(10);
        assertInstanceOf(InterruptedException.class, seenByHandler.get());
        assertEquals(0, bus.stats("stuck").succeeded());
    }

    @Test
    void closeFromInsideAHandlerIsRefused() throws Exception {
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("q", 1, (Message<String> m) -> {
                try {
                    MessageBusTest.closeFrom(m, outcome);
                } catch (Throwable t) {
                    outcome.complete(t);
                }
            });
            BUS.set(bus);
            bus.start();
            bus.publish("q", "x");
            assertInstanceOf(IllegalStateException.class, outcome.get(30, TimeUnit.SECONDS));
        } finally {
            BUS.set(null);
        }
    }

    private static final AtomicReference<MessageBus> BUS = new AtomicReference<>();

    private static void closeFrom(Message<String> m, CompletableFuture<Throwable> outcome) {
        BUS.get().close();
        outcome.complete(null);
    }

    // The Java view of the whole public surface (no Kotlin types in signatures, ...) is PublicSurfaceTest.
}
