package io.relaymq.bench;

import io.relaymq.test.RedisServer;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One measurement of the Redis suite, run by {@link RedisRunner} in a JVM of its own, on a fresh
 * {@code redis-server} of its own ({@link RedisServer}, directory under {@code dir}). Prints its
 * figures as one line {@code RESULT key=value ...}. Arguments:
 *
 * <pre>
 * &lt;impl&gt; &lt;concurrency&gt; &lt;none|aof&gt; &lt;dir&gt; [&lt;nodeDir&gt;]     impl: relaymq, lettuce, bullmq
 * </pre>
 *
 * A cell: warm-up batch ({@code warmupJobs}, default 20,000), then the measured batch ({@code jobs},
 * default 100,000) published as fast as the producers can ({@code producers} threads, 4, with
 * {@code window} publishes in flight each, 500; BullMQ: {@code addBulk} chunks of {@code chunk}, 500,
 * {@code producers} chunks in flight), then a paced batch for latency without a backlog
 * ({@code latencyJobs}, 1,000, at {@code latencyRate} per second, 200). The Lettuce loop reads
 * {@code lettuceCount} (100) messages per XREADGROUP.
 */
public final class RedisCell {
    private RedisCell() { }

    public static void main(String[] args) throws Exception {
        String impl = args[0];
        int concurrency = Integer.parseInt(args[1]);
        RedisServer.Persistence persistence = switch (args[2]) {
            case "none" -> RedisServer.Persistence.NONE;
            case "aof" -> RedisServer.Persistence.AOF_ALWAYS;
            default -> throw new IllegalArgumentException("persistence is none or aof, was " + args[2]);
        };
        Path dir = Path.of(args[3]);
        Files.createDirectories(dir);
        int jobs = Integer.getInteger("jobs", 100_000);
        int warmupJobs = Integer.getInteger("warmupJobs", 20_000);
        int producers = Integer.getInteger("producers", 4);
        int window = Integer.getInteger("window", 500);
        int latencyJobs = Integer.getInteger("latencyJobs", 1_000);
        int latencyRate = Integer.getInteger("latencyRate", 200);
        MachineLoad machine = MachineLoad.forDirectory(dir);
        Map<String, String> figures = new LinkedHashMap<>();
        try (RedisServer redis = RedisServer.start(new RedisServer.Options().persistence(persistence).parentDirectory(dir))) {
            if (impl.equals("bullmq")) {
                figures.putAll(bullmq(redis, Path.of(args[4]), concurrency, jobs, warmupJobs, machine));
            } else {
                try (RedisJobsTarget target = switch (impl) {
                    case "relaymq" -> new RelayRedisJobsTarget(redis.getUri(), concurrency);
                    case "lettuce" -> new LettuceJobsTarget(redis.getUri(), concurrency, Integer.getInteger("lettuceCount", 100));
                    default -> throw new IllegalArgumentException("unknown impl " + impl);
                }) {
                    if (warmupJobs > 0) target.run(new JobMeter(warmupJobs), producers, window);
                    double redisCpu = cpuSeconds(redis.getPid());
                    double own = MachineLoad.ownCpuSeconds();
                    long t0 = System.nanoTime();
                    MachineLoad.Window load = machine.window();
                    figures.putAll(target.run(new JobMeter(jobs), producers, window));
                    figures.putAll(load.end());
                    double seconds = (System.nanoTime() - t0) / 1e9;
                    figures.put("redisCpus", LoadMeasurement.fmt((cpuSeconds(redis.getPid()) - redisCpu) / seconds));
                    figures.put("otherCpus", LoadMeasurement.fmt(Math.max(0, Double.parseDouble(figures.get("foreignCpus"))
                        - Double.parseDouble(figures.get("redisCpus")))));
                    figures.put("cellCpus", LoadMeasurement.fmt((MachineLoad.ownCpuSeconds() - own) / seconds));
                    if (latencyJobs > 0) figures.putAll(target.runPaced(new JobMeter(latencyJobs), latencyRate));
                }
            }
            figures.put("aofMB", LoadMeasurement.fmt(aofBytes(redis.getDirectory()) / 1e6));
        }
        print(figures);
        System.exit(0); // a client that failed to close must not keep the JVM alive
    }

    /** Runs the BullMQ peer ({@code bullmq-bench.mjs} in {@code nodeDir}, node_modules installed) on {@code redis}. */
    private static Map<String, String> bullmq(RedisServer redis, Path nodeDir, int concurrency, int jobs, int warmupJobs,
                                              MachineLoad machine) throws Exception {
        List<String> command = new ArrayList<>(List.of("node", "bullmq-bench.mjs",
            "--port", Integer.toString(redis.getPort()),
            "--jobs", Integer.toString(jobs),
            "--warmup", Integer.toString(warmupJobs),
            "--concurrency", Integer.toString(concurrency),
            "--chunk", Integer.getInteger("chunk", 500).toString(),
            "--inflight", Integer.getInteger("producers", 4).toString(),
            "--latencyJobs", Integer.getInteger("latencyJobs", 1_000).toString(),
            "--latencyRate", Integer.getInteger("latencyRate", 200).toString()));
        Process node = new ProcessBuilder(command).directory(nodeDir.toFile())
            .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Map<String, String> figures = new LinkedHashMap<>();
        MachineLoad.Window load = null;
        double redisCpu = 0;
        long t0 = 0;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(node.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.equals("MEASURE-START")) {
                    redisCpu = cpuSeconds(redis.getPid());
                    t0 = System.nanoTime();
                    load = machine.window();
                } else if (line.equals("MEASURE-END") && load != null) {
                    figures.putAll(load.end());
                    figures.put("redisCpus", LoadMeasurement.fmt((cpuSeconds(redis.getPid()) - redisCpu) / ((System.nanoTime() - t0) / 1e9)));
                } else if (line.startsWith("RESULT-JSON ")) {
                    Matcher m = Pattern.compile("\"(\\w+)\":\"?([^,\"}]*)\"?").matcher(line.substring("RESULT-JSON ".length()));
                    while (m.find()) figures.put(m.group(1), m.group(2));
                } else {
                    System.out.println("node: " + line);
                }
            }
        }
        int exit = node.waitFor();
        if (exit != 0 || !figures.containsKey("jobsPerSec")) throw new IllegalStateException("node exited with " + exit + " without a result");
        double foreign = Double.parseDouble(figures.getOrDefault("foreignCpus", "0"));
        figures.put("otherCpus", LoadMeasurement.fmt(Math.max(0, foreign - Double.parseDouble(figures.getOrDefault("redisCpus", "0"))
            - Double.parseDouble(figures.getOrDefault("nodeCpus", "0")))));
        figures.put("cellCpus", figures.getOrDefault("nodeCpus", "0"));
        return figures;
    }

    /** CPU seconds (user + system) of process {@code pid} so far, from /proc; 0 when unknown. */
    static double cpuSeconds(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / MachineLoad.HZ; // fields 14 and 15: utime, stime
        } catch (Exception e) {
            return 0;
        }
    }

    private static long aofBytes(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(p -> p.getFileName().toString().contains("appendonly")).filter(Files::isRegularFile)
                .mapToLong(p -> p.toFile().length()).sum();
        } catch (Exception e) {
            return 0;
        }
    }

    private static void print(Map<String, String> figures) {
        StringBuilder line = new StringBuilder("RESULT");
        figures.forEach((k, v) -> line.append(' ').append(k).append('=').append(v.replace(' ', '_')));
        System.out.println(line);
        System.out.flush();
    }
}
