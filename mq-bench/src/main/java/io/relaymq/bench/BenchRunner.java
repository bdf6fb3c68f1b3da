package io.relaymq.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the whole suite in several rounds and prints ratios against the peers measured in the same run.
 *
 * <p>Each round runs every scenario in one forked JVM per implementation; odd rounds reverse the order of
 * scenarios and of implementations, so that no implementation always runs first (cold machine) or last
 * (hot machine). A ratio is computed per round, between figures measured minutes apart, and the table
 * shows the median of those ratios. Raw JMH JSON for every round lands in {@code bench-results/}.
 *
 * <p>System properties: {@code rounds} (default 3), {@code warmups} (default 4), {@code iterations}
 * (default 5), each iteration 1 s; {@code only} (a scenario name) to run one scenario, or
 * {@code only=durability} to run {@link DurabilityRunner} (issue 11's durable queue benchmarks) instead, or
 * {@code only=redis} to run {@link RedisRunner} (issue 12's Redis Streams backend against BullMQ and Lettuce).
 */
public final class BenchRunner {
    /** A target: our figure against a peer's, as a ratio; {@code gated} false for reported-only ceilings. */
    record Target(String peer, double ratio, boolean gated) { }

    /** {@code params}: further JMH parameters of the bench class fixed for this scenario (say its shape). */
    record Scenario(String name, Class<?> bench, String method, List<String> impls, String ours,
                    boolean lowerIsBetter, List<Target> targets, Map<String, String> params) {
        Scenario(String name, Class<?> bench, String method, List<String> impls, String ours,
                 boolean lowerIsBetter, List<Target> targets) {
            this(name, bench, method, impls, ours, lowerIsBetter, targets, Map.of());
        }
    }

    static final List<Scenario> SCENARIOS = List.of(
        new Scenario("1P->1C Kotlin publish", OneToOneBench.class, "messages",
            List.of("relaymq", "channel", "executor", "disruptor", "vertx"), "relaymq", false,
            List.of(new Target("channel", 0.8, true), new Target("executor", 1.5, true),
                new Target("disruptor", 0, false), new Target("vertx", 0, false))),
        new Scenario("4P->4C", FourToFourBench.class, "messages",
            List.of("relaymq", "channel", "executor"), "relaymq", false,
            List.of(new Target("channel", 0.8, true), new Target("executor", 1.5, true))),
        new Scenario("fan-in 8P->1C", FanInBench.class, "messages",
            List.of("relaymq", "channel", "executor", "guava"), "relaymq", false,
            List.of(new Target("channel", 0.8, true), new Target("executor", 0, false), new Target("guava", 3.0, true))),
        javaBlocking("1P->1C", "1x1"),
        javaBlocking("4P->4C", "4x4"),
        javaBlocking("8P->1C", "8x1"),
        new Scenario("Java publish (CompletableFuture)", JavaPublishBench.class, "messages",
            List.of("relaymq-java", "runAsync"), "relaymq-java", false,
            List.of(new Target("runAsync", 1.5, true))),
        new Scenario("publish-and-await round trip (p50)", RoundTripBench.class, "roundTrip",
            List.of("relaymq", "pingpong", "supplyAsync"), "relaymq", true,
            List.of(new Target("pingpong", 1.2, true), new Target("supplyAsync", 0, false))));

    private BenchRunner() { }

    /** Java publish from plain threads into a blocking {@code MessageHandler}, against the executor. */
    private static Scenario javaBlocking(String label, String shape) {
        return new Scenario("Java blocking handler " + label, JavaBlockingBench.class, "messages",
            List.of("relaymq-java", "executor"), "relaymq-java", false,
            List.of(new Target("executor", 1.5, true)), Map.of("shape", shape));
    }

    public static void main(String[] args) throws Exception {
        applyPropertyArguments(args);
        int rounds = Integer.getInteger("rounds", 3);
        int warmups = Integer.getInteger("warmups", 4);
        int iterations = Integer.getInteger("iterations", 5);
        String only = System.getProperty("only");
        if (only != null && only.startsWith("durab")) { // the durability suite: plain JVMs per cell, not JMH
            DurabilityRunner.main(args);
            return;
        }
        if (only != null && only.equals("redis")) { // the Redis suite: a JVM and a redis-server per cell, not JMH
            RedisRunner.main(args);
            return;
        }
        Path out = Path.of("bench-results");
        Files.createDirectories(out);
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));

        // scenario -> impl -> per-round figures (score, bytes/op)
        Map<String, Map<String, List<Double>>> scores = new LinkedHashMap<>();
        Map<String, Map<String, List<Double>>> alloc = new LinkedHashMap<>();
        Map<String, List<Double>> pendingBytes = new LinkedHashMap<>();

        for (int round = 0; round < rounds; round++) {
            List<Scenario> order = new ArrayList<>(SCENARIOS);
            if (round % 2 == 1) java.util.Collections.reverse(order);
            for (Scenario s : order) {
                if (only != null && !s.name().startsWith(only)) continue;
                List<String> impls = new ArrayList<>(s.impls());
                if (round % 2 == 1) java.util.Collections.reverse(impls);
                System.out.printf("%n=== round %d/%d: %s, order %s%n", round + 1, rounds, s.name(), impls);
                Path json = out.resolve(stamp + "-round" + (round + 1) + "-" + s.bench().getSimpleName()
                    + s.params().values().stream().map(v -> "-" + v).reduce("", String::concat) + ".json");
                OptionsBuilder builder = new OptionsBuilder();
                s.params().forEach(builder::param);
                Options options = builder
                    .include(Pattern.quote(s.bench().getName()) + "\\." + s.method() + "$")
                    .param("impl", impls.toArray(new String[0]))
                    .forks(1)
                    .warmupIterations(warmups).warmupTime(TimeValue.seconds(1))
                    .measurementIterations(iterations).measurementTime(TimeValue.seconds(1))
                    .jvmArgs("-Xms2g", "-Xmx2g")
                    .addProfiler(GCProfiler.class)
                    .resultFormat(ResultFormatType.JSON).result(json.toString())
                    .shouldFailOnError(true)
                    .build();
                Collection<RunResult> results = new Runner(options).run();
                for (RunResult r : results) {
                    String impl = r.getParams().getParam("impl");
                    Result<?> primary = r.getPrimaryResult();
                    double score = s.lowerIsBetter() ? primary.getStatistics().getPercentile(50.0) : primary.getScore();
                    scores.computeIfAbsent(s.name(), k -> new LinkedHashMap<>())
                        .computeIfAbsent(impl, k -> new ArrayList<>()).add(score);
                    double bytes = r.getSecondaryResults().entrySet().stream()
                        .filter(e -> e.getKey().endsWith("gc.alloc.rate.norm"))
                        .mapToDouble(e -> e.getValue().getScore()).findFirst().orElse(Double.NaN);
                    alloc.computeIfAbsent(s.name(), k -> new LinkedHashMap<>())
                        .computeIfAbsent(impl, k -> new ArrayList<>()).add(bytes);
                }
            }
            if (only == null || "pending".startsWith(only)) {
                System.out.printf("%n=== round %d/%d: 1,000,000 pending messages%n", round + 1, rounds);
                PendingMemory.measure().forEach((k, v) -> pendingBytes.computeIfAbsent(k, x -> new ArrayList<>()).add(v));
            }
        }

        String report = report(rounds, scores, alloc, pendingBytes);
        System.out.println();
        System.out.println(report);
        Path summary = out.resolve(stamp + "-summary.md");
        Files.writeString(summary, report);
        System.out.println("Raw JMH JSON and this summary: " + out.toAbsolutePath() + "/" + stamp + "-*");
    }

    /**
     * {@code java -jar benchmarks.jar -Donly=durability} passes {@code -Donly=durability} as a program
     * argument, not as a system property: apply such arguments as properties, so that both orders work.
     */
    static void applyPropertyArguments(String[] args) {
        for (String arg : args) {
            if (!arg.startsWith("-D")) throw new IllegalArgumentException("unknown argument " + arg + " (options are -Dname=value)");
            int eq = arg.indexOf('=');
            System.setProperty(eq < 0 ? arg.substring(2) : arg.substring(2, eq), eq < 0 ? "true" : arg.substring(eq + 1));
        }
    }

    private static String report(int rounds, Map<String, Map<String, List<Double>>> scores,
                                 Map<String, Map<String, List<Double>>> alloc, Map<String, List<Double>> pending) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Machine: %d cores, %s %s, %s; %d round(s)%n%n",
            Runtime.getRuntime().availableProcessors(), System.getProperty("java.vm.name"),
            System.getProperty("java.version"), System.getProperty("os.arch"), rounds));
        sb.append("| scenario | vs peer | median ratio (per-round ratios) | target | met |\n|---|---|---|---|---|\n");
        for (Scenario s : SCENARIOS) {
            Map<String, List<Double>> byImpl = scores.get(s.name());
            if (byImpl == null) continue;
            List<Double> ours = byImpl.get(s.ours());
            for (Target t : s.targets()) {
                List<Double> peer = byImpl.get(t.peer());
                List<Double> ratios = new ArrayList<>();
                for (int i = 0; i < Math.min(ours.size(), peer.size()); i++) ratios.add(ours.get(i) / peer.get(i));
                double median = median(ratios);
                String target = !t.gated() ? "reported" : (s.lowerIsBetter() ? "<= " : ">= ") + t.ratio() + "x";
                String met = !t.gated() ? "-" : ((s.lowerIsBetter() ? median <= t.ratio() : median >= t.ratio()) ? "yes" : "**no**");
                sb.append(String.format(Locale.ROOT, "| %s | %s | %.2fx (%s) | %s | %s |%n", s.name(), t.peer(), median,
                    join(ratios, "%.2f"), target, met));
            }
        }
        sb.append("\n| scenario | implementation | median score | bytes allocated per message |\n|---|---|---|---|\n");
        for (Scenario s : SCENARIOS) {
            Map<String, List<Double>> byImpl = scores.get(s.name());
            if (byImpl == null) continue;
            for (String impl : s.impls()) {
                String unit = s.lowerIsBetter() ? "us per round trip" : "msgs/s";
                double score = median(byImpl.get(impl));
                String shown = s.lowerIsBetter() ? String.format(Locale.ROOT, "%.2f %s", score, unit)
                    : String.format(Locale.ROOT, "%,.0f %s", score, unit);
                // JMH's gc.alloc.rate.norm is already per operation (OperationsPerInvocation applied).
                sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %.0f |%n", s.name(), impl, shown,
                    median(alloc.get(s.name()).get(impl))));
            }
        }
        if (!pending.isEmpty()) {
            sb.append("\n| 1,000,000 pending messages | bytes per message beyond the payload (median) | target |\n|---|---|---|\n");
            pending.forEach((k, v) -> sb.append(String.format(Locale.ROOT, "| %s | %.1f | %s |%n", k, median(v),
                k.startsWith("relaymq") ? "<= 32" + (median(v) <= 32 ? " (met)" : " (**not met**)") : "peer")));
        }
        return sb.toString();
    }

    private static String join(List<Double> values, String format) {
        List<String> parts = new ArrayList<>();
        for (double v : values) parts.add(String.format(Locale.ROOT, format, v));
        return String.join(", ", parts);
    }

    static double median(List<Double> values) {
        if (values == null || values.isEmpty()) return Double.NaN;
        List<Double> sorted = new ArrayList<>(values);
        sorted.sort(Double::compare);
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }
}
