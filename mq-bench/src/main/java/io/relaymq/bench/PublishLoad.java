package io.relaymq.bench;

/** Publishers that run until stopped, recording into a {@link PublishMeter}. */
public interface PublishLoad {
    /** Starts publishing; returns at once. */
    void start(PublishMeter meter) throws Exception;

    /** Stops publishing and waits until every publisher and every outstanding publish is done. */
    void stop() throws Exception;
}
