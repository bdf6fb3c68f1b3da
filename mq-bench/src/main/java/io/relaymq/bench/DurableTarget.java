package io.relaymq.bench;

/**
 * One way to make a record durable, blocking the calling thread until it is on disk: the
 * publisher-per-thread model that square/tape's {@code QueueFile}, the naive journal and a blocking
 * {@code publish(...).join()} on a durable RelayMQ queue share. Safe to call from many threads at once.
 */
interface DurableTarget extends AutoCloseable {
    /** Appends one {@link DurablePayload} record and returns once it is fsynced. */
    void append() throws Exception;

    @Override
    void close() throws Exception;
}
