package io.relaymq.redis;

import io.relaymq.redis.internal.RedisBackend;
import io.relaymq.spi.RemoteBackend;
import io.relaymq.spi.RemoteQueue;
import io.relaymq.spi.ReplyListener;

import java.time.Duration;
import java.util.Objects;

/**
 * A RelayMQ backend on Redis Streams: every bus built with it keeps its queues in Redis, and every bus
 * (in any JVM) that registers a queue of the same name shares it. Handlers, retries, dead letters,
 * requests, pause and concurrency work as on an in-memory bus; delivery is at-least-once.
 *
 * <pre>{@code
 * MessageBus bus = MessageBus.builder()
 *         .backend(RedisStreams.builder("redis://127.0.0.1:6379").visibilityTimeout(Duration.ofSeconds(30)).build())
 *         .build();
 * }</pre>
 * Kotlin: {@code MQ(backend = RedisStreams.builder(uri).build())}.
 *
 * <p>In Redis, queue {@code q} is a stream {@code <prefix>:{q}:stream} with one consumer group; every bus
 * is a consumer of it. Delayed messages wait in the sorted set {@code <prefix>:{q}:delayed}; ids come
 * from {@code <prefix>:{q}:ids}; request outcomes travel through {@code <prefix>:replies:<consumer>}.
 * A message is acknowledged and deleted from the stream once its final outcome is known, so the stream
 * holds only messages not yet finished.
 *
 * <p>One backend serves one bus: build one per bus. It connects when the bus is built, and closes its
 * connections when the bus closes.
 */
public final class RedisStreams implements RemoteBackend {
    private final RedisBackend backend;

    private RedisStreams(Builder builder) {
        this.backend = new RedisBackend(builder.uri, builder.visibilityTimeout, builder.timeout, builder.keyPrefix, builder.consumerName);
    }

    /**
     * A builder for a backend on the Redis server at {@code uri}.
     *
     * @param uri a Redis URI: {@code redis://[[user:]password@]host[:port][/database]}, {@code rediss://} for
     *     TLS, or {@code redis-sentinel://...} (see Lettuce's {@code RedisURI})
     * @return a builder with every option at its default
     * @throws IllegalArgumentException if {@code uri} is not a Redis URI
     */
    public static Builder builder(String uri) {
        return new Builder(uri);
    }

    @Override
    public Duration visibilityTimeout() {
        return backend.getVisibilityTimeout();
    }

    /** The consumer name this backend's bus has in every queue's consumer group. */
    public String consumerName() {
        return backend.getConsumerName();
    }

    @Override
    public void attach() {
        backend.attach();
    }

    @Override
    public RemoteQueue openQueue(String name, int capacity) {
        return backend.openQueue(name, capacity);
    }

    @Override
    public String openReplies(ReplyListener listener) {
        return backend.openReplies(listener);
    }

    @Override
    public void close() {
        backend.close();
    }

    @Override
    public String toString() {
        return backend.toString();
    }

    /** Options of a {@link RedisStreams} backend; {@link #build()} makes it. */
    public static final class Builder {
        private final String uri;
        private Duration visibilityTimeout = Duration.ofSeconds(30);
        private Duration timeout = Duration.ofSeconds(10);
        private String keyPrefix = "relaymq";
        private String consumerName = RedisBackend.defaultConsumerName();

        private Builder(String uri) {
            Objects.requireNonNull(uri, "uri");
            RedisBackend.checkUri(uri);
            this.uri = uri;
        }

        /**
         * How long a message handed to a bus stays its own while that bus does not renew its claim. A
         * live bus renews the claims of every message it holds every third of this time, so a slow
         * handler keeps its message; a bus that died (kill -9, lost network) loses its messages to the
         * other buses this long after its last renewal. Default 30 seconds; at least 100 ms.
         *
         * @param timeout the visibility timeout
         * @return this builder
         * @throws IllegalArgumentException if {@code timeout} is shorter than 100 ms
         */
        public Builder visibilityTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.compareTo(Duration.ofMillis(100)) < 0) {
                throw new IllegalArgumentException("visibilityTimeout must be at least 100 ms (it is how long a dead consumer keeps its messages), was " + timeout);
            }
            this.visibilityTimeout = timeout;
            return this;
        }

        /**
         * How long any Redis command may take before it fails, publish included: a publish while Redis
         * is down or unreachable fails with {@code BackendException} after this long (Lettuce's own
         * default would be 60 seconds). Default 10 seconds.
         *
         * @param timeout the command timeout
         * @return this builder
         * @throws IllegalArgumentException if {@code timeout} is not positive
         */
        public Builder publishTimeout(Duration timeout) {
            Objects.requireNonNull(timeout, "timeout");
            if (timeout.isZero() || timeout.isNegative()) {
                throw new IllegalArgumentException("publishTimeout must be positive, was " + timeout);
            }
            this.timeout = timeout;
            return this;
        }

        /**
         * The prefix of every Redis key this backend uses (default {@code relaymq}): buses share a queue
         * when they use the same Redis, prefix and queue name.
         *
         * @param prefix a non-blank prefix without braces
         * @return this builder
         * @throws IllegalArgumentException if {@code prefix} is blank or has a brace
         */
        public Builder keyPrefix(String prefix) {
            Objects.requireNonNull(prefix, "prefix");
            if (prefix.isBlank() || prefix.contains("{") || prefix.contains("}")) {
                throw new IllegalArgumentException("keyPrefix must be non-blank and without braces, was '" + prefix + "'");
            }
            this.keyPrefix = prefix;
            return this;
        }

        /**
         * This bus's name in every queue's consumer group; default {@code <host>-<pid>-<random>}, unique
         * per bus. Two live buses must never share a name.
         *
         * @param name a non-blank name
         * @return this builder
         * @throws IllegalArgumentException if {@code name} is blank
         */
        public Builder consumerName(String name) {
            Objects.requireNonNull(name, "name");
            if (name.isBlank()) throw new IllegalArgumentException("consumerName must not be blank");
            this.consumerName = name;
            return this;
        }

        /**
         * Makes the backend; it connects when a bus takes it ({@code MessageBus.Builder.backend}).
         *
         * @return the backend
         */
        public RedisStreams build() {
            return new RedisStreams(this);
        }
    }
}
