package io.relaymq;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Java side of the close-from-own-handler matrix (the Kotlin side is {@code OwnHandlerCloseSpec}):
 * every Java handler kind × both close methods. Each close must be refused with IllegalStateException
 * at once, and the bus must go on working. The drain timeout is one hour: a close that is not refused
 * blocks its handler that long, and the bounded wait for the handler's outcome fails.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class OwnHandlerCloseTest {

    /** How the handler closes its own bus. */
    enum Close {
        SHUTDOWN(MessageBus::shutdown),
        CLOSE(MessageBus::close);

        final Consumer<MessageBus> call;

        Close(Consumer<MessageBus> call) {
            this.call = call;
        }
    }

    /** Java handler kinds; each calls {@code onCloseMe} for the message "close-me". */
    enum Kind {
        BLOCKING, BLOCKING_ON_USER_EXECUTOR, REPLYING, ASYNC;

        void register(MessageBus bus, Runnable onCloseMe) {
            switch (this) {
                case BLOCKING, BLOCKING_ON_USER_EXECUTOR -> bus.registerQueue("q", 2, (Message<String> m) -> {
                    if (m.data().equals("close-me")) onCloseMe.run();
                });
                case REPLYING -> bus.registerReplyingQueue("q", 2, (Message<String> m) -> {
                    if (m.data().equals("close-me")) onCloseMe.run();
                    return m.data().length();
                });
                case ASYNC -> bus.registerAsyncQueue("q", 2, (Message<String> m) -> {
                    if (m.data().equals("close-me")) onCloseMe.run(); // in handle() itself
                    return CompletableFuture.completedFuture(null);
                });
            }
        }
    }

    @ParameterizedTest(name = "{0} handler")
    @EnumSource(Kind.class)
    void shutdownFromTheHandlerIsRefusedAtOnce(Kind kind) throws Exception {
        refusedAtOnce(kind, Close.SHUTDOWN);
    }

    @ParameterizedTest(name = "{0} handler")
    @EnumSource(Kind.class)
    void closeFromTheHandlerIsRefusedAtOnce(Kind kind) throws Exception {
        refusedAtOnce(kind, Close.CLOSE);
    }

    private static void refusedAtOnce(Kind kind, Close close) throws Exception {
        ExecutorService userPool = Executors.newFixedThreadPool(2);
        MessageBus.Builder builder = MessageBus.builder().drainTimeout(Duration.ofHours(1));
        if (kind == Kind.BLOCKING_ON_USER_EXECUTOR) builder.executor(userPool);
        MessageBus bus = builder.build();
        AtomicReference<MessageBus> self = new AtomicReference<>(bus);
        CompletableFuture<Throwable> outcome = new CompletableFuture<>();
        try {
            kind.register(bus, () -> {
                try {
                    close.call.accept(self.get());
                    outcome.complete(null);
                } catch (Throwable t) {
                    outcome.complete(t);
                }
            });
            bus.start();
            bus.publish("q", "close-me");
            // Bounded only so that a failure does not hang the build: an unrefused close blocks for an hour.
            Throwable thrown = outcome.get(60, TimeUnit.SECONDS);
            assertInstanceOf(IllegalStateException.class, thrown, kind + " handler: " + close + " returned normally");
            assertFalse(thrown instanceof BusClosedException, String.valueOf(thrown));
            bus.publish("q", "after").get(10, TimeUnit.SECONDS);
            bus.idle().get(30, TimeUnit.SECONDS);
            assertEquals(2, bus.stats("q").succeeded());
            assertEquals(0, bus.shutdown().abandoned());
        } finally {
            userPool.shutdownNow();
        }
    }
}
