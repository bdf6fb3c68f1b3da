package io.relaymq.examples;

import java.io.IOException;
import java.util.Random;

/**
 * Stands in for a remote dictionary API: every lookup takes hundreds of milliseconds to over a second,
 * and about one in ten times out. Blocking, like the HTTP client it simulates.
 */
final class SlowDictionary {
    private final Random random;

    SlowDictionary(long seed) {
        this.random = new Random(seed);
    }

    String define(String word) throws IOException, InterruptedException {
        long latencyMillis;
        boolean fails;
        synchronized (random) {
            latencyMillis = 200 + random.nextInt(1300);
            fails = random.nextInt(10) == 0;
        }
        Thread.sleep(latencyMillis);
        if (fails) throw timeout(word);
        return word + ": a word of " + word.length() + " letters (looked up in " + latencyMillis + " ms)";
    }

    /**
     * A simulated remote time-out: its stack trace would only show this simulator and the bus's worker
     * threads, so it has none, and each failure shows in the demo as RelayMQ's warning plus one line.
     */
    private static IOException timeout(String word) {
        IOException e = new IOException("dictionary service timed out looking up '" + word + "'");
        e.setStackTrace(new StackTraceElement[0]);
        return e;
    }
}
