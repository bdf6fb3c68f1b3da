package io.relaymq.redis;

import io.relaymq.MessageBus;

import java.time.Duration;

/** The Java door's builder, as README shows it (Kotlin code cannot reach MessageBus.builder()). */
final class JavaDoor {
    private JavaDoor() {
    }

    static MessageBus bus(String uri, String prefix, Duration publishTimeout, Duration drainTimeout) {
        return MessageBus.builder()
                .backend(RedisStreams.builder(uri).keyPrefix(prefix).publishTimeout(publishTimeout).build())
                .drainTimeout(drainTimeout)
                .build();
    }
}
