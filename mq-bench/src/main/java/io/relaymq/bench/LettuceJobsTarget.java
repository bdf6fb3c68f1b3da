package io.relaymq.bench;

import io.lettuce.core.Consumer;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisFuture;
import io.lettuce.core.RedisURI;
import io.lettuce.core.StreamMessage;
import io.lettuce.core.XGroupCreateArgs;
import io.lettuce.core.XReadArgs;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The floor of what Redis allows from Java: a plain Lettuce loop, as a competent user writes one. One
 * stream and one consumer group; producers share one connection and pipeline {@code XADD}s through
 * the asynchronous API; {@code concurrency} consumer threads, each on a connection of its own, loop
 * on {@code XREADGROUP COUNT <count> BLOCK 100}, handle what they got, then acknowledge the whole read
 * with one {@code XACK} and delete it with one {@code XDEL}, pipelined (so the stream stays as small
 * as BullMQ's {@code removeOnComplete} and RelayMQ keep theirs). No retries, no visibility timeout, no
 * take-over of a dead consumer's messages: only the happy path.
 */
final class LettuceJobsTarget extends RedisJobsTarget {
    private static final String STREAM = "jobs";
    private static final String GROUP = "workers";

    private final RedisClient client;
    private final StatefulRedisConnection<String, String> producer;
    private final List<StatefulRedisConnection<String, String>> consumerConnections = new ArrayList<>();
    private final List<Thread> consumers = new ArrayList<>();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile boolean stop;

    /** @param count XREADGROUP's COUNT: the most messages one read takes. */
    LettuceJobsTarget(String uri, int concurrency, int count) {
        client = RedisClient.create(RedisURI.create(uri));
        producer = client.connect();
        producer.sync().xgroupCreate(XReadArgs.StreamOffset.from(STREAM, "0"), GROUP, XGroupCreateArgs.Builder.mkstream());
        for (int i = 0; i < concurrency; i++) {
            StatefulRedisConnection<String, String> connection = client.connect();
            consumerConnections.add(connection);
            Consumer<String> me = Consumer.from(GROUP, "consumer-" + i);
            Thread t = new Thread(() -> consume(connection.async(), me, count), "lettuce-consumer-" + i);
            t.setDaemon(true);
            consumers.add(t);
            t.start();
        }
    }

    private void consume(RedisAsyncCommands<String, String> redis, Consumer<String> me, int count) {
        XReadArgs read = XReadArgs.Builder.block(100).count(count);
        XReadArgs.StreamOffset<String> next = XReadArgs.StreamOffset.lastConsumed(STREAM);
        try {
            while (!stop) {
                List<StreamMessage<String, String>> got = redis.xreadgroup(me, read, next).get(30, TimeUnit.SECONDS);
                if (got == null || got.isEmpty()) continue;
                String[] ids = new String[got.size()];
                JobMeter m = meter;
                for (int i = 0; i < ids.length; i++) {
                    StreamMessage<String, String> message = got.get(i);
                    m.handling(Long.parseLong(message.getBody().get("t"))); // the job: a no-op
                    ids[i] = message.getId();
                }
                RedisFuture<Long> acked = redis.xack(STREAM, GROUP, ids);
                RedisFuture<Long> deleted = redis.xdel(STREAM, ids);
                acked.get(30, TimeUnit.SECONDS);
                deleted.get(30, TimeUnit.SECONDS);
                m.finished(ids.length);
            }
        } catch (Throwable e) {
            if (!stop) {
                failure.compareAndSet(null, e);
                e.printStackTrace();
            }
        }
    }

    @Override
    CompletionStage<?> publish(long nanos) {
        return producer.async().xadd(STREAM, "t", Long.toString(nanos));
    }

    @Override
    long awaitAcknowledged(JobMeter meter) throws Exception {
        if (failure.get() != null) throw new IllegalStateException("a consumer failed", failure.get());
        return super.awaitAcknowledged(meter);
    }

    @Override
    public void close() throws Exception {
        stop = true;
        for (Thread t : consumers) t.join(5_000);
        for (StatefulRedisConnection<String, String> c : consumerConnections) c.close();
        producer.close();
        client.shutdown();
    }
}
