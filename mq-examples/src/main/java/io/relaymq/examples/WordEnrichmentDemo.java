package io.relaymq.examples;

import io.relaymq.BusClosedException;
import io.relaymq.CloseSummary;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.MessageCodec;
import io.relaymq.QueueOptions;
import io.relaymq.QueueStats;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The word-enrichment scenario: a request path that must stay fast reads text, and every word it has
 * not seen before is handed to a queue; four consumers call a slow dictionary service in the background.
 * The program prints live progress, closes the bus after a few seconds (the lookups still pending are
 * saved to a snapshot), starts a new bus on the same directory (they are restored and finished), and
 * prints both close summaries.
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
        Path snapshots = Files.createTempDirectory("relaymq-demo-snapshots");
        long startNanos = System.nanoTime();

        System.out.println("== Run 1: publish every unknown word, work for 3 s, then close (pending lookups go to " + snapshots + ")");
        MessageBus bus = newBus(snapshots, dictionary, definitions);
        bus.start();
        ScheduledExecutorService progress = startProgress(bus, startNanos);

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

        Thread.sleep(3_000);
        System.out.println("Closing run 1: running lookups finish, the rest is saved to the snapshot...");
        CloseSummary first = bus.shutdown();
        progress.shutdownNow();
        printProgress(bus.stats("enrich"), startNanos);
        System.out.printf("Run 1 closed: processed during close %d, saved %d, abandoned %d%n",
            first.processedDuringClose(), first.saved(), first.abandoned());
        try {
            bus.publish("enrich", "late").get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof BusClosedException closed) {
                System.out.println("Publishing after close is refused: " + closed.getMessage());
            }
        }

        System.out.println();
        System.out.println("== Run 2: a new bus on the same directory restores the saved lookups and finishes them");
        MessageBus restarted = newBus(snapshots, dictionary, definitions);
        System.out.printf("Restored %d pending lookups (ids continue from where run 1 stopped)%n", restarted.stats("enrich").pending());
        restarted.start();
        progress = startProgress(restarted, startNanos);
        restarted.idle().get(2, TimeUnit.MINUTES);
        CloseSummary second = restarted.shutdown();
        progress.shutdownNow();
        printProgress(restarted.stats("enrich"), startNanos);

        QueueStats one = bus.stats("enrich");
        QueueStats two = restarted.stats("enrich");
        System.out.printf("%nRun 2 closed: processed during close %d, saved %d, abandoned %d, timed out %s%n",
            second.processedDuringClose(), second.saved(), second.abandoned(), second.timedOut());
        System.out.printf("Both runs: %d words published, %d defined, %d failed (dictionary time-outs: the WARN lines above)%n",
            one.published(), one.succeeded() + two.succeeded(), one.failed() + two.failed());
        System.out.println("Some definitions:");
        definitions.entrySet().stream().limit(5).forEach(e -> System.out.println("  " + e.getValue()));
        deleteRecursively(snapshots); // every restored lookup was processed: only the lock file is left
    }

    private static void deleteRecursively(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    private static MessageBus newBus(Path snapshots, SlowDictionary dictionary, Map<String, String> definitions) {
        MessageBus bus = MessageBus.builder()
            .drainTimeout(Duration.ofSeconds(30))
            .snapshotDirectory(snapshots)
            .build();
        bus.registerQueue("enrich", QueueOptions.builder().concurrency(4).codec(MessageCodec.utf8()).build(),
            (Message<String> m) -> definitions.put(m.data(), dictionary.define(m.data())));
        return bus;
    }

    private static ScheduledExecutorService startProgress(MessageBus bus, long startNanos) {
        ScheduledExecutorService progress = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "progress");
            t.setDaemon(true);
            return t;
        });
        progress.scheduleAtFixedRate(() -> printProgress(bus.stats("enrich"), startNanos), 0, 500, TimeUnit.MILLISECONDS);
        return progress;
    }

    private static void printProgress(QueueStats s, long startNanos) {
        System.out.printf("[%5.1fs] published %3d | done %3d | failed %2d | in flight %d | pending %3d%n",
            (System.nanoTime() - startNanos) / 1e9, s.published(), s.succeeded(), s.failed(), s.inFlight(), s.pending());
    }
}
