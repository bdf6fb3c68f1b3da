package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Messages}: unit-testing a Java handler without a bus. */
class MessagesTest {

    @Test
    void aHandlerRunsOnAMadeMessage() throws Exception {
        List<String> sent = new ArrayList<>();
        MessageHandler<String> handler = m -> sent.add(m.queue() + "#" + m.id() + ":" + m.data());

        handler.handle(Messages.of("mail", "a@example.com"));

        assertEquals(List.of("mail#1:a@example.com"), sent);
    }

    @Test
    void everyFieldCanBeSet() {
        Instant at = Instant.parse("2026-01-02T03:04:05.678Z");
        Message<Integer> m = Messages.of("orders", 42, 7L, 3, "user-1", at);
        assertEquals("orders", m.queue());
        assertEquals(42, m.data());
        assertEquals(7L, m.id());
        assertEquals(3, m.attempt());
        assertEquals("user-1", m.key());
        assertEquals(at, m.publishedAt());
    }

    @Test
    void defaultsAreThoseOfAFirstDelivery() {
        Instant before = Instant.now().minusMillis(1);
        Message<String> m = Messages.of("q", "x");
        assertEquals(1L, m.id());
        assertEquals(1, m.attempt());
        assertNull(m.key());
        assertTrue(!m.publishedAt().isBefore(before), m.publishedAt().toString());
        assertEquals(Messages.of("q", "other"), m, "messages are equal by queue and id");
    }

    @Test
    void badFieldsAreRefusedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Messages.of(" ", "x")).getMessage().contains("queue"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Messages.of("q", "x", 0L)).getMessage().contains("id"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Messages.of("q", "x", 1L, 0)).getMessage().contains("attempt"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Messages.of("q", "x", 1L, 1, "")).getMessage().contains("key"));
        assertThrows(NullPointerException.class, () -> Messages.of("q", null));
    }
}
