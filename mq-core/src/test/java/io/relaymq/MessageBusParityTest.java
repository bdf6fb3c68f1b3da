package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** What Kotlin's {@code MQ} can do, Java's {@code MessageBus} can do too: the Java side of the parity table. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class MessageBusParityTest {

    @Test
    void gettersMirrorMQsProperties(@TempDir Path dir) {
        Clock clock = Clock.fixed(Instant.parse("2030-01-01T00:00:00Z"), ZoneOffset.UTC);
        try (MessageBus plain = MessageBus.builder().build();
             MessageBus persistent = MessageBus.builder().snapshotDirectory(dir).shutdownMode(ShutdownMode.DRAIN_THEN_SNAPSHOT)
                 .drainTimeout(Duration.ofSeconds(7)).clock(clock).build()) {
            assertEquals(Optional.empty(), plain.snapshotDirectory());
            assertEquals(ShutdownMode.SNAPSHOT_IMMEDIATELY, plain.shutdownMode());
            assertEquals(Duration.ofSeconds(30), plain.drainTimeout());
            assertEquals(Optional.of(dir), persistent.snapshotDirectory());
            assertEquals(ShutdownMode.DRAIN_THEN_SNAPSHOT, persistent.shutdownMode());
            assertEquals(Duration.ofSeconds(7), persistent.drainTimeout());
            assertSame(clock, persistent.clock());
        }
    }

    @Test
    void queueNamesAreInRegistrationOrder() {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("b", 1, (Message<String> m) -> { })
                .registerAsyncQueue("a", 1, (Message<String> m) -> null)
                .registerReplyingQueue("c", 1, (Message<String> m) -> m.data());
            assertEquals(List.of("b", "a", "c"), bus.queueNames());
            assertThrows(UnsupportedOperationException.class, () -> bus.queueNames().add("d"));
        }
    }

    @Test
    void requestTakesPublishOptions() throws Exception {
        List<String> order = new CopyOnWriteArrayList<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerReplyingQueue("q", 4, (Message<String> m) -> {
                order.add(m.data() + "@" + m.key());
                return m.data().toUpperCase();
            });
            bus.start();
            PublishOptions keyed = PublishOptions.builder().key("k").build();
            assertEquals("A", bus.<String>request("q", "a", keyed).get(10, TimeUnit.SECONDS));
            assertEquals("B", bus.<String>request("q", "b", Duration.ofSeconds(10), keyed).get(10, TimeUnit.SECONDS));
            assertEquals(List.of("a@k", "b@k"), order);

            // The timeout covers the delay: a request whose message is not due before it times out, withdrawn.
            PublishOptions later = PublishOptions.builder().delay(Duration.ofHours(1)).build();
            ExecutionException e = assertThrows(ExecutionException.class,
                () -> bus.<String>request("q", "c", Duration.ofMillis(50), later).get(10, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, e.getCause());
            assertEquals(1, bus.stats("q").withdrawn());
            assertEquals(0, bus.stats("q").delayed());
        }
    }

    @Test
    void fanOutBindsAListAndTakesPublishOptions() throws Exception {
        List<String> seen = new CopyOnWriteArrayList<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("audit", 1, (Message<String> m) -> seen.add("audit:" + m.data() + "@" + m.key()));
            bus.registerQueue("mail", 1, (Message<String> m) -> seen.add("mail:" + m.data() + "@" + m.key()));
            bus.bindFanOut("placed", List.of("audit", "mail")).bindFanOut("audited", "audit");
            bus.start();
            FanOutResult result = bus.fanOut("placed", "o1", PublishOptions.builder().key("acct").build()).get(10, TimeUnit.SECONDS);
            assertEquals(Map.of("audit", 1L, "mail", 1L), result.ids());
            bus.fanOut("audited", "o2").get(10, TimeUnit.SECONDS);
            bus.idle().get(10, TimeUnit.SECONDS);
            assertEquals(List.of("audit:o1@acct", "audit:o2@null", "mail:o1@acct"), seen.stream().sorted().toList());
        }
    }
}
