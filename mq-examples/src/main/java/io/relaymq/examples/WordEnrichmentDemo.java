package io.relaymq.examples;

import io.relaymq.BusClosedException;
import io.relaymq.CloseSummary;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.QueueStats;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * The word-enrichment scenario: a request path that must stay fast reads text, and every word it has
 * not seen before is handed to a queue; four consumers call a slow dictionary service in the background.
 * The program prints live progress and closes the bus cleanly, printing the close summary.
 *
 * <p>Run it with {@code mvn -q -pl mq-examples -am package exec:java -DskipTests}.
 */
public final class WordEnrichmentDemo {
    private static final String TEXT = """
        RelayMQ moves slow work off the request path. A request that needs a definition for every
        unfamiliar word cannot wait for a dictionary service that answers in seconds, so the request
        publishes the word and returns at once; four consumers look the words up in the background,
        retry nothing yet, and report every failure. When the program ends, close drains every accepted
        lookup before it returns, and says what it did.
        """;

    private WordEnrichmentDemo() { }

    public static void main(String[] args) throws Exception {
        SlowDictionary dictionary = new SlowDictionary(42);
        Map<String, String> definitions = new ConcurrentHashMap<>();
        Set<String> requested = ConcurrentHashMap.newKeySet();
        long startNanos = System.nanoTime();

        MessageBus bus = MessageBus.builder()
            .drainTimeout(Duration.ofSeconds(30))
            .build();
        bus.registerQueue("enrich", 4, (Message<String> m) -> definitions.put(m.data(), dictionary.define(m.data())));
        bus.start();

        ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "progress");
            t.setDaemon(true);
            return t;
        });
        progress.scheduleAtFixedRate(() -> printProgress(bus.stats("enrich"), startNanos), 0, 500, TimeUnit.MILLISECONDS);

        // The "request path": each lookup costs a map probe and, for a new word, one publish.
        int lookups = 0;
        for (String raw : TEXT.split("\\W+")) {
            String word = raw.toLowerCase(Locale.ROOT);
            if (word.isEmpty()) continue;
            lookups++;
            if (!definitions.containsKey(word) && requested.add(word)) {
                long id = bus.publish("enrich", word).get();
                if (id % 10 == 0) System.out.printf("  request path: published '%s' as message %d%n", word, id);
            }
        }
        System.out.printf("Request path done: %d lookups, %d unknown words published in %d ms%n",
            lookups, requested.size(), (System.nanoTime() - startNanos) / 1_000_000);

        // Let the consumers work for a while, then close: close() still delivers everything accepted.
        Thread.sleep(3_000);
        System.out.println("Closing the bus; it drains the remaining lookups first...");
        CloseSummary summary = bus.shutdown();
        progress.shutdownNow();
        printProgress(bus.stats("enrich"), startNanos);

        try {
            bus.publish("enrich", "late").get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof BusClosedException closed) {
                System.out.println("Publishing after close is refused: " + closed.getMessage());
            }
        }

        QueueStats stats = bus.stats("enrich");
        System.out.printf("%nClose summary: processed during close %d, abandoned %d, timed out %s%n",
            summary.processedDuringClose(), summary.abandoned(), summary.timedOut());
        System.out.printf("Totals: published %d, succeeded %d, failed %d (dictionary time-outs, logged above)%n",
            stats.published(), stats.succeeded(), stats.failed());
        System.out.println("Some definitions:");
        definitions.entrySet().stream().limit(5).forEach(e -> System.out.println("  " + e.getValue()));
    }

    private static void printProgress(QueueStats s, long startNanos) {
        System.out.printf("[%5.1fs] published %3d | done %3d | failed %2d | in flight %d | pending %3d%n",
            (System.nanoTime() - startNanos) / 1e9, s.published(), s.succeeded(), s.failed(), s.inFlight(), s.pending());
    }
}
