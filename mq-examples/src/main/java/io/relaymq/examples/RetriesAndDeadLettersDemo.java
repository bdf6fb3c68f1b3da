package io.relaymq.examples;

import io.relaymq.DeadLetter;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.QueueOptions;
import io.relaymq.QueueStats;
import io.relaymq.RetryPolicy;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Retries with backoff and dead letters: a mail service that times out half the time, and rejects
 * malformed addresses for good. Transient failures are retried (not blocking other mails while they
 * wait); hopeless ones go to the "mail-dead" queue with the failure attached.
 *
 * <p>Run: {@code mvn -q -pl mq-examples -am package exec:java -DskipTests
 * -Ddemo.mainClass=io.relaymq.examples.RetriesAndDeadLettersDemo}
 */
public final class RetriesAndDeadLettersDemo {
    private RetriesAndDeadLettersDemo() { }

    public static void main(String[] args) throws Exception {
        try (MessageBus bus = MessageBus.builder().build()) {
            bus.registerQueue("mail-dead", 1, (Message<DeadLetter> m) -> {
                DeadLetter letter = m.data();
                System.out.printf("  DEAD: mail %d to %s after %d attempt(s): %s: %s%n", letter.messageId(), letter.data(),
                    letter.attempts(), letter.failureClass(), letter.failureMessage());
            });
            RetryPolicy retry = RetryPolicy.builder()
                .maxAttempts(4)
                .initialBackoff(Duration.ofMillis(100))
                .maxBackoff(Duration.ofSeconds(1))
                .retryOn(failure -> failure instanceof IOException) // bad addresses are not worth a retry
                .build();
            bus.registerQueue("mail",
                QueueOptions.builder().concurrency(4).retry(retry).deadLetterQueue("mail-dead").build(),
                (Message<String> m) -> {
                    if (!m.data().contains("@")) throw new IllegalArgumentException("not an address: " + m.data());
                    if (ThreadLocalRandom.current().nextBoolean()) throw new IOException("mail server timed out");
                    System.out.printf("  sent mail %d to %s on attempt %d%n", m.id(), m.data(), m.attempt());
                });
            bus.start();
            for (String to : new String[] {"ann@example.com", "bob@example.com", "no-at-sign", "cy@example.com",
                "dee@example.com", "eve@example.com", "???", "fay@example.com"}) {
                bus.publish("mail", to);
            }
            bus.idle().get(30, TimeUnit.SECONDS);
            QueueStats s = bus.stats("mail");
            System.out.printf("mail: %d sent, %d retried attempts, %d dead-lettered%n", s.succeeded(), s.retried(), s.deadLettered());
        }
    }
}
