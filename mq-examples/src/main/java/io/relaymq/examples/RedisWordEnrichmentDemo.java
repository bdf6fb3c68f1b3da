package io.relaymq.examples;

import io.relaymq.test.RedisServer;

import io.lettuce.core.KeyScanCursor;
import io.lettuce.core.RedisClient;
import io.lettuce.core.ScanArgs;
import io.lettuce.core.ScanCursor;
import io.lettuce.core.api.StatefulRedisConnection;
import io.relaymq.ClusterStats;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.QueueOptions;
import io.relaymq.RetryPolicy;
import io.relaymq.redis.RedisStreams;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The word-enrichment scenario across processes, on Redis Streams: this program publishes every word of
 * a text to the queue {@code enrich} (a few of them with {@code request}, whose answers come back from
 * whichever process handled them); two worker JVMs it starts register the same queue on the same Redis,
 * 3 consumers each, and call the slow, flaky dictionary. A line every second shows what each worker did
 * and the queue's figures in Redis. Past half the words, worker-2 is killed with SIGKILL in the middle
 * of its lookups: Redis keeps them pending under its name, and worker-1 takes them over once they have
 * been idle for the visibility timeout (3 s here). The summary checks that every word was enriched and
 * counts the words enriched twice (delivery is at-least-once); the exit code is 1 if a word was lost.
 *
 * <p>Without {@code -Dredis.uri=redis://host:port} (or the environment variable {@code RELAYMQ_REDIS_URI})
 * it starts its own {@code redis-server} (from the PATH) on a free loopback port and stops it at the end.
 *
 * <p>Run: {@code mvn -q -B -pl mq-examples -am package exec:java -DskipTests
 * -Ddemo.mainClass=io.relaymq.examples.RedisWordEnrichmentDemo}
 */
public final class RedisWordEnrichmentDemo {
    private static final String QUEUE = "enrich";
    private static final Duration VISIBILITY_TIMEOUT = Duration.ofSeconds(3);
    private static final int CONSUMERS_PER_WORKER = 3;
    /** Every this many words, the publisher uses {@code request} instead of {@code publish}. */
    private static final int REQUEST_EVERY = 12;
    private static final String TEXT = """
        Two worker processes share one queue in Redis. Each fetches only what its consumers can start,
        calls a slow dictionary service, and acknowledges every word after its definition is stored.
        A publisher in a third process hands over the words and goes on at once; for a few it waits for
        the answer, which travels back from whichever worker looked the word up. Halfway through, one
        worker dies without warning: nothing is given back. Its claimed messages stay pending until
        their visibility timeout passes, then the survivor takes them over and finishes alone.
        """;

    private RedisWordEnrichmentDemo() { }

    public static void main(String[] args) throws Exception {
        if (args.length == 4 && args[0].equals("worker")) {
            worker(args[1], args[2], args[3]);
            return;
        }
        String uri = configuredUri();
        RedisServer redis = null;
        if (uri == null) {
            if (!RedisServer.isAvailable()) {
                System.err.println("""
                    This demo needs Redis, and redis-server is not on the PATH. Either install it
                      (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)
                    and run the demo again (it starts its own redis-server on a free port and stops it
                    at the end), or point it at a running Redis 6.2+:
                      -Dredis.uri=redis://127.0.0.1:6379   (or the environment variable RELAYMQ_REDIS_URI)""");
                System.exit(2);
            }
            redis = RedisServer.start();
            uri = redis.getUri();
            System.out.printf("Started %s on %s (it is stopped at the end; pass -Dredis.uri=redis://... to use your own)%n", RedisServer.findExecutable(), uri);
        } else {
            System.out.println("Using the Redis at " + uri);
        }
        // A prefix of its own: on a shared Redis, this run's keys meet no other run's (and are deleted at the end).
        String prefix = "relaymq-demo-" + Long.toHexString(ThreadLocalRandom.current().nextLong() & 0xffffffL);
        boolean nothingLost;
        try {
            nothingLost = new Publisher(uri, prefix).run();
        } finally {
            if (redis != null) redis.close();
            else deleteKeys(uri, prefix);
        }
        if (!nothingLost) System.exit(1);
    }

    // ------------------------------------------------------------------ a worker (child JVM)

    /**
     * A worker: a bus on the shared Redis registering {@value #QUEUE} with 3 consumers. It tells the
     * publisher what it does on stdout, one line per event ({@code start <word> <attempt>}, {@code done
     * <word>}), and closes when its stdin says {@code stop} or ends.
     */
    private static void worker(String name, String uri, String prefix) throws Exception {
        SlowDictionary dictionary = new SlowDictionary(name.hashCode());
        MessageBus bus = MessageBus.builder()
            .backend(RedisStreams.builder(uri)
                .keyPrefix(prefix)
                .visibilityTimeout(VISIBILITY_TIMEOUT)
                .consumerName(name + "-" + ProcessHandle.current().pid())
                .build())
            .drainTimeout(Duration.ofSeconds(10))
            .build();
        QueueOptions options = QueueOptions.builder()
            .concurrency(CONSUMERS_PER_WORKER)
            // About one lookup in ten times out: retry it (retries are logged at INFO, not shown here).
            .retry(RetryPolicy.builder().maxAttempts(8).initialBackoff(Duration.ofMillis(100)).build())
            .build();
        bus.registerReplyingQueue(QUEUE, options, (Message<String> m) -> {
            say("start " + m.data() + " " + m.attempt());
            String definition;
            try {
                definition = dictionary.define(m.data());
            } catch (IOException timeout) {
                say("failed " + m.data() + " " + m.attempt());
                throw timeout;
            }
            say("done " + m.data()); // the definition is "stored": the publisher counts this line
            return definition + " [" + name + "]";
        });
        bus.start();
        say("ready");
        try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null && !line.equals("stop"); ) {
                // wait for the publisher to say stop (or to die: end of input)
            }
        }
        bus.shutdown(); // finishes what it holds and acknowledges it
        say("closed");
    }

    private static synchronized void say(String line) {
        System.out.print(line + "\n"); // one write: a kill cuts no line in two
        System.out.flush();
    }

    // ------------------------------------------------------------------ the publisher (this JVM)

    /** What the publisher knows of one worker, from its stdout. */
    private static final class Worker {
        final String name;
        final Process process;
        final CountDownLatch ready = new CountDownLatch(1);
        final AtomicInteger done = new AtomicInteger();
        /** Words it is looking up now (word -> attempt). */
        final Map<String, Integer> running = new ConcurrentHashMap<>();
        /** Words it started and has not finished: looking them up, or waiting to retry them. */
        final Set<String> unfinished = ConcurrentHashMap.newKeySet();
        volatile boolean killed;
        Thread reader;

        Worker(String name, Process process) {
            this.name = name;
            this.process = process;
        }
    }

    private static final class Publisher {
        private final String uri;
        private final String prefix;
        private final long startNanos = System.nanoTime();
        private final List<Worker> workers = new ArrayList<>();
        /** Every word and the workers that finished it (one entry per finish). */
        private final Map<String, List<String>> finishedBy = new ConcurrentHashMap<>();
        /** Every word and the workers that started it. */
        private final Map<String, Set<String>> startedBy = new ConcurrentHashMap<>();
        private final AtomicInteger retries = new AtomicInteger();
        /** What the killed worker was running when it was killed. */
        private final Set<String> cutByKill = ConcurrentHashMap.newKeySet();
        private final List<String> takeovers = new CopyOnWriteArrayList<>();
        private volatile long killNanos;

        Publisher(String uri, String prefix) {
            this.uri = uri;
            this.prefix = prefix;
        }

        boolean run() throws Exception {
            List<String> words = words();
            System.out.printf("Starting 2 worker JVMs (%d consumers each, visibility timeout %d s, key prefix %s)...%n",
                CONSUMERS_PER_WORKER, VISIBILITY_TIMEOUT.toSeconds(), prefix);
            try {
                for (int i = 1; i <= 2; i++) workers.add(startWorker("worker-" + i));
                for (Worker w : workers) {
                    if (!w.ready.await(60, TimeUnit.SECONDS)) throw new IllegalStateException(w.name + " did not start within 60 s");
                }
                return publishAndWatch(words);
            } finally {
                for (Worker w : workers) {
                    if (w.process.isAlive()) w.process.destroyForcibly();
                }
            }
        }

        private boolean publishAndWatch(List<String> words) throws Exception {
            // The publisher registers the queue (a bus publishes only to queues it knows) but never calls
            // start(): it takes no messages, so the workers do all the work. Its handler never runs.
            MessageBus bus = MessageBus.builder()
                .backend(RedisStreams.builder(uri).keyPrefix(prefix).visibilityTimeout(VISIBILITY_TIMEOUT).build())
                .build();
            bus.registerReplyingQueue(QUEUE, CONSUMERS_PER_WORKER, (Message<String> m) -> {
                throw new IllegalStateException("the publisher handles nothing");
            });

            System.out.printf("%s Both workers ready; publishing %d words (every %dth with request: its answer comes back from the worker that looked it up)%n",
                clock(), words.size(), REQUEST_EVERY);
            List<CompletableFuture<?>> publishes = new ArrayList<>();
            List<CompletableFuture<String>> requests = new ArrayList<>();
            for (int i = 0; i < words.size(); i++) {
                String word = words.get(i);
                if (i % REQUEST_EVERY == REQUEST_EVERY - 1) {
                    CompletableFuture<String> answer = bus.<String>request(QUEUE, word, Duration.ofSeconds(40));
                    answer.whenComplete((definition, failure) -> System.out.printf("%s   request '%s' %s%n", clock(), word,
                        failure == null ? "answered: " + definition : "failed: " + failure));
                    requests.add(answer);
                } else {
                    publishes.add(bus.publish(QUEUE, word));
                }
            }
            CompletableFuture.allOf(publishes.toArray(new CompletableFuture<?>[0])).get(30, TimeUnit.SECONDS);
            System.out.printf("%s All %d words are in Redis%n", clock(), words.size());

            Thread progress = new Thread(() -> {
                try {
                    while (true) {
                        Thread.sleep(1_000);
                        printProgress(bus);
                    }
                } catch (InterruptedException stop) {
                    // done
                }
            }, "progress");
            progress.setDaemon(true);
            progress.start();

            Worker survivor = workers.get(0);
            Worker victim = workers.get(1);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(45);
            while (enriched() < words.size() && System.nanoTime() < deadline) {
                int done = enriched();
                if (!victim.killed && (done >= words.size() / 2 && victim.running.size() >= 2 || done >= words.size() * 2 / 3)) {
                    kill(victim);
                }
                Thread.sleep(20);
            }
            progress.interrupt();
            progress.join();
            printProgress(bus);

            // Every word is enriched: the survivor closes (acknowledging what it finished), then the publisher.
            try (OutputStream stdin = survivor.process.getOutputStream()) {
                stdin.write("stop\n".getBytes(StandardCharsets.UTF_8));
            } catch (IOException gone) {
                // it died: the summary says what it did
            }
            if (!survivor.process.waitFor(20, TimeUnit.SECONDS)) System.out.println(survivor.name + " did not close within 20 s");
            survivor.reader.join(5_000);
            for (CompletableFuture<String> r : requests) {
                try {
                    r.get(5, TimeUnit.SECONDS);
                } catch (Exception reported) {
                    // printed by whenComplete above
                }
            }
            ClusterStats end = bus.stats(QUEUE).cluster();
            bus.shutdown();
            return summary(words, requests, end);
        }

        private void kill(Worker victim) {
            cutByKill.addAll(victim.unfinished);
            killNanos = System.nanoTime();
            victim.killed = true;
            victim.process.destroyForcibly(); // SIGKILL: no close, no acknowledgement, no release
            System.out.printf("%s == SIGKILL %s (pid %d) in the middle of %s. Redis keeps them pending under its name;%n"
                    + "           %s takes them over once they have been idle for the visibility timeout (%d s).%n",
                clock(), victim.name, victim.process.pid(), new TreeSet<>(cutByKill), workers.get(0).name, VISIBILITY_TIMEOUT.toSeconds());
        }

        private boolean summary(List<String> words, List<CompletableFuture<String>> requests, ClusterStats end) {
            Worker survivor = workers.get(0);
            Worker victim = workers.get(1);
            List<String> lost = words.stream().filter(w -> !finishedBy.containsKey(w)).toList();
            List<String> twice = words.stream().filter(w -> finishedBy.getOrDefault(w, List.of()).size() > 1).toList();
            long redone = cutByKill.stream().filter(w -> startedBy.getOrDefault(w, Set.of()).contains(survivor.name)).count();
            long answered = requests.stream().filter(r -> r.isDone() && !r.isCompletedExceptionally()).count();

            System.out.println();
            System.out.println("== Summary");
            System.out.printf("Words published: %d (%d with request, %d answered)%n", words.size(), requests.size(), answered);
            System.out.printf("Lookups finished: %s %d, %s %d (before it was killed); dictionary time-outs retried: %d%n",
                survivor.name, survivor.done.get(), victim.name, victim.done.get(), retries.get());
            System.out.printf("Cut by the kill: %d lookup(s), %d of them redone by %s%s%n", cutByKill.size(), redone, survivor.name,
                takeovers.isEmpty() ? "" : ", the first " + takeovers.get(0));
            long left = end == null ? -1 : end.length();
            System.out.println(left == 0 ? "Redis at the end: length 0, pending 0 (nothing left behind)"
                : "Redis at the end: " + (end == null ? "no figures" : "length " + end.length() + ", pending " + end.pending() + " (left behind!)"));
            int enriched = words.size() - lost.size();
            String how = twice.isEmpty() ? "exactly once in this run (the guarantee is at-least-once)" : "at least once";
            System.out.printf("%s %d of %d words %s%n", lost.isEmpty() ? "Every word enriched:" : "Enriched:", enriched, words.size(), how);
            if (!twice.isEmpty()) {
                StringBuilder list = new StringBuilder();
                for (String w : twice) list.append(list.length() == 0 ? "" : ", ").append(w).append(" (").append(String.join(", then ", finishedBy.get(w))).append(')');
                System.out.printf("Enriched twice: %d: %s. A worker killed after a lookup and before its acknowledgement reached%n"
                    + "Redis leaves the message pending, and the survivor runs it again: at-least-once, so handlers should be idempotent.%n", twice.size(), list);
            }
            System.out.println(lost.isEmpty() ? "Lost: none" : "LOST (never enriched): " + lost.size() + " " + lost);
            return lost.isEmpty() && left == 0;
        }

        /** Words enriched so far (by either worker). */
        private int enriched() {
            return finishedBy.size();
        }

        private void printProgress(MessageBus bus) {
            StringBuilder line = new StringBuilder(clock());
            for (Worker w : workers) {
                line.append(String.format(" %s %3d done, %s |", w.name, w.done.get(),
                    w.killed ? "KILLED " : w.running.size() + " running"));
            }
            ClusterStats c = bus.stats(QUEUE).cluster();
            if (c == null) {
                line.append(" Redis: no figures");
            } else {
                line.append(String.format(" Redis: length %3d, pending %d, lag %3d, consumers %d", c.length(), c.pending(), c.lag(), c.consumers()));
            }
            System.out.println(line);
        }

        private String clock() {
            return String.format("[%5.1fs]", (System.nanoTime() - startNanos) / 1e9);
        }

        private Worker startWorker(String name) throws IOException {
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            Process process = new ProcessBuilder(java,
                // a short-lived worker: fast start, small heap; RelayMQ's warnings go to stderr (shown as they come)
                "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m", "-Dorg.slf4j.simpleLogger.logFile=System.err",
                "-cp", ChildJvm.classpath(), RedisWordEnrichmentDemo.class.getName(), "worker", name, uri, prefix)
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
            Worker worker = new Worker(name, process);
            worker.reader = new Thread(() -> read(worker), name + "-output");
            worker.reader.setDaemon(true);
            worker.reader.start();
            return worker;
        }

        /** Follows one worker's event lines until it exits (or is killed). */
        private void read(Worker w) {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(w.process.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = out.readLine()) != null; ) {
                    String[] parts = line.split(" ");
                    switch (parts[0]) {
                        case "ready" -> w.ready.countDown();
                        case "start" -> {
                            if (parts.length != 3) continue;
                            String word = parts[1];
                            w.running.put(word, Integer.parseInt(parts[2]));
                            w.unfinished.add(word);
                            boolean first = startedBy.computeIfAbsent(word, k -> ConcurrentHashMap.newKeySet()).add(w.name);
                            if (first && cutByKill.contains(word)) {
                                String event = String.format("'%s' %.1f s after the kill", word, (System.nanoTime() - killNanos) / 1e9);
                                takeovers.add(event);
                                System.out.printf("%s   %s took over %s%n", clock(), w.name, event);
                            } else if (first && killNanos != 0 && finishedBy.containsKey(word)) {
                                System.out.printf("%s   %s runs '%s' again: %s looked it up, but was killed before its acknowledgement reached Redis%n",
                                    clock(), w.name, word, finishedBy.get(word).get(0));
                            }
                        }
                        case "failed" -> { // a dictionary time-out: the worker retries it after a backoff
                            if (parts.length != 3) continue;
                            w.running.remove(parts[1]);
                            retries.incrementAndGet();
                        }
                        case "closed" -> System.out.printf("%s %s closed (everything it finished is acknowledged)%n", clock(), w.name);
                        case "done" -> {
                            if (parts.length != 2) continue;
                            w.running.remove(parts[1]);
                            w.unfinished.remove(parts[1]);
                            w.done.incrementAndGet();
                            finishedBy.computeIfAbsent(parts[1], k -> new CopyOnWriteArrayList<>()).add(w.name);
                        }
                        default -> System.out.println(w.name + ": " + line);
                    }
                }
            } catch (IOException | RuntimeException e) {
                if (!w.killed) System.out.println(w.name + ": its output could not be read: " + e);
            }
            w.ready.countDown(); // a worker that died before it was ready must not keep the publisher waiting
        }

        private static List<String> words() {
            Set<String> unique = new LinkedHashSet<>();
            for (String raw : TEXT.split("\\W+")) {
                if (!raw.isEmpty()) unique.add(raw.toLowerCase(Locale.ROOT));
            }
            return List.copyOf(unique);
        }
    }

    // ------------------------------------------------------------------ Redis

    private static String configuredUri() {
        String uri = System.getProperty("redis.uri");
        if (uri == null || uri.isBlank()) uri = System.getenv("RELAYMQ_REDIS_URI");
        return uri == null || uri.isBlank() ? null : uri.trim();
    }

    /** Deletes this run's keys from a Redis the demo did not start (the queue is empty by now). */
    private static void deleteKeys(String uri, String prefix) {
        RedisClient client = RedisClient.create(uri);
        try (StatefulRedisConnection<String, String> connection = client.connect()) {
            ScanCursor cursor = ScanCursor.INITIAL;
            do {
                KeyScanCursor<String> keys = connection.sync().scan(cursor, ScanArgs.Builder.matches(prefix + ":*").limit(100));
                if (!keys.getKeys().isEmpty()) connection.sync().del(keys.getKeys().toArray(new String[0]));
                cursor = keys;
            } while (!cursor.isFinished());
        } catch (RuntimeException e) {
            System.out.println("Could not delete this run's keys (" + prefix + ":*): " + e);
        } finally {
            client.shutdown();
        }
    }
}
