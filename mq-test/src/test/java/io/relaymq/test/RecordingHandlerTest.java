package io.relaymq.test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.relaymq.MessageBus;
import io.relaymq.Messages;
import io.relaymq.QueueOptions;
import io.relaymq.RetryPolicy;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

class RecordingHandlerTest {

    @Test
    void recordsWhatAQueueDeliveredAndWaitsForIt() throws Exception {
        RecordingHandler<String> mail = new RecordingHandler<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("mail", 1, mail);
            bus.start();
            for (String to : List.of("a", "b", "c")) bus.publish("mail", to);
            assertEquals(3, mail.awaitCount(3, Duration.ofMinutes(1)).size());
        }
        assertEquals(List.of("a", "b", "c"), mail.payloads());
        assertEquals(List.of(1L, 2L, 3L), mail.messages().stream().map(m -> m.id()).toList());
    }

    @Test
    void thenRunsAfterRecordingSoFailuresAreRetriedAndRecordedPerAttempt() throws Exception {
        RecordingHandler<String> flaky = new RecordingHandler<>(m -> {
            if (m.attempt() < 2) throw new IOException("down");
        });
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("flaky", QueueOptions.builder()
                .retry(RetryPolicy.builder().maxAttempts(2).initialBackoff(Duration.ofMillis(1)).build())
                .build(), flaky);
            bus.start();
            bus.publish("flaky", "x");
            bus.idle().join();
            assertEquals(1, bus.stats("flaky").succeeded());
        }
        assertEquals(List.of(1, 2), flaky.messages().stream().map(m -> m.attempt()).toList());
    }

    @Test
    void aTimeoutSaysWhatArrived() throws Exception {
        RecordingHandler<String> handler = new RecordingHandler<>();
        handler.handle(Messages.of("q", "only"));
        TimeoutException e = assertThrows(TimeoutException.class, () -> handler.awaitCount(2, Duration.ZERO));
        assertTrue(e.getMessage().contains("received 1") && e.getMessage().contains("q#1"), e.getMessage());
    }
}
