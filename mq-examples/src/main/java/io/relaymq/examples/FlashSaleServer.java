package io.relaymq.examples;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.relaymq.Message;
import io.relaymq.MessageBus;
import io.relaymq.OverflowPolicy;
import io.relaymq.QueueFullException;
import io.relaymq.QueueOptions;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The flash sale: thousands of buyers, a few hundred items, a stock database that must not be flooded.
 *
 * <p>{@code GET /buy?user=...} puts the purchase into a bounded queue ({@link OverflowPolicy#REJECT}) with a
 * single consumer that decrements the stock, and answers each caller with the outcome of its own
 * purchase, taken from the request's result future: {@code 200 bought}, {@code 200 sold out}, or
 * {@code 503 too busy, retry} when the queue is full. {@code GET /stats} shows stock, bought, sold-out,
 * rejected and total. Invariants: never oversold, every request answered.
 *
 * <p>Run: {@code bash mq-examples/flash-sale.sh} (starts it and loads it with {@code ab}), or
 * {@code mvn -q -pl mq-examples -am package exec:java -DskipTests -Ddemo.mainClass=io.relaymq.examples.FlashSaleServer
 * -Dexec.args="8080 300 64"} (port, stock, queue capacity).
 */
public final class FlashSaleServer implements AutoCloseable {
    private final int initialStock;
    private final MessageBus bus;
    private final HttpServer http;
    private final ExecutorService httpThreads;
    // Touched only by the single consumer: the "database".
    private int stock;
    private final AtomicLong bought = new AtomicLong();
    private final AtomicLong soldOut = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong total = new AtomicLong();
    private final AtomicLong answered = new AtomicLong();

    public FlashSaleServer(int port, int stock, int queueCapacity) throws IOException {
        this.initialStock = stock;
        this.stock = stock;
        this.bus = MessageBus.builder().drainTimeout(Duration.ofSeconds(10)).build();
        bus.registerReplyingQueue("purchases",
            QueueOptions.builder().concurrency(1).capacity(queueCapacity).overflow(OverflowPolicy.REJECT).build(),
            (Message<String> m) -> buy(m.data()));
        bus.start();
        this.httpThreads = Executors.newFixedThreadPool(8);
        this.http = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024);
        http.setExecutor(httpThreads);
        http.createContext("/buy", this::handleBuy);
        http.createContext("/stats", exchange -> respond(exchange, 200, statsJson()));
        http.start();
    }

    /** The single consumer: one purchase at a time against the stock, like a row lock would. */
    private String buy(String user) throws InterruptedException {
        Thread.sleep(0, 200_000); // a fast database write
        if (stock > 0) {
            stock--;
            bought.incrementAndGet();
            return "bought";
        }
        soldOut.incrementAndGet();
        return "sold out";
    }

    private void handleBuy(HttpExchange exchange) {
        total.incrementAndGet();
        String user = exchange.getRequestURI().getRawQuery() == null ? "anonymous" : exchange.getRequestURI().getRawQuery();
        bus.<String>request("purchases", user).whenComplete((outcome, failure) -> {
            Throwable cause = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
            if (cause == null) {
                respond(exchange, 200, outcome);
            } else if (cause instanceof QueueFullException) {
                rejected.incrementAndGet();
                respond(exchange, 503, "too busy, retry");
            } else {
                respond(exchange, 500, "error: " + cause);
            }
        });
    }

    private void respond(HttpExchange exchange, int status, String body) {
        byte[] bytes = (body + "\n").getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = exchange.getResponseBody()) {
            exchange.sendResponseHeaders(status, bytes.length);
            out.write(bytes);
        } catch (IOException e) {
            // the client went away; nothing to tell it
        } finally {
            if (exchange.getRequestURI().getPath().equals("/buy")) answered.incrementAndGet();
        }
    }

    /** Figures as JSON: stock, bought, soldOut, rejected, total, answered. */
    public String statsJson() {
        return String.format("{\"initialStock\":%d,\"stock\":%d,\"bought\":%d,\"soldOut\":%d,\"rejected\":%d,\"total\":%d,\"answered\":%d}",
            initialStock, initialStock - bought.get(), bought.get(), soldOut.get(), rejected.get(), total.get(), answered.get());
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public long bought() {
        return bought.get();
    }

    public long answered() {
        return answered.get();
    }

    public long total() {
        return total.get();
    }

    @Override
    public void close() {
        http.stop(0);
        bus.close();
        httpThreads.shutdown();
        try {
            httpThreads.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    public static void main(String[] args) throws Exception {
        int port = args.length > 0 ? Integer.parseInt(args[0]) : 8080;
        int stock = args.length > 1 ? Integer.parseInt(args[1]) : 300;
        int capacity = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        FlashSaleServer server = new FlashSaleServer(port, stock, capacity);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("Final stats: " + server.statsJson());
            server.close();
        }));
        System.out.printf("Flash sale on http://127.0.0.1:%d/buy (stock %d, queue capacity %d); stats at /stats%n",
            server.port(), stock, capacity);
        Thread.currentThread().join();
    }
}
