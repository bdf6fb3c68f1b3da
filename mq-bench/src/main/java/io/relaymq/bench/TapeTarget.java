package io.relaymq.bench;

import com.squareup.tape2.QueueFile;
import java.nio.file.Path;

/**
 * Baseline: square/tape's {@code QueueFile} (2.0.0-beta1), which writes through a {@code RandomAccessFile}
 * opened {@code "rwd"} (every add is synchronous: record, then header). {@code QueueFile} is not
 * thread-safe, so many publishers share it through a synchronized wrapper, as its documentation asks.
 * Nothing is removed while measuring (tape's remove is another synchronous header write).
 */
final class TapeTarget implements DurableTarget {
    private final QueueFile file;

    TapeTarget(Path directory) throws Exception {
        this.file = new QueueFile.Builder(directory.resolve("tape.queue").toFile()).build();
    }

    @Override
    public synchronized void append() throws Exception {
        file.add(DurablePayload.bytes());
    }

    @Override
    public synchronized void close() throws Exception {
        file.close();
    }
}
