package io.relaymq.examples;

import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.QueueOptions;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A durable queue survives {@code kill -9}: a child JVM publishes mails to a durable queue from 8
 * threads, with a slow mail sender, and prints each id whose publish completed; this program kills it
 * with SIGKILL after 2 seconds, then registers the same queue on a new bus, which replays every mail
 * that was not sent, and checks that every acknowledged mail was sent by one of the two.
 *
 * <p>Run: {@code mvn -q -B -pl mq-examples -am package exec:java -DskipTests
 * -Ddemo.mainClass=io.relaymq.examples.DurableQueueDemo}
 */
public final class DurableQueueDemo {
    private DurableQueueDemo() { }

    public static void main(String[] args) throws Exception {
        if (args.length == 2 && args[0].equals("child")) {
            child(Path.of(args[1]));
            return;
        }
        Path journal = Files.createTempDirectory("relaymq-durable-demo");
        try {
            parent(journal);
        } finally {
            try (Stream<Path> files = Files.walk(journal)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void parent(Path journal) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process child = new ProcessBuilder(java, "-cp", ChildJvm.classpath(), DurableQueueDemo.class.getName(), "child", journal.toString())
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .start();
        Set<Long> acked = ConcurrentHashMap.newKeySet();
        Set<Long> sentBeforeCrash = ConcurrentHashMap.newKeySet();
        Thread reader = new Thread(() -> {
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = out.readLine()) != null; ) {
                    String[] parts = line.split(" ");
                    if (parts.length != 2) continue; // a line cut by the kill
                    try {
                        long id = Long.parseLong(parts[1]);
                        if (parts[0].equals("acked")) acked.add(id);
                        if (parts[0].equals("sent")) sentBeforeCrash.add(id);
                    } catch (NumberFormatException cut) {
                        // a line cut by the kill
                    }
                }
            } catch (IOException e) {
                // the child died: that is the point
            }
        });
        reader.start();
        Thread.sleep(2_000);
        child.destroyForcibly(); // SIGKILL: no shutdown hook, no close, no snapshot
        child.waitFor();
        reader.join();
        System.out.printf("child killed: %d mails acknowledged as durable, %d sent before the kill%n", acked.size(), sentBeforeCrash.size());

        Set<Long> sentAfterRestart = ConcurrentHashMap.newKeySet();
        try (MessageBus bus = MessageBus.builder().journalDirectory(journal).build()) {
            bus.registerQueue("mail", QueueOptions.builder().concurrency(8).durable(true).build(),
                (Message<String> m) -> sentAfterRestart.add(m.id()));
            System.out.printf("new bus: %d mails recovered from the journal%n", bus.stats("mail").pending());
            bus.start();
            bus.idle().get(60, TimeUnit.SECONDS);
        }
        Set<Long> lost = acked.stream()
            .filter(id -> !sentBeforeCrash.contains(id) && !sentAfterRestart.contains(id))
            .collect(Collectors.toSet());
        System.out.printf("sent after the restart: %d; acknowledged mails never sent: %d%s%n",
            sentAfterRestart.size(), lost.size(), lost.isEmpty() ? " (none lost)" : " " + lost);
        if (!lost.isEmpty()) System.exit(1);
    }

    private static void child(Path journal) throws Exception {
        MessageBus bus = MessageBus.builder().journalDirectory(journal).build();
        bus.registerQueue("mail", QueueOptions.builder().concurrency(4).durable(true).build(), (Message<String> m) -> {
            Thread.sleep(5); // a slow mail server
            say("sent " + m.id());
        });
        bus.start();
        for (int t = 0; t < 8; t++) {
            int thread = t;
            new Thread(() -> {
                for (int i = 0; ; i++) {
                    long id = bus.publish("mail", "mail " + i + " from thread " + thread).join(); // durable once it returns
                    say("acked " + id);
                }
            }).start();
        }
        Thread.sleep(Long.MAX_VALUE);
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }
}
