package io.relaymq.bench;

import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executor;
import java.util.concurrent.locks.LockSupport;
import java.util.zip.CRC32C;
import kotlinx.coroutines.Dispatchers;
import kotlinx.coroutines.ExecutorsKt;

/**
 * Diagnosis, not a peer: the smallest group commit, to see what this machine allows and what the way
 * publishers are woken costs. Publisher threads queue a framed record (length, CRC32C, bytes) and wait;
 * one writer thread takes everything queued, writes it with one positional write into a file it
 * zero-fills ahead in 1 MiB chunks (as RelayMQ's journal does), forces it once ({@code force(false)})
 * and then wakes the batch's publishers, either
 *
 * <ul>
 *   <li>{@code direct}: by {@code LockSupport.unpark} of each waiting thread, from the writer; or
 *   <li>{@code executor}: by completing each publisher's {@code CompletableFuture} (which it
 *       {@code join()}s) through {@code Dispatchers.Default.asExecutor()}, one task per publish, as
 *       RelayMQ's Java {@code publish} does, so that no dependent stage runs on the writer.
 * </ul>
 *
 * No consumers, no completion records, no in-memory queue: compare with RelayMQ run with
 * {@code -DdurableConsumers=false}.
 */
final class GroupCommitModel implements DurableTarget {
    private static final long CHUNK = 1 << 20;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect((int) CHUNK);

    private static final class Request {
        final byte[] frame;
        final Thread thread;
        final CompletableFuture<Void> future;
        volatile boolean done;

        Request(byte[] frame, Thread thread, CompletableFuture<Void> future) {
            this.frame = frame;
            this.thread = thread;
            this.future = future;
        }
    }

    private final boolean direct;
    private final Executor executor = ExecutorsKt.asExecutor(Dispatchers.getDefault());
    private final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
    private final FileChannel channel;
    private final Thread writer;
    private volatile boolean asleep;
    private volatile boolean running = true;
    private volatile Throwable failure;
    private final ThreadLocal<CRC32C> crcs = ThreadLocal.withInitial(CRC32C::new);

    GroupCommitModel(Path directory, boolean direct) throws Exception {
        this.direct = direct;
        this.channel = FileChannel.open(directory.resolve("model.journal"), StandardOpenOption.CREATE_NEW,
            StandardOpenOption.READ, StandardOpenOption.WRITE);
        this.writer = new Thread(this::run, "model-writer");
        writer.setDaemon(true);
        writer.start();
    }

    @Override
    public void append() throws Exception {
        byte[] record = DurablePayload.bytes();
        CRC32C crc = crcs.get();
        crc.reset();
        crc.update(record);
        byte[] frame = ByteBuffer.allocate(8 + record.length).putInt(record.length).putInt((int) crc.getValue()).put(record).array();
        Request request = new Request(frame, Thread.currentThread(), direct ? null : new CompletableFuture<>());
        queue.add(request);
        if (asleep) LockSupport.unpark(writer);
        if (direct) {
            while (!request.done) {
                LockSupport.park(this);
                if (failure != null) throw new IllegalStateException(failure);
            }
        } else {
            request.future.join();
        }
    }

    private void run() {
        List<Request> batch = new ArrayList<>();
        ByteBuffer buffer = ByteBuffer.allocateDirect(4 << 20);
        long position = 0;
        long allocated = 0;
        try {
            while (running) {
                Request r = queue.poll();
                if (r == null) {
                    asleep = true;
                    if (queue.isEmpty() && running) LockSupport.park(this);
                    asleep = false;
                    continue;
                }
                batch.clear();
                buffer.clear();
                do {
                    batch.add(r);
                    buffer.put(r.frame);
                } while (buffer.remaining() >= 4096 && (r = queue.poll()) != null);
                buffer.flip();
                long end = position + buffer.remaining();
                while (allocated < end) {
                    ZEROS.clear();
                    channel.write(ZEROS, allocated);
                    allocated += CHUNK;
                }
                while (buffer.hasRemaining()) position += channel.write(buffer, position);
                channel.force(false);
                for (Request done : batch) {
                    if (direct) {
                        done.done = true;
                        LockSupport.unpark(done.thread);
                    } else {
                        executor.execute(() -> done.future.complete(null));
                    }
                }
            }
        } catch (Throwable e) {
            failure = e;
            for (Request r; (r = queue.poll()) != null; ) {
                if (r.future != null) r.future.completeExceptionally(e); else LockSupport.unpark(r.thread);
            }
        }
    }

    @Override
    public void close() throws Exception {
        running = false;
        LockSupport.unpark(writer);
        writer.join(10_000);
        channel.close();
    }
}
