package io.relaymq.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/** Plain Java producer threads: each runs {@code send} for its share of a batch. One producer runs inline. */
final class Producers implements AutoCloseable {
    interface Send {
        void send() throws Exception;
    }

    private final int count;
    private final ExecutorService threads;

    Producers(int count) {
        this.count = count;
        this.threads = count > 1 ? Executors.newFixedThreadPool(count) : null;
    }

    void run(int n, Send send) throws Exception {
        int share = n / count;
        if (threads == null) {
            for (int i = 0; i < share; i++) send.send();
            return;
        }
        List<Future<?>> running = new ArrayList<>(count);
        for (int p = 0; p < count; p++) {
            running.add(threads.submit(() -> {
                for (int i = 0; i < share; i++) send.send();
                return null;
            }));
        }
        for (Future<?> f : running) f.get();
    }

    @Override
    public void close() {
        if (threads != null) threads.shutdownNow();
    }
}
