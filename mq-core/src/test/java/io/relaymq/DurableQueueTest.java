package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Durable queues through the Java door, as issue 11's API block and README show them. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DurableQueueTest {

    record Order(String sku, int quantity) { }

    static final MessageCodec<Order> ORDERS = MessageCodec.of(Order.class,
        o -> (o.sku() + ":" + o.quantity()).getBytes(StandardCharsets.UTF_8),
        bytes -> {
            String[] parts = new String(bytes, StandardCharsets.UTF_8).split(":");
            return new Order(parts[0], Integer.parseInt(parts[1]));
        });

    @Test
    void publishCompletesOnceDurableAndACloseLeavesTheRestInTheJournal(@TempDir Path dir) throws Exception {
        // The snapshot directory may be the journal directory: one lock, one directory.
        MessageBus bus = MessageBus.builder().journalDirectory(dir).snapshotDirectory(dir).build();
        bus.registerQueue("orders", QueueOptions.builder().concurrency(4).durable(true).build(), (Message<String> m) -> { });
        List<CompletableFuture<Long>> futures = new ArrayList<>();
        for (int i = 0; i < 500; i++) futures.add(bus.publish("orders", "payload-" + i));
        List<Long> ids = futures.stream().map(CompletableFuture::join).collect(Collectors.toList());
        assertEquals(500, Set.copyOf(ids).size());
        assertEquals(Optional.of(dir), bus.journalDirectory());
        assertEquals(FsyncPolicy.perGroupCommit(), bus.fsyncPolicy());
        // Never started, snapshot immediately: nothing is processed, every message stays in the journal.
        CloseSummary summary = bus.shutdown();
        assertEquals(500, summary.saved());
        assertEquals(0, summary.abandoned());
        assertFalse(Files.exists(dir.resolve("queue-orders.snapshot")), "a durable queue writes no snapshot");

        Map<Long, String> seen = new ConcurrentHashMap<>();
        try (MessageBus again = MessageBus.builder().journalDirectory(dir).build()) {
            again.registerQueue("orders", QueueOptions.builder().concurrency(4).durable(true).build(),
                (Message<String> m) -> seen.put(m.id(), m.data()));
            assertEquals(500, again.stats("orders").pending());
            again.start();
            again.idle().get(30, TimeUnit.SECONDS);
        }
        for (int i = 0; i < 500; i++) assertEquals("payload-" + i, seen.get(ids.get(i)));
    }

    @Test
    void otherPayloadTypesTakeTheQueuesCodec(@TempDir Path dir) throws Exception {
        try (MessageBus bus = MessageBus.builder().journalDirectory(dir).build()) {
            IllegalArgumentException noCodec = assertThrows(IllegalArgumentException.class, () ->
                bus.registerQueue("typed", QueueOptions.builder().durable(true).payloadType(Order.class).build(), (Message<Order> m) -> { }));
            assertTrue(noCodec.getMessage().contains("MessageCodec"), noCodec.getMessage());

            List<Order> seen = new ArrayList<>();
            bus.registerQueue("orders", QueueOptions.builder().durable(true).codec(ORDERS).build(),
                (Message<Order> m) -> { synchronized (seen) { seen.add(m.data()); } });
            bus.start();
            bus.publish("orders", new Order("book", 2)).get(10, TimeUnit.SECONDS);
            IllegalArgumentException wrongType = assertThrows(IllegalArgumentException.class, () -> bus.publish("orders", "not an order"));
            assertTrue(wrongType.getMessage().contains("Order"), wrongType.getMessage());
            bus.idle().get(10, TimeUnit.SECONDS);
            assertEquals(List.of(new Order("book", 2)), seen);
        }
    }

    @Test
    void durableWithoutAJournalDirectoryIsRefusedNamingTheQueue() {
        try (MessageBus bus = MessageBus.builder().build()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                bus.registerQueue("audit", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { }));
            assertTrue(e.getMessage().contains("'audit'"), e.getMessage());
            assertTrue(e.getMessage().contains("journalDirectory"), e.getMessage());
        }
    }

    @Test
    void aSecondBusCannotUseTheSameJournalDirectory(@TempDir Path dir) {
        try (MessageBus first = MessageBus.builder().journalDirectory(dir).build();
             MessageBus second = MessageBus.builder().journalDirectory(dir).build()) {
            first.registerQueue("a", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { });
            JournalException e = assertThrows(JournalException.class, () ->
                second.registerQueue("b", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { }));
            assertTrue(e.getMessage().contains("in use by another RelayMQ bus"), e.getMessage());
        }
    }

    @Test
    void journalFilesAreOwnerOnly(@TempDir Path dir) throws Exception {
        try (MessageBus bus = MessageBus.builder().journalDirectory(dir.resolve("journal")).build()) {
            bus.registerQueue("q", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { });
            bus.publish("q", "x").get(10, TimeUnit.SECONDS);
            Path queueDir = dir.resolve("journal").resolve("queue-q.journal");
            assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.OWNER_EXECUTE),
                Files.getPosixFilePermissions(queueDir));
            try (Stream<Path> files = Files.list(queueDir)) {
                for (Path segment : files.filter(p -> p.toString().endsWith(".seg")).collect(Collectors.toList())) {
                    assertEquals(Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
                        Files.getPosixFilePermissions(segment));
                }
            }
        }
    }

    @Test
    void everyFsyncPolicyKeepsAcknowledgedMessagesAcrossACleanClose(@TempDir Path dir) throws Exception {
        for (FsyncPolicy policy : List.of(FsyncPolicy.perGroupCommit(), FsyncPolicy.interval(Duration.ofMillis(5)), FsyncPolicy.none())) {
            Path journal = dir.resolve(policy.toString().replaceAll("[^a-zA-Z]", ""));
            MessageBus bus = MessageBus.builder().journalDirectory(journal).fsyncPolicy(policy)
                .snapshotDirectory(dir.resolve("snap-" + journal.getFileName())).build();
            bus.registerQueue("q", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { });
            for (int i = 0; i < 100; i++) bus.publish("q", "m" + i).get(10, TimeUnit.SECONDS);
            assertEquals(100, bus.shutdown().saved());
            try (MessageBus again = MessageBus.builder().journalDirectory(journal).build()) {
                again.registerQueue("q", QueueOptions.builder().durable(true).build(), (Message<String> m) -> { });
                assertEquals(100, again.stats("q").pending(), policy.toString());
            }
        }
        assertThrows(IllegalArgumentException.class, () -> FsyncPolicy.interval(Duration.ZERO));
    }
}
