package io.relaymq.bench;

import io.relaymq.MessageBus;
import java.nio.file.Path;

/**
 * RelayMQ, Java: each publisher thread calls {@code publish("orders", payload).join()}, which returns
 * once the record is fsynced (concurrent publishers share fsyncs through group commit).
 */
final class RelayBlockingTarget implements DurableTarget {
    private final Path journal;
    private final MessageBus bus;
    private final boolean ownsBus;

    /** On a bus of its own ({@link DurableBus#started}), closed with this target. */
    RelayBlockingTarget(Path journal) {
        this(DurableBus.started(journal), journal, true);
    }

    /** On a bus of its own whose durable queue is paused: publishes alone (see {@link GroupCommitModel}). */
    static RelayBlockingTarget publishOnly(Path journal) {
        return new RelayBlockingTarget(DurableBus.started(journal, false), journal, true);
    }

    /** On {@code bus}, which has the durable queue registered and belongs to the caller. */
    RelayBlockingTarget(MessageBus bus, Path journal, boolean ownsBus) {
        this.journal = journal;
        this.bus = bus;
        this.ownsBus = ownsBus;
    }

    MessageBus bus() {
        return bus;
    }

    @Override
    public void append() {
        bus.publish(DurableBus.QUEUE, DurablePayload.TEXT).join();
    }

    @Override
    public void close() throws Exception {
        DurableBus.checkJournalWritten(journal);
        if (ownsBus) bus.shutdown();
    }
}
