package io.relaymq.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The figures of a {@link RedisRunner} run, by round and cell, and its report: medians of absolute
 * figures over rounds, and RelayMQ's ratios to its peers taken within each round (then their median,
 * with the per-round values).
 */
final class RedisResults {
    /** Issue 12's targets, at these concurrencies, in both persistence modes. */
    static final List<Integer> TARGET_LEVELS = List.of(8, 64);
    static final double VS_BULLMQ = 2.0;
    static final double VS_LETTUCE = 0.8;

    private final int rounds;
    private final List<Integer> levels;
    private final List<String> modes;
    private final List<String> impls;
    private final String bullSkipped;
    private final Map<String, String> versions;
    private final List<Map<String, Map<String, String>>> byRound = new ArrayList<>();

    RedisResults(int rounds, List<Integer> levels, List<String> modes, List<String> impls, String bullSkipped,
                 Map<String, String> versions) {
        this.rounds = rounds;
        this.levels = levels;
        this.modes = modes;
        this.impls = impls;
        this.bullSkipped = bullSkipped;
        this.versions = versions;
        for (int i = 0; i < rounds; i++) byRound.add(new HashMap<>());
    }

    static String cell(String impl, int concurrency, String mode) {
        return impl + "@" + concurrency + "/" + mode;
    }

    void put(int round, String cell, Map<String, String> figures) {
        byRound.get(round).put(cell, figures);
    }

    private List<Double> values(String cell, String key) {
        List<Double> out = new ArrayList<>();
        for (Map<String, Map<String, String>> round : byRound) {
            Map<String, String> f = round.get(cell);
            String v = f == null ? null : f.get(key);
            double d;
            try {
                d = v == null ? Double.NaN : Double.parseDouble(v);
            } catch (NumberFormatException e) {
                d = Double.NaN;
            }
            out.add(d);
        }
        return out;
    }

    private static double median(List<Double> values) {
        return BenchRunner.median(values.stream().filter(v -> !v.isNaN()).toList());
    }

    private static double max(List<Double> values) {
        return values.stream().filter(v -> !v.isNaN()).mapToDouble(Double::doubleValue).max().orElse(Double.NaN);
    }

    private static String join(List<Double> values, String format) {
        List<String> parts = new ArrayList<>();
        for (double v : values) parts.add(String.format(Locale.ROOT, format, v));
        return String.join(", ", parts);
    }

    private static String name(String impl) {
        return switch (impl) {
            case "relaymq" -> "RelayMQ (mq-redis)";
            case "lettuce" -> "plain Lettuce loop";
            case "bullmq" -> "BullMQ";
            default -> impl;
        };
    }

    private static String mode(String mode) {
        return mode.equals("aof") ? "AOF always" : "none";
    }

    /** Every figure of every cell, one line per round and cell. */
    String raw() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Map<String, String>> e : new TreeMap<>(byRound.get(r)).entrySet()) {
                sb.append("round=").append(r + 1).append(" cell=").append(e.getKey());
                e.getValue().forEach((k, v) -> sb.append(' ').append(k).append('=').append(v.replace(' ', '_')));
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    String report() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Redis suite, %s. Machine: %d cores (%s), %s %s; %s. %d round(s); each cell a fresh JVM and a "
                + "fresh redis-server; %s jobs per cell after %s warm-up jobs; %s producers (window %s; BullMQ: addBulk chunks of %s); "
                + "paced latency: %s jobs at %s/s.%n%n",
            LocalDate.now(), Runtime.getRuntime().availableProcessors(), cpuModel(), System.getProperty("java.vm.name"),
            System.getProperty("java.version"), versionsText(), rounds, System.getProperty("jobs", "100000"),
            System.getProperty("warmupJobs", "20000"), System.getProperty("producers", "4"), System.getProperty("window", "500"),
            System.getProperty("chunk", "500"), System.getProperty("latencyJobs", "1000"), System.getProperty("latencyRate", "200")));
        if (bullSkipped != null) sb.append("BullMQ skipped: ").append(bullSkipped).append("\n\n");
        String errors = errors();
        if (!errors.isEmpty()) sb.append("Failed cells:\n").append(errors).append('\n');
        ratios(sb);
        figures(sb);
        conditions(sb);
        return sb.toString().replace("NaN", "-");
    }

    private String versionsText() {
        List<String> parts = new ArrayList<>();
        versions.forEach((k, v) -> parts.add(k + " " + v));
        return String.join(", ", parts);
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                .map(l -> l.substring(l.indexOf(':') + 1).trim()).findFirst().orElse("?");
        } catch (Exception e) {
            return "?";
        }
    }

    private String errors() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Map<String, String>> e : new TreeMap<>(byRound.get(r)).entrySet()) {
                String error = e.getValue().get("error");
                if (error != null) sb.append(String.format("- round %d, %s: %s%n", r + 1, e.getKey(), error));
            }
        }
        return sb.toString();
    }

    private void ratios(StringBuilder sb) {
        if (!impls.contains("relaymq")) return;
        sb.append("RelayMQ's jobs/s against its peers, ratio taken within each round (median, then the per-round values). "
            + "Targets (issue 12): >= ").append(VS_BULLMQ).append("x BullMQ and >= ").append(VS_LETTUCE)
            .append("x the plain Lettuce loop at concurrency ").append(TARGET_LEVELS).append(", both persistence modes; "
            + "other concurrencies are reported.\n\n");
        sb.append("| persistence | concurrency | RelayMQ / BullMQ | target | met | RelayMQ / Lettuce | target | met |\n");
        sb.append("|---|---|---|---|---|---|---|---|\n");
        for (String mode : modes) {
            for (int level : levels) {
                sb.append("| ").append(mode(mode)).append(" | ").append(level).append(" | ");
                ratio(sb, mode, level, "bullmq", VS_BULLMQ);
                sb.append(" | ");
                ratio(sb, mode, level, "lettuce", VS_LETTUCE);
                sb.append(" |\n");
            }
        }
        sb.append('\n');
    }

    private void ratio(StringBuilder sb, String mode, int level, String peer, double target) {
        if (!impls.contains(peer) || (peer.equals("bullmq") && bullSkipped != null)) {
            sb.append("skipped | | ");
            return;
        }
        List<Double> ours = values(cell("relaymq", level, mode), "jobsPerSec");
        List<Double> theirs = values(cell(peer, level, mode), "jobsPerSec");
        List<Double> ratios = new ArrayList<>();
        for (int i = 0; i < rounds; i++) ratios.add(ours.get(i) / theirs.get(i));
        double median = median(ratios);
        boolean gated = TARGET_LEVELS.contains(level);
        sb.append(String.format(Locale.ROOT, "%.2fx (%s) | %s | %s", median, join(ratios, "%.2f"),
            gated ? ">= " + target + "x" : "reported", !gated ? "-" : Double.isNaN(median) ? "?" : median >= target ? "yes" : "**no**"));
    }

    private void figures(StringBuilder sb) {
        sb.append("Figures (median of rounds; jobs/s per round in parentheses). Jobs/s: the measured batch from its first publish "
            + "until every job was handled and acknowledged. Latency under load: publish call to handler start, over the batch "
            + "(published as fast as the producers can, so mostly time spent waiting in the backlog). Paced: one producer at a "
            + "fixed rate, no backlog.\n\n");
        sb.append("| persistence | concurrency | implementation | jobs/s | per round | p50 under load (ms) | p99 under load (ms) "
            + "| paced p50 (ms) | paced p99 (ms) | all published (s) | all handled (s) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (String mode : modes) {
            for (int level : levels) {
                for (String impl : impls) {
                    String cell = cell(impl, level, mode);
                    if (impl.equals("bullmq") && bullSkipped != null) {
                        sb.append(String.format("| %s | %d | %s | skipped | | | | | | | |%n", mode(mode), level, name(impl)));
                        continue;
                    }
                    List<Double> rate = values(cell, "jobsPerSec");
                    sb.append(String.format(Locale.ROOT, "| %s | %d | %s | %,.0f | %s | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f |%n",
                        mode(mode), level, name(impl), median(rate), join(rate, "%,.0f"),
                        median(values(cell, "p50us")) / 1000, median(values(cell, "p99us")) / 1000,
                        median(values(cell, "pacedP50us")) / 1000, median(values(cell, "pacedP99us")) / 1000,
                        median(values(cell, "publishedSec")), median(values(cell, "handledSec"))));
                }
            }
        }
        sb.append('\n');
    }

    private void conditions(StringBuilder sb) {
        sb.append("Conditions during the measured batches (median of rounds, except the worst of others' CPU): CPUs used by "
            + "redis-server, by the client (the cell's JVM, or node for BullMQ), by other processes on the machine (other "
            + "sessions' builds), disk flushes per second (fsyncs reaching the device), the AOF's size at the end.\n\n");
        sb.append("| persistence | concurrency | implementation | redis CPUs | client CPUs | others' CPUs (worst round) | disk flushes/s | AOF MB | waited for quiet (s) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|\n");
        for (String mode : modes) {
            for (int level : levels) {
                for (String impl : impls) {
                    if (impl.equals("bullmq") && bullSkipped != null) continue;
                    String cell = cell(impl, level, mode);
                    sb.append(String.format(Locale.ROOT, "| %s | %d | %s | %.2f | %.2f | %.2f | %.0f | %.1f | %.0f |%n",
                        mode(mode), level, name(impl), median(values(cell, "redisCpus")), median(values(cell, "cellCpus")),
                        max(values(cell, "otherCpus")), median(values(cell, "diskFlushesPerSec")), median(values(cell, "aofMB")),
                        max(values(cell, "waitedForQuietSeconds"))));
                }
            }
        }
    }
}
