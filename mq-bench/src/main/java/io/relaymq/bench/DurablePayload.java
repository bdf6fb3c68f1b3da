package io.relaymq.bench;

import java.nio.charset.StandardCharsets;

/** The record every durability benchmark writes: a 100-character ASCII string (100 bytes in UTF-8). */
final class DurablePayload {
    /** What RelayMQ publishes (a {@code String} payload: the built-in codec writes its UTF-8 bytes). */
    static final String TEXT = "order:" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".repeat(2).substring(0, 94);

    static {
        if (TEXT.length() != 100) throw new AssertionError(TEXT.length());
    }

    private DurablePayload() { }

    /** What the baselines write: encoded per call, as RelayMQ's codec encodes per publish. */
    static byte[] bytes() {
        return TEXT.getBytes(StandardCharsets.UTF_8);
    }
}
