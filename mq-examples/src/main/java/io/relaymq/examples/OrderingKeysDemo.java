package io.relaymq.examples;

import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.PublishOptions;
import io.relaymq.QueueOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Ordering keys: bank-account events must be applied in order per account, while different accounts
 * are processed in parallel by 8 consumers.
 *
 * <p>Run: {@code mvn -q -pl mq-examples -am package exec:java -DskipTests
 * -Ddemo.mainClass=io.relaymq.examples.OrderingKeysDemo}
 */
public final class OrderingKeysDemo {
    private OrderingKeysDemo() { }

    public static void main(String[] args) throws Exception {
        Map<String, List<Integer>> applied = new ConcurrentHashMap<>();
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("ledger", QueueOptions.builder().concurrency(8).build(), (Message<Integer> m) -> {
                Thread.sleep(ThreadLocalRandom.current().nextInt(1, 20)); // uneven work per event
                applied.computeIfAbsent(m.key(), k -> new ArrayList<>()).add(m.data()); // one at a time per key
            });
            bus.start();
            for (int event = 0; event < 25; event++) {
                for (String account : new String[] {"acct-1", "acct-2", "acct-3", "acct-4", "acct-5", "acct-6"}) {
                    bus.publish("ledger", event, PublishOptions.builder().key(account).build());
                }
            }
            bus.idle().get(60, TimeUnit.SECONDS);
        }
        applied.forEach((account, events) -> {
            boolean inOrder = true;
            for (int i = 0; i < events.size(); i++) inOrder &= events.get(i) == i;
            System.out.printf("%s: %d events applied %s%n", account, events.size(), inOrder ? "in publish order" : "OUT OF ORDER");
        });
    }
}
