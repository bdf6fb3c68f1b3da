package io.relaymq.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The flash-sale invariant under concurrent load: never oversold, every request answered. */
class FlashSaleTest {
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void neverOversoldEveryRequestAnswered() throws Exception {
        int stock = 150;
        int requests = 3_000;
        try (FlashSaleServer server = new FlashSaleServer(0, stock, 16)) {
            ExecutorService pool = Executors.newFixedThreadPool(32);
            HttpClient client = HttpClient.newBuilder().executor(pool).build();
            Map<String, AtomicInteger> outcomes = new ConcurrentHashMap<>();
            List<CompletableFuture<Void>> calls = new ArrayList<>();
            for (int i = 0; i < requests; i++) {
                HttpRequest request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/buy?user=" + i)).build();
                calls.add(client.sendAsync(request, HttpResponse.BodyHandlers.ofString())
                    .thenAccept(r -> outcomes.computeIfAbsent(r.statusCode() + " " + r.body().trim(), k -> new AtomicInteger()).incrementAndGet()));
                if (i % 200 == 0) CompletableFuture.allOf(calls.toArray(new CompletableFuture[0])).join(); // bounded in-flight
            }
            CompletableFuture.allOf(calls.toArray(new CompletableFuture[0])).get(45, TimeUnit.SECONDS);
            pool.shutdownNow();

            int bought = count(outcomes, "200 bought");
            int soldOut = count(outcomes, "200 sold out");
            int busy = count(outcomes, "503 too busy, retry");
            assertEquals(requests, bought + soldOut + busy, "every request gets one of the three answers: " + outcomes);
            assertTrue(bought <= stock, "never oversold: " + outcomes);
            assertEquals(bought, server.bought());
            assertEquals(requests, server.total());
            assertEquals(requests, server.answered());
            assertTrue(bought > 0, "the sale sold something: " + outcomes);
            if (soldOut > 0) assertEquals(stock, bought, "sold out only once the stock is gone");
        }
    }

    private static int count(Map<String, AtomicInteger> outcomes, String key) {
        AtomicInteger n = outcomes.get(key);
        return n == null ? 0 : n.get();
    }
}
