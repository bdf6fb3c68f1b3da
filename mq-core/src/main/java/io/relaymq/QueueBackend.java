package io.relaymq;

/**
 * Where a bus keeps its queues' messages. The default, {@link #inMemory()}, keeps them in this JVM (in
 * memory, and in journal files for durable queues). {@code RedisStreams} (module {@code mq-redis})
 * keeps them in Redis, where every bus that registers a queue of the same name shares it.
 *
 * <pre>{@code
 * MessageBus bus = MessageBus.builder()
 *         .backend(RedisStreams.builder("redis://127.0.0.1:6379").build())
 *         .build();
 * }</pre>
 *
 * <p>A backend serves one bus: build one per bus. Applications pass a backend to the bus and never call
 * it; backend modules implement {@link io.relaymq.spi.RemoteBackend}.
 */
public interface QueueBackend {
    /**
     * The default backend: every queue lives in this JVM.
     *
     * @return the in-memory backend (one shared, stateless instance)
     */
    static QueueBackend inMemory() {
        return io.relaymq.internal.InMemoryBackend.INSTANCE;
    }
}
