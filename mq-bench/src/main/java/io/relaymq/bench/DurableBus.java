package io.relaymq.bench;

import io.relaymq.FsyncPolicy;
import io.relaymq.MessageBus;
import io.relaymq.MessageHandler;
import io.relaymq.QueueOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.stream.Stream;

/** How every durability benchmark sets up RelayMQ: one bus with a journal, one durable queue "orders". */
final class DurableBus {
    static final String QUEUE = "orders";
    /** Handlers of the durable queue, as in the example. */
    static final int CONSUMERS = 4;

    private DurableBus() { }

    static MessageBus.Builder builder(Path journal) {
        return MessageBus.builder().journalDirectory(journal).fsyncPolicy(FsyncPolicy.perGroupCommit())
            .drainTimeout(Duration.ofSeconds(60));
    }

    static QueueOptions durableOptions() {
        return QueueOptions.builder().concurrency(CONSUMERS).durable(true).build();
    }

    /**
     * A started bus whose durable queue's consumers run a no-op handler, so no backlog builds up. For
     * diagnosis only, {@code -DdurableConsumers=false} pauses the queue instead: publishes alone, no
     * completion records in the journal (the backlog grows in memory for the length of the cell).
     */
    static MessageBus started(Path journal) {
        return started(journal, Boolean.parseBoolean(System.getProperty("durableConsumers", "true")));
    }

    /** As {@link #started(Path)}; {@code consume} false: the queue is paused (publishes alone). */
    static MessageBus started(Path journal, boolean consume) {
        MessageBus bus = builder(journal).build();
        register(bus, m -> { });
        if (!consume) bus.pause(QUEUE);
        bus.start();
        return bus;
    }

    static void register(MessageBus bus, MessageHandler<String> handler) {
        bus.registerQueue(QUEUE, durableOptions(), handler);
    }

    /**
     * Fails loudly when the journal directory holds no file at all after durable publishing: the
     * queue then ran in memory (an engine that is not wired yet) and its figures would be meaningless.
     */
    static void checkJournalWritten(Path journal) throws Exception {
        long files;
        try (Stream<Path> walk = Files.walk(journal)) {
            files = walk.filter(Files::isRegularFile).count();
        }
        if (files == 0) {
            throw new IllegalStateException("No journal file under " + journal + ": the durable queue did not journal "
                + "(engine not wired?); its figures are not durable publishes.");
        }
    }
}
