package io.relaymq.bench;

import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisURI;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.sync.RedisCommands;
import io.relaymq.MessageBus;
import io.relaymq.MessageHandler;
import io.relaymq.redis.RedisStreams;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * RelayMQ on mq-redis, through its public API only: a bus on {@code RedisStreams}, one queue with a
 * blocking {@link MessageHandler} at the given concurrency, publishes through
 * {@code bus.publish(queue, payload)} (a future completed once Redis stored the message). The payload
 * is the publish time as a decimal string.
 *
 * <p>When is a job acknowledged? RelayMQ acknowledges after the handler, in batches, out of sight of
 * the API: once every job was handled, this target polls Redis (on a connection of its own) until the
 * queue's stream is empty, which it is once every message was acknowledged and deleted
 * ({@code XACK} + {@code XDEL}, see docs/redis.md); that moment ends the batch.
 */
final class RelayRedisJobsTarget extends RedisJobsTarget {
    static final String QUEUE = "jobs";
    /** The queue's stream with the default key prefix (docs/redis.md, "Redis layout"). */
    private static final String STREAM_KEY = "relaymq:{" + QUEUE + "}:stream";

    private final MessageBus bus;
    private final RedisClient probeClient;
    private final StatefulRedisConnection<String, String> probe;

    RelayRedisJobsTarget(String uri, int concurrency) {
        bus = MessageBus.builder()
            .backend(RedisStreams.builder(uri).visibilityTimeout(Duration.ofSeconds(30)).build())
            .build();
        bus.registerQueue(QUEUE, concurrency, (MessageHandler<String>) message -> meter.handling(Long.parseLong(message.data())));
        bus.start();
        probeClient = RedisClient.create(RedisURI.create(uri));
        probe = probeClient.connect();
    }

    @Override
    CompletionStage<?> publish(long nanos) {
        return bus.publish(QUEUE, Long.toString(nanos));
    }

    @Override
    long awaitAcknowledged(JobMeter meter) {
        RedisCommands<String, String> redis = probe.sync();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(BATCH_TIMEOUT_SECONDS);
        while (true) {
            if (redis.xlen(STREAM_KEY) == 0) {
                long now = System.nanoTime();
                meter.finishedAt(now);
                return now;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("stream " + STREAM_KEY + " still holds " + redis.xlen(STREAM_KEY)
                    + " entries " + BATCH_TIMEOUT_SECONDS + " s after the batch started: acknowledgements missing");
            }
            LockSupport.parkNanos(200_000);
        }
    }

    @Override
    public void close() throws Exception {
        bus.close();
        probe.close();
        probeClient.shutdown();
    }
}
