package io.relaymq.redis;

import io.relaymq.BackendException;
import io.relaymq.ClusterStats;
import io.relaymq.MessageBus;
import io.relaymq.MessageHandler;
import io.relaymq.QueueFullException;
import io.relaymq.QueueOptions;
import io.relaymq.OverflowPolicy;
import io.relaymq.QueueStats;
import io.relaymq.RemoteHandlerException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Java door on Redis Streams, as README and the issue show it. */
class RedisStreamsTest {
    private static TestRedis redis;
    private static final AtomicInteger prefixes = new AtomicInteger();

    @BeforeAll
    static void startRedis() {
        redis = new TestRedis(false);
    }

    @AfterAll
    static void stopRedis() {
        redis.close();
    }

    private static RedisStreams.Builder backend() {
        return RedisStreams.builder(redis.getUri()).keyPrefix("java" + prefixes.incrementAndGet());
    }

    @Test
    void theIssuesExampleRuns() throws Exception {
        Set<String> handled = ConcurrentHashMap.newKeySet();
        MessageBus bus = MessageBus.builder()
                .backend(backend().visibilityTimeout(Duration.ofSeconds(30)).build())
                .build();
        MessageHandler<String> handler = message -> handled.add(message.data());
        bus.registerQueue("jobs", 4, handler);
        bus.start();
        CompletableFuture<Long> first = bus.publish("jobs", "payload");
        long id = first.get(10, TimeUnit.SECONDS);
        assertTrue(id > 0);
        for (int i = 0; i < 200; i++) bus.publish("jobs", "m" + i).get(10, TimeUnit.SECONDS);
        bus.idle().get(30, TimeUnit.SECONDS);
        assertEquals(201, handled.size());
        QueueStats stats = bus.stats("jobs");
        assertEquals(201, stats.published());
        assertEquals(201, stats.succeeded());
        ClusterStats cluster = stats.cluster();
        assertNotNull(cluster);
        assertEquals(0, cluster.length());
        assertEquals(1, cluster.consumers());
        bus.close();
    }

    @Test
    void requestsGetTheirResultOrTheRemoteFailure() throws Exception {
        MessageBus bus = MessageBus.builder().backend(backend().build()).build();
        bus.<String, String>registerReplyingQueue("upper", 2, message -> {
            if (message.data().equals("boom")) throw new IllegalStateException("no " + message.data());
            return message.data().toUpperCase();
        });
        bus.start();
        assertEquals("HELLO", bus.<String>request("upper", "hello").get(10, TimeUnit.SECONDS));
        ExecutionException failure = assertThrows(ExecutionException.class, () -> bus.request("upper", "boom").get(10, TimeUnit.SECONDS));
        RemoteHandlerException remote = assertInstanceOf(RemoteHandlerException.class, failure.getCause());
        assertEquals(IllegalStateException.class.getName(), remote.failureClass());
        assertEquals("no boom", remote.failureMessage());
        bus.close();
    }

    @Test
    void aFullQueueRejectsAcrossTheCluster() throws Exception {
        MessageBus bus = MessageBus.builder().backend(backend().build()).build();
        bus.registerQueue("bounded", QueueOptions.builder().concurrency(1).capacity(3).overflow(OverflowPolicy.REJECT).build(),
                (MessageHandler<String>) message -> { });
        // Not started: nothing is consumed, so the store fills up.
        for (int i = 0; i < 3; i++) bus.publish("bounded", "m" + i).get(10, TimeUnit.SECONDS);
        ExecutionException full = assertThrows(ExecutionException.class, () -> bus.publish("bounded", "one too many").get(10, TimeUnit.SECONDS));
        assertInstanceOf(QueueFullException.class, full.getCause());
        assertEquals(1, bus.stats("bounded").rejected());
        bus.start();
        bus.idle().get(30, TimeUnit.SECONDS);
        assertEquals(3, bus.stats("bounded").succeeded());
        bus.close();
    }

    @Test
    void unsupportedOptionsAreRefusedAtRegistrationSayingWhy() {
        MessageBus bus = MessageBus.builder().backend(backend().build()).build();
        IllegalArgumentException suspend = assertThrows(IllegalArgumentException.class, () ->
                bus.registerQueue("q", QueueOptions.builder().capacity(10).overflow(OverflowPolicy.DROP_OLDEST).build(), (MessageHandler<String>) m -> { }));
        assertTrue(suspend.getMessage().contains("REJECT"), suspend.getMessage());
        IllegalArgumentException durable = assertThrows(IllegalArgumentException.class, () ->
                bus.registerQueue("d", QueueOptions.builder().durable(true).build(), (MessageHandler<String>) m -> { }));
        assertTrue(durable.getMessage().contains("durable"), durable.getMessage());
        bus.close();
    }

    @Test
    void aBackendServesOneBus() {
        RedisStreams backend = backend().build();
        MessageBus bus = MessageBus.builder().backend(backend).build();
        IllegalStateException second = assertThrows(IllegalStateException.class, () -> MessageBus.builder().backend(backend).build());
        assertTrue(second.getMessage().contains("one backend per bus"), second.getMessage());
        bus.close();
    }

    @Test
    void aSnapshotDirectoryIsRefusedWithARemoteBackend() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                MessageBus.builder().snapshotDirectory(java.nio.file.Path.of("x")).backend(backend().build()));
        assertTrue(e.getMessage().contains("snapshot directory"), e.getMessage());
    }

    @Test
    void anUnreachableRedisFailsTheBuildSayingWhatToCheck() {
        BackendException e = assertThrows(BackendException.class, () ->
                MessageBus.builder().backend(RedisStreams.builder("redis://127.0.0.1:1").publishTimeout(Duration.ofSeconds(2)).build()).build());
        assertTrue(e.getMessage().contains("Is Redis running"), e.getMessage());
    }

    @Test
    void aPublishOnlyBusHandsItsWorkToTheBusesWithHandlers() throws Exception {
        prefixes.incrementAndGet();
        String uri = redis.getUri();
        String prefix = "java" + prefixes.get();
        MessageBus web = MessageBus.builder().backend(RedisStreams.builder(uri).keyPrefix(prefix).build()).build();
        web.registerPublisher("mail");
        web.start();
        Set<String> sent = ConcurrentHashMap.newKeySet();
        MessageBus worker = MessageBus.builder().backend(RedisStreams.builder(uri).keyPrefix(prefix).build()).build();
        worker.<String, String>registerReplyingQueue("mail", 2, message -> {
            sent.add(message.data());
            return "sent " + message.data();
        });
        worker.start();
        for (int i = 0; i < 20; i++) web.publish("mail", "to" + i).get(10, TimeUnit.SECONDS);
        assertEquals("sent hello", web.<String>request("mail", "hello").get(10, TimeUnit.SECONDS));
        web.idle().get(30, TimeUnit.SECONDS);
        assertEquals(21, sent.size());
        assertEquals(21, web.stats("mail").published());
        assertEquals(0, web.stats("mail").delivered());
        assertEquals(1, web.stats("mail").cluster().consumers()); // the worker only
        web.close();
        worker.close();
    }

    @Test
    void aPublishOnlyQueueIsRefusedInMemory() {
        MessageBus bus = MessageBus.builder().build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> bus.registerPublisher("mail"));
        assertTrue(e.getMessage().contains("shared backend"), e.getMessage());
        bus.close();
    }

    @Test
    void largePayloadsCrossInBatchesOfBoundedSize() throws Exception {
        MessageBus bus = MessageBus.builder().backend(backend().build()).build();
        Set<Integer> sizes = ConcurrentHashMap.newKeySet();
        bus.registerQueue("blobs", 2, (MessageHandler<byte[]>) message -> sizes.add(message.data().length + message.data()[0]));
        bus.start();
        java.util.List<CompletableFuture<Long>> published = new java.util.ArrayList<>();
        for (int i = 0; i < 24; i++) {
            byte[] blob = new byte[1024 * 1024];
            blob[0] = (byte) i;
            published.add(bus.publish("blobs", blob));
        }
        for (CompletableFuture<Long> f : published) f.get(30, TimeUnit.SECONDS);
        bus.idle().get(60, TimeUnit.SECONDS);
        assertEquals(24, sizes.size());
        bus.close();
    }

    @Test
    void aPublishMadeJustBeforeCloseIsStoredAndLeftForOthers() throws Exception {
        prefixes.incrementAndGet();
        String prefix = "java" + prefixes.get();
        MessageBus first = MessageBus.builder().backend(RedisStreams.builder(redis.getUri()).keyPrefix(prefix).build()).build();
        first.registerPublisher("later");
        first.start();
        java.util.List<CompletableFuture<Long>> published = new java.util.ArrayList<>();
        for (int i = 0; i < 200; i++) published.add(first.publish("later", "m" + i));
        first.close(); // right away: the publishes made before it still get their answer
        for (CompletableFuture<Long> f : published) assertTrue(f.get(10, TimeUnit.SECONDS) > 0);
        Set<String> handled = ConcurrentHashMap.newKeySet();
        MessageBus second = MessageBus.builder().backend(RedisStreams.builder(redis.getUri()).keyPrefix(prefix).build()).build();
        second.registerQueue("later", 4, (MessageHandler<String>) m -> handled.add(m.data()));
        second.start();
        second.idle().get(30, TimeUnit.SECONDS);
        assertEquals(200, handled.size());
        second.close();
    }

    @Test
    void aBusThatNeverStartedClosesWithoutTakingMessages() throws Exception {
        MessageBus bus = MessageBus.builder().backend(backend().build()).build();
        Set<String> handled = ConcurrentHashMap.newKeySet();
        bus.registerQueue("waiting", 2, (MessageHandler<String>) m -> handled.add(m.data()));
        for (int i = 0; i < 5; i++) bus.publish("waiting", "m" + i).get(10, TimeUnit.SECONDS);
        bus.close();
        assertEquals(0, handled.size());
        assertEquals(5, bus.stats("waiting").published());
        assertEquals(0, bus.stats("waiting").delivered());
    }
}
