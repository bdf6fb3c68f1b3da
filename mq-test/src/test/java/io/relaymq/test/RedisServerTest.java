package io.relaymq.test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** RedisServer from Java: static factories, options, Java getters, try-with-resources. */
class RedisServerTest {

    @Test
    void startsFromJavaWithOptionsAndClosesWithTryWithResources() throws Exception {
        Path dir;
        RedisServer.Options options = new RedisServer.Options()
            .persistence(RedisServer.Persistence.AOF_ALWAYS)
            .startTimeout(Duration.ofSeconds(20))
            .args("--maxmemory", "64mb");
        try (RedisServer redis = RedisServer.start(options)) {
            dir = redis.getDirectory();
            assertTrue(redis.isRunning());
            assertEquals("redis://127.0.0.1:" + redis.getPort(), redis.getUri());
            assertEquals(RedisServer.Persistence.AOF_ALWAYS, redis.getPersistence());
            assertEquals("+PONG", ping(redis.getPort()));
            redis.kill();
            assertFalse(redis.isRunning());
            redis.restart();
            assertEquals("+PONG", ping(redis.getPort()));
            assertTrue(redis.logTail(5).contains("Ready to accept connections"), redis.logTail());
        }
        assertFalse(Files.exists(dir));
        assertTrue(RedisServer.isAvailable());
    }

    private static String ping(int port) throws Exception {
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.getOutputStream().write("*1\r\n$4\r\nPING\r\n".getBytes(StandardCharsets.US_ASCII));
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[7];
            int n = in.readNBytes(buf, 0, 7);
            return new String(buf, 0, n - 2, StandardCharsets.US_ASCII);
        }
    }
}
