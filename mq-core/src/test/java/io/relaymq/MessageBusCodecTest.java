package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The payload type and snapshot codec of Java queues, given in {@link QueueOptions}. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MessageBusCodecTest {

    /** A payload type without a built-in codec. */
    record Order(int id) { }

    static final MessageCodec<Order> ORDERS = MessageCodec.of(Order.class,
        order -> Integer.toString(order.id()).getBytes(StandardCharsets.UTF_8),
        bytes -> new Order(Integer.parseInt(new String(bytes, StandardCharsets.UTF_8))));

    @Test
    void aPayloadTypeRefusesOtherPayloadsAtPublish() throws Exception {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("orders", QueueOptions.builder().payloadType(Order.class).build(), (Message<Order> m) -> { });
            bus.registerAsyncQueue("numbers", QueueOptions.builder().payloadType(int.class).build(),
                (Message<Integer> m) -> CompletableFuture.completedFuture(null));
            IllegalArgumentException wrong = assertThrows(IllegalArgumentException.class, () -> bus.publish("orders", "not an order"));
            assertTrue(wrong.getMessage().contains("'orders'") && wrong.getMessage().contains(Order.class.getName()), wrong.getMessage());
            bus.start();
            assertEquals(1L, bus.publish("orders", new Order(1)).get(10, TimeUnit.SECONDS));
            assertEquals(1L, bus.publish("numbers", 7).get(10, TimeUnit.SECONDS)); // int.class counts as Integer
            assertThrows(IllegalArgumentException.class, () -> bus.publish("numbers", 7L));
            assertEquals(0, bus.stats("orders").rejected());
            bus.idle().get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void aCodecAloneGivesTheQueueItsPayloadType() {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerReplyingQueue("orders", QueueOptions.builder().codec(ORDERS).build(), (Message<Order> m) -> m.data().id());
            assertThrows(IllegalArgumentException.class, () -> bus.publish("orders", 42));
        }
    }

    @Test
    void aCodecThatDisagreesWithThePayloadTypeIsRefusedAtRegistration() {
        try (MessageBus bus = MessageBus.builder().build()) {
            QueueOptions options = QueueOptions.builder().payloadType(String.class).codec(ORDERS).build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bus.registerQueue("orders", options, (Message<String> m) -> { }));
            assertTrue(e.getMessage().contains("'orders'") && e.getMessage().contains("java.lang.String")
                && e.getMessage().contains(Order.class.getName()), e.getMessage());
            assertEquals(List.of(), bus.queueNames());
        }
    }

    @Test
    void aPersistentQueueOfAnotherTypeNeedsACodec(@TempDir Path dir) {
        try (MessageBus bus = MessageBus.builder().snapshotDirectory(dir).build()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> bus.registerQueue("orders", QueueOptions.builder().payloadType(Order.class).build(), (Message<Order> m) -> { }));
            assertTrue(e.getMessage().contains("MessageCodec"), e.getMessage());
            // String payloads get the built-in codec.
            bus.registerQueue("words", QueueOptions.builder().payloadType(String.class).build(), (Message<String> m) -> { });
        }
    }

    /** Replying queues on a snapshot bus can take a codec now (they had no overload with one). */
    @Test
    void aReplyingQueueSavesAndRestoresItsPayloadsWithItsCodec(@TempDir Path dir) throws Exception {
        QueueOptions options = QueueOptions.builder().concurrency(2).codec(ORDERS).build();
        MessageBus first = MessageBus.builder().snapshotDirectory(dir).build();
        first.registerReplyingQueue("orders", options, (Message<Order> m) -> m.data().id() * 10);
        for (int i = 1; i <= 3; i++) first.publish("orders", new Order(i)).get(10, TimeUnit.SECONDS);
        assertEquals(3, first.shutdown().saved()); // never started: saved at once

        List<Integer> seen = new CopyOnWriteArrayList<>();
        try (MessageBus second = MessageBus.builder().snapshotDirectory(dir).build()) {
            second.registerReplyingQueue("orders", options, (Message<Order> m) -> {
                seen.add(m.data().id());
                return m.data().id() * 10;
            });
            second.start();
            assertEquals(40, second.<Integer>request("orders", new Order(4)).get(10, TimeUnit.SECONDS));
            second.idle().get(10, TimeUnit.SECONDS);
            assertEquals(List.of(1, 2, 3, 4), seen.stream().sorted().toList());
        }
    }
}
