package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Flow control, results and routing through the Java facade. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MessageBusFlowTest {

    @Test
    void requestReturnsTheFunctionsValueOrItsException() throws Exception {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerReplyingQueue("parse", 2, (Message<String> m) -> Integer.parseInt(m.data()));
            bus.start();
            assertEquals(42, bus.<Integer>request("parse", "42").get());
            ExecutionException e = assertThrows(ExecutionException.class, () -> bus.<Integer>request("parse", "x").get());
            assertInstanceOf(NumberFormatException.class, e.getCause());
        }
    }

    @Test
    void rejectFailsTheFutureAndSuspendCompletesItWhenThereIsRoom() throws Exception {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("reject", QueueOptions.builder().capacity(1).overflow(OverflowPolicy.REJECT).build(), (Message<String> m) -> { });
            bus.registerQueue("suspend", QueueOptions.builder().capacity(1).build(), (Message<String> m) -> { });
            bus.publish("reject", "a").get();
            ExecutionException full = assertThrows(ExecutionException.class, () -> bus.publish("reject", "b").get());
            assertInstanceOf(QueueFullException.class, full.getCause());
            assertEquals(1, bus.stats("reject").rejected());

            bus.publish("suspend", "a").get();
            CompletableFuture<Long> waiting = bus.publish("suspend", "b");
            Thread.yield();
            assertFalse(waiting.isDone(), "no room until a consumer takes a message");
            bus.start();
            assertEquals(2L, waiting.get(30, TimeUnit.SECONDS));
        }
    }

    @Test
    void cancellingOrTimingOutARequestBeforeDeliveryWithdrawsIt() throws Exception {
        AtomicInteger handled = new AtomicInteger();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerReplyingQueue("q", 1, (Message<String> m) -> handled.incrementAndGet());
            bus.start();
            bus.pause("q");
            CompletableFuture<Integer> cancelled = bus.request("q", "a");
            CompletableFuture<Integer> timedOut = bus.request("q", "b", Duration.ofMillis(50));
            cancelled.cancel(true);
            ExecutionException e = assertThrows(ExecutionException.class, () -> timedOut.get(30, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, e.getCause());
            bus.resume("q");
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(0, handled.get());
            assertEquals(2, bus.stats("q").withdrawn());
        }
    }

    @Test
    void retriesDeadLettersKeysDelaysAndFanOut() throws Exception {
        List<DeadLetter> dead = new CopyOnWriteArrayList<>();
        List<String> ordered = new CopyOnWriteArrayList<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            RetryPolicy retry = RetryPolicy.builder().maxAttempts(3).initialBackoff(Duration.ofMillis(10)).build();
            bus.registerQueue("flaky", QueueOptions.builder().concurrency(2).retry(retry)
                .deadLetterHandler(dead::add).build(), (Message<String> m) -> {
                    throw new IllegalStateException("always fails, attempt " + m.attempt());
                });
            bus.registerQueue("keyed", QueueOptions.builder().concurrency(4).build(), (Message<Integer> m) -> {
                Thread.sleep(m.data() % 3);
                ordered.add(m.key() + ":" + m.data());
            });
            bus.registerQueue("a", 1, (Message<String> m) -> { });
            bus.registerQueue("b", 1, (Message<String> m) -> { });
            bus.bindFanOut("both", "a", "b");
            bus.start();

            bus.publish("flaky", "x");
            for (int i = 0; i < 20; i++) bus.publish("keyed", i, PublishOptions.builder().key("k").build());
            long delayed = bus.publish("keyed", 99, PublishOptions.builder().key("late").delay(Duration.ofMillis(200)).build()).get();
            FanOutResult fan = bus.fanOut("both", "hello").get();
            assertEquals(List.of("a", "b"), List.copyOf(fan.ids().keySet()));

            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(1, dead.size());
            assertEquals(3, dead.get(0).attempts());
            assertEquals(2, bus.stats("flaky").retried());
            List<String> keyK = ordered.stream().filter(s -> s.startsWith("k:")).toList();
            for (int i = 0; i < 20; i++) assertEquals("k:" + i, keyK.get(i));
            assertTrue(ordered.contains("late:99"));
            assertTrue(delayed > 0);
        }
    }

    @Test
    void resizeAndStats() throws Exception {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("q", 1, (Message<Integer> m) -> Thread.sleep(1));
            bus.start();
            for (int i = 0; i < 200; i++) bus.publish("q", i);
            bus.setConcurrency("q", 6);
            assertEquals(6, bus.stats("q").concurrency());
            bus.setConcurrency("q", 2);
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(200, bus.stats("q").succeeded());
            assertThrows(IllegalArgumentException.class, () -> bus.setConcurrency("q", 0));
        }
    }
}
