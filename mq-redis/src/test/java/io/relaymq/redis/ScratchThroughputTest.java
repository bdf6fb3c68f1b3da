package io.relaymq.redis;

import io.relaymq.MessageBus;
import io.relaymq.MessageHandler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfEnvironmentVariable;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

class ScratchThroughputTest {
    static double redisCpu(int port) throws Exception {
        try (java.net.Socket socket = new java.net.Socket("127.0.0.1", port)) {
            socket.getOutputStream().write("INFO cpu\r\n".getBytes());
            byte[] buf = new byte[4096];
            Thread.sleep(50);
            int n = socket.getInputStream().read(buf);
            double total = 0;
            for (String line : new String(buf, 0, n).split("\r\n")) {
                if (line.startsWith("used_cpu_sys:") || line.startsWith("used_cpu_user:")) total += Double.parseDouble(line.substring(line.indexOf(':') + 1));
            }
            return total;
        }
    }

    @Test
    @EnabledIfEnvironmentVariable(named = "SCRATCH", matches = ".*")
    void scratch() throws Exception {
        jdk.jfr.Recording recording = new jdk.jfr.Recording();
        recording.enable("jdk.ExecutionSample").withPeriod(java.time.Duration.ofMillis(1)).withStackTrace();
        recording.start();
        try (TestRedis redis = new TestRedis(false)) {
            for (int c : new int[] {8}) {
                int n = Integer.parseInt(System.getenv().getOrDefault("SCRATCH_N", "100000"));
                CountDownLatch done = new CountDownLatch(n);
                MessageBus bus = MessageBus.builder().backend(RedisStreams.builder(redis.getUri()).keyPrefix("s" + c).build()).build();
                bus.registerQueue("jobs", c, (MessageHandler<String>) m -> done.countDown());
                bus.start();
                double r0 = redisCpu(redis.getPort());
                long j0 = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
                long t0 = System.nanoTime();
                Thread[] producers = new Thread[4];
                for (int p = 0; p < 4; p++) {
                    int pp = p;
                    producers[p] = new Thread(() -> {
                        Semaphore window = new Semaphore(1000);
                        for (int i = 0; i < n / 4; i++) {
                            window.acquireUninterruptibly();
                            bus.publish("jobs", "job-" + pp + "-" + i).whenComplete((id, e) -> window.release());
                        }
                    });
                    producers[p].start();
                }
                for (Thread t : producers) t.join();
                long t1 = System.nanoTime();
                done.await(300, TimeUnit.SECONDS);
                long t2 = System.nanoTime();
                double r1 = redisCpu(redis.getPort());
                long j1 = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
                System.out.printf("c=%d publish %.0f/s end-to-end %.0f/s wall %.2fs redisCpu %.2fs jvmCpu %.2fs%n", c, n * 1e9 / (t1 - t0), n * 1e9 / (t2 - t0), (t2 - t0) / 1e9, r1 - r0, (j1 - j0) / 1e9);
                bus.close();
            }
        }
        recording.dump(java.nio.file.Path.of("/tmp/redis.jfr"));
    }
}
