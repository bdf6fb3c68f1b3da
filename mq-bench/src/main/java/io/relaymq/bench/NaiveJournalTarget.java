package io.relaymq.bench;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

/**
 * Baseline and floor for one publisher: the naive journal. Under one lock, each record is framed
 * (length, CRC32C, bytes), appended with one {@code FileChannel.write} and forced with
 * {@code force(false)} (fdatasync): exactly one fsync per message, no batching, no preallocation.
 */
final class NaiveJournalTarget implements DurableTarget {
    private final FileChannel channel;
    private final ByteBuffer frame = ByteBuffer.allocateDirect(4096);
    private final CRC32C crc = new CRC32C();

    NaiveJournalTarget(Path directory) throws Exception {
        this.channel = FileChannel.open(directory.resolve("naive.journal"),
            StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
    }

    @Override
    public synchronized void append() throws Exception {
        byte[] record = DurablePayload.bytes();
        crc.reset();
        crc.update(record);
        frame.clear();
        frame.putInt(record.length).putInt((int) crc.getValue()).put(record).flip();
        while (frame.hasRemaining()) channel.write(frame);
        channel.force(false);
    }

    @Override
    public synchronized void close() throws Exception {
        channel.close();
    }
}
