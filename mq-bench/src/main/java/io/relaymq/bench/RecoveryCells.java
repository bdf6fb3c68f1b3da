package io.relaymq.bench;

import io.relaymq.MessageBus;
import io.relaymq.QueueOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * Recovery of a large backlog, each step in a JVM of its own (as after a restart: cold JIT, warm page
 * cache since the files were just written):
 *
 * <ul>
 *   <li>{@link #fill}: publishes {@code messages} durable messages to a queue whose only consumer is
 *       blocked, then either closes the bus (the close gives up on them after a 1 s drain timeout and
 *       leaves them in the journal) or halts the JVM ({@code kill}: no close at all, like kill -9);
 *   <li>{@link #recover}: reads every journal file once (the floor: bytes read and CRC32C-checked),
 *       then times a new bus's {@code registerQueue} of the durable queue, which replays the backlog,
 *       and checks it holds them all; then starts the bus and times until every message was handled;
 *   <li>{@link #inMemoryFill}: baseline: the time to publish as many messages to an in-memory queue
 *       that is not started (building the same backlog in memory, without a disk).
 * </ul>
 */
final class RecoveryCells {
    private static final int FILL_WINDOW = 1024;

    private RecoveryCells() { }

    static Map<String, String> fill(Path journal, int messages, boolean kill) throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        MessageBus bus = DurableBus.builder(journal).drainTimeout(Duration.ofSeconds(1)).build();
        bus.registerQueue(DurableBus.QUEUE, QueueOptions.builder().concurrency(1).durable(true).build(),
            m -> release.await());
        bus.start();
        Semaphore window = new Semaphore(FILL_WINDOW);
        List<Throwable> failures = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < messages; i++) {
            window.acquire();
            bus.publish(DurableBus.QUEUE, DurablePayload.TEXT).whenComplete((id, e) -> {
                if (e != null) synchronized (failures) { failures.add(e); }
                window.release();
            });
        }
        if (!window.tryAcquire(FILL_WINDOW, 120, TimeUnit.SECONDS)) throw new IllegalStateException("fill: publishes still outstanding");
        long filled = System.nanoTime();
        if (!failures.isEmpty()) throw new IllegalStateException("fill: " + failures.size() + " publishes failed", failures.get(0));
        DurableBus.checkJournalWritten(journal);
        Map<String, String> figures = new LinkedHashMap<>();
        figures.put("fillSeconds", LoadMeasurement.fmt((filled - start) / 1e9));
        figures.put("fillOpsPerSec", LoadMeasurement.fmt(messages * 1e9 / (filled - start)));
        if (kill) {
            figures.put("journalBytes", Long.toString(journalBytes(journal)));
            return figures; // the caller prints them and halts the JVM
        }
        long closing = System.nanoTime();
        bus.shutdown();
        figures.put("closeSeconds", LoadMeasurement.fmt((System.nanoTime() - closing) / 1e9));
        figures.put("journalBytes", Long.toString(journalBytes(journal)));
        return figures;
    }

    static Map<String, String> recover(Path journal, int messages) throws Exception {
        Map<String, String> figures = new LinkedHashMap<>();
        long readStart = System.nanoTime();
        long bytes = readAll(journal);
        figures.put("rawReadSeconds", LoadMeasurement.fmt((System.nanoTime() - readStart) / 1e9));
        figures.put("journalBytes", Long.toString(bytes));

        Completion completion = new Completion();
        MessageBus bus = DurableBus.builder(journal).build();
        MachineLoad.Window window = MachineLoad.forDirectory(journal).window();
        long start = System.nanoTime();
        DurableBus.register(bus, m -> completion.onMessage());
        long registered = System.nanoTime();
        figures.putAll(window.end());
        long pending = bus.stats(DurableBus.QUEUE).pending();
        figures.put("registerSeconds", LoadMeasurement.fmt((registered - start) / 1e9));
        figures.put("pending", Long.toString(pending));
        // The fill's blocked consumer may have finished (been interrupted with) its one message at close.
        if (pending < messages - 1 || pending > messages) {
            throw new IllegalStateException("recovered " + pending + " pending messages, expected " + messages);
        }
        completion.arm((int) pending);
        long started = System.nanoTime();
        bus.start();
        completion.await();
        figures.put("drainSeconds", LoadMeasurement.fmt((System.nanoTime() - started) / 1e9));
        bus.shutdown();
        figures.put("journalBytesAfterDrain", Long.toString(journalBytes(journal)));
        return figures;
    }

    static Map<String, String> inMemoryFill(int messages) {
        MessageBus bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(60)).build();
        Completion completion = new Completion();
        bus.registerQueue(DurableBus.QUEUE, DurableBus.CONSUMERS, (io.relaymq.Message<String> m) -> completion.onMessage());
        long start = System.nanoTime();
        for (int i = 0; i < messages; i++) bus.publish(DurableBus.QUEUE, DurablePayload.TEXT);
        long filled = System.nanoTime();
        completion.arm(messages);
        bus.start();
        completion.await();
        long drained = System.nanoTime();
        bus.shutdown();
        Map<String, String> figures = new LinkedHashMap<>();
        figures.put("memFillSeconds", LoadMeasurement.fmt((filled - start) / 1e9));
        figures.put("memDrainSeconds", LoadMeasurement.fmt((drained - filled) / 1e9));
        return figures;
    }

    /** Reads every regular file under {@code dir} once, CRC32C over every byte; returns the bytes read. */
    private static long readAll(Path dir) throws Exception {
        ByteBuffer buffer = ByteBuffer.allocateDirect(1 << 20);
        CRC32C crc = new CRC32C();
        long total = 0;
        for (Path file : files(dir)) {
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
                int n;
                while ((n = channel.read(buffer.clear())) > 0) {
                    crc.update(buffer.flip());
                    total += n;
                }
            }
        }
        if (crc.getValue() == 42) System.out.print(""); // keep the checksum alive
        return total;
    }

    static long journalBytes(Path dir) throws Exception {
        long total = 0;
        for (Path file : files(dir)) total += Files.size(file);
        return total;
    }

    private static List<Path> files(Path dir) throws Exception {
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).sorted().toList();
        }
    }
}
