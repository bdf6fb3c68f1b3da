package io.relaymq.bench;

import com.google.common.eventbus.AllowConcurrentEvents;
import com.google.common.eventbus.AsyncEventBus;
import com.google.common.eventbus.Subscribe;
import com.lmax.disruptor.RingBuffer;
import com.lmax.disruptor.YieldingWaitStrategy;
import com.lmax.disruptor.dsl.Disruptor;
import com.lmax.disruptor.dsl.ProducerType;
import com.lmax.disruptor.util.DaemonThreadFactory;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.vertx.core.Vertx;
import io.vertx.core.eventbus.EventBus;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/** The Java peers, each written the way a competent user would write it. */
final class JavaWorkloads {
    private JavaWorkloads() { }

    /**
     * A workload whose batch is: arm the completion, let {@code feeders} call {@code send} n times in all,
     * wait until every message was handled; closing closes the feeders and then {@code resources}.
     */
    static Workload batch(Completion completion, Producers feeders, Producers.Send send, AutoCloseable... resources) {
        return new Workload() {
            @Override
            public void run(int n) throws Exception {
                completion.arm(n);
                feeders.run(n, send);
                completion.await();
            }

            @Override
            public void close() throws Exception {
                feeders.close();
                for (AutoCloseable resource : resources) resource.close();
            }
        };
    }

    static ThreadPoolExecutor pool(int threads) {
        return new ThreadPoolExecutor(threads, threads, 0, TimeUnit.SECONDS, new LinkedBlockingQueue<>());
    }

    /** {@code ThreadPoolExecutor(consumers)} over a {@code LinkedBlockingQueue}, fed by producer threads. */
    static Workload executor(int producers, int consumers) {
        Completion completion = new Completion();
        ThreadPoolExecutor executor = pool(consumers);
        Producers feeders = new Producers(producers);
        Runnable task = completion::onMessage;
        return batch(completion, feeders, () -> executor.execute(task), executor::shutdownNow);
    }

    /** Guava's {@code AsyncEventBus} on a one-thread executor, posted to by producer threads. */
    static Workload guava(int producers) {
        Completion completion = new Completion();
        ThreadPoolExecutor executor = pool(1);
        AsyncEventBus bus = new AsyncEventBus(executor);
        bus.register(new Object() {
            @Subscribe
            @AllowConcurrentEvents
            public void on(Integer event) {
                completion.onMessage();
            }
        });
        Producers feeders = new Producers(producers);
        return batch(completion, feeders, () -> bus.post(Workload.PAYLOAD), executor::shutdownNow);
    }

    /** RelayMQ's Java facade: {@code publish} returns a {@code CompletableFuture} that nobody waits on. */
    static Workload relayJava(int producers, int consumers) {
        Completion completion = new Completion();
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(10)).build();
        bus.registerQueue("bench", consumers, (Message<Integer> m) -> completion.onMessage());
        bus.start();
        Producers feeders = new Producers(producers);
        return batch(completion, feeders, () -> bus.publish("bench", Workload.PAYLOAD), bus);
    }

    /** {@code CompletableFuture.runAsync(task, executor)} per message, from producer threads. */
    static Workload runAsync(int producers, int consumers) {
        Completion completion = new Completion();
        ThreadPoolExecutor executor = pool(consumers);
        Producers feeders = new Producers(producers);
        Runnable task = completion::onMessage;
        return batch(completion, feeders, () -> CompletableFuture.runAsync(task, executor), executor::shutdownNow);
    }

    /** {@code supplyAsync(..., executor).join()} per round trip. */
    static Workload supplyAsyncRoundTrip() {
        ThreadPoolExecutor executor = pool(1);
        return new Workload() {
            @Override
            public void run(int n) {
                for (int i = 0; i < n; i++) CompletableFuture.supplyAsync(() -> PAYLOAD, executor).join();
            }

            @Override
            public void close() {
                executor.shutdownNow();
            }
        };
    }

    /** Ceiling: LMAX Disruptor, one producer, one consumer, yielding wait strategy. */
    static Workload disruptor() {
        final class Slot {
            Integer value;
        }
        Completion completion = new Completion();
        Disruptor<Slot> disruptor = new Disruptor<>(Slot::new, 1 << 16, DaemonThreadFactory.INSTANCE,
            ProducerType.SINGLE, new YieldingWaitStrategy());
        disruptor.handleEventsWith((slot, sequence, endOfBatch) -> completion.onMessage());
        RingBuffer<Slot> ring = disruptor.start();
        return new Workload() {
            @Override
            public void run(int n) {
                completion.arm(n);
                for (int i = 0; i < n; i++) ring.publishEvent((slot, seq, v) -> slot.value = v, PAYLOAD);
                completion.await();
            }

            @Override
            public void close() {
                disruptor.halt();
            }
        };
    }

    /** Ceiling: Vert.x's local event bus, one consumer, sends from the benchmark thread. */
    static Workload vertx() {
        Completion completion = new Completion();
        Vertx vertx = Vertx.vertx();
        EventBus bus = vertx.eventBus();
        CompletableFuture<Void> registered = new CompletableFuture<>();
        bus.<Integer>consumer("bench", m -> completion.onMessage()).completionHandler(r -> registered.complete(null));
        try {
            registered.get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        return new Workload() {
            @Override
            public void run(int n) {
                completion.arm(n);
                for (int i = 0; i < n; i++) bus.send("bench", PAYLOAD);
                completion.await();
            }

            @Override
            public void close() throws Exception {
                vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        };
    }
}
