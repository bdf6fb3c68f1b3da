package io.relaymq.bench;

/** One implementation of a benchmark scenario: moves {@code n} messages from producers to consumers. */
public interface Workload extends AutoCloseable {
    /** The payload every workload sends: shared, so no benchmark pays for payload allocation. */
    Integer PAYLOAD = 42;

    /** Publishes {@code n} messages and returns once every one of them was handled. */
    void run(int n) throws Exception;

    @Override
    void close() throws Exception;
}
