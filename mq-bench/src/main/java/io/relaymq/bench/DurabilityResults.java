package io.relaymq.bench;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The figures of a {@link DurabilityRunner} run, by round and cell, and the report: medians of
 * absolute figures, and ratios taken within each round (then their median, with the per-round values).
 */
final class DurabilityResults {
    static final List<String> MODEL_IMPLS = List.of("relaymq-java-paused", "model-executor", "model-direct");
    static final List<String> MEMORY_VARIANTS = List.of("alone", "idle-durable", "same-bus", "separate-bus");
    /** Throughput targets of issue 11: RelayMQ (Java threads) against tape, by number of publishers. */
    private static final Map<Integer, Double> VS_TAPE = Map.of(256, 100.0, 64, 40.0);
    /** With 1 publisher: within 1.2x of one fsync per message (the naive journal), i.e. >= 1/1.2 of it. */
    private static final double VS_NAIVE_AT_ONE = 1 / 1.2;
    private static final double RECOVERY_SECONDS = 2.0;

    private final int rounds;
    private final List<Integer> levels;
    private final int window;
    private final boolean kotlin;
    private final int recoveryMessages;
    private final List<Map<String, Map<String, String>>> byRound = new ArrayList<>();

    DurabilityResults(int rounds, List<Integer> levels, int window, boolean kotlin, int recoveryMessages) {
        this.rounds = rounds;
        this.levels = levels;
        this.window = window;
        this.kotlin = kotlin;
        this.recoveryMessages = recoveryMessages;
        for (int i = 0; i < rounds; i++) byRound.add(new HashMap<>());
    }

    void put(int round, String cell, Map<String, String> figures) {
        byRound.get(round).put(cell, figures);
    }

    /** The figure {@code key} of {@code cell} in each round that has it (NaN where missing or failed). */
    private List<Double> values(String cell, String key) {
        List<Double> out = new ArrayList<>();
        for (Map<String, Map<String, String>> round : byRound) {
            Map<String, String> f = round.get(cell);
            String v = f == null ? null : f.get(key);
            out.add(v == null ? Double.NaN : Double.parseDouble(v));
        }
        return out;
    }

    private List<Double> ratios(String cellA, String keyA, String cellB, String keyB) {
        List<Double> a = values(cellA, keyA);
        List<Double> b = values(cellB, keyB);
        List<Double> out = new ArrayList<>();
        for (int i = 0; i < rounds; i++) out.add(a.get(i) / b.get(i));
        return out;
    }

    private String errors() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Map<String, String>> e : byRound.get(r).entrySet()) {
                String error = e.getValue().get("error");
                if (error != null) sb.append(String.format("- round %d, %s: %s%n", r + 1, e.getKey(), error));
            }
        }
        return sb.toString();
    }

    /** Every figure of every cell, one line per round and cell, for re-reading later. */
    String raw() {
        StringBuilder sb = new StringBuilder();
        for (int r = 0; r < rounds; r++) {
            for (Map.Entry<String, Map<String, String>> e : new java.util.TreeMap<>(byRound.get(r)).entrySet()) {
                sb.append("round=").append(r + 1).append(" cell=").append(e.getKey());
                e.getValue().forEach((k, v) -> sb.append(' ').append(k).append('=').append(v.replace(' ', '_')));
                sb.append('\n');
            }
        }
        return sb.toString();
    }

    String report() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Durability suite, %s. Machine: %d cores, %s %s; %d round(s); each cell a fresh JVM; "
                + "warm-up %s s, %s x %s s measured.%n%n", LocalDate.now(), Runtime.getRuntime().availableProcessors(),
            System.getProperty("java.vm.name"), System.getProperty("java.version"), rounds,
            System.getProperty("warmup", "3"), System.getProperty("iterations", "3"), System.getProperty("iterationSeconds", "2")));
        String errors = errors();
        if (!errors.isEmpty()) sb.append("Failed cells:\n").append(errors).append('\n');
        throughput(sb);
        latency(sb);
        conditions(sb);
        model(sb);
        memory(sb);
        recovery(sb);
        return sb.toString().replace("NaN", "-"); // a figure of a failed or skipped cell
    }

    private boolean has(String cell) {
        return byRound.stream().anyMatch(r -> r.containsKey(cell));
    }

    private void throughput(StringBuilder sb) {
        if (!has("tape@" + levels.get(0))) return;
        sb.append("Durable publish throughput (publishes acknowledged per second; median of rounds). Publishers: platform threads "
            + "blocking on each publish (`publish(...).join()`, tape `add`, naive append+force), or coroutines calling the "
            + "suspending `publish`; the durable queue's 4 consumers run a no-op handler.\n\n");
        sb.append("| publishers | RelayMQ publishers | RelayMQ | tape | naive | vs tape: median (per round) | vs naive: median (per round) "
            + "| target | met | vs tape with 1 thread (per round) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|\n");
        List<String> ours = new ArrayList<>(List.of("relaymq-java"));
        if (kotlin) ours.add("relaymq-kotlin");
        for (int level : levels) {
            for (String impl : ours) {
                String cell = impl + "@" + level;
                List<Double> vsTape = ratios(cell, "opsPerSec", "tape@" + level, "opsPerSec");
                List<Double> vsNaive = ratios(cell, "opsPerSec", "naive@" + level, "opsPerSec");
                String target = "-";
                String met = "-";
                if (VS_TAPE.containsKey(level)) {
                    target = String.format(Locale.ROOT, ">= %.0fx tape", VS_TAPE.get(level));
                    met = median(vsTape) >= VS_TAPE.get(level) ? "yes" : "**no**";
                } else if (level == 1) {
                    target = ">= 0.83x naive (within 1.2x)";
                    met = median(vsNaive) >= VS_NAIVE_AT_ONE ? "yes" : "**no**";
                }
                sb.append(String.format(Locale.ROOT, "| %d | %s | %,.0f | %,.0f | %,.0f | %s | %s | %s | %s | %s |%n", level,
                    impl.equals("relaymq-java") ? "threads, join()" : "coroutines", median(values(cell, "opsPerSec")),
                    median(values("tape@" + level, "opsPerSec")), median(values("naive@" + level, "opsPerSec")),
                    ratio(vsTape), ratio(vsNaive), target, met,
                    has("tape@1") ? ratio(ratios(cell, "opsPerSec", "tape@1", "opsPerSec")) : "-"));
            }
        }
        if (has("window") && has("tape@1")) {
            sb.append(String.format(Locale.ROOT, "| 1 thread, %d in flight | futures | %,.0f | %,.0f (1 thread) | %,.0f (1 thread) | %s | %s | - | - | - |%n",
                window, median(values("window", "opsPerSec")), median(values("tape@1", "opsPerSec")),
                median(values("naive@1", "opsPerSec")), ratio(ratios("window", "opsPerSec", "tape@1", "opsPerSec")),
                ratio(ratios("window", "opsPerSec", "naive@1", "opsPerSec"))));
        }
        sb.append('\n');
    }

    private void latency(StringBuilder sb) {
        if (!has("tape@" + levels.get(0))) return;
        sb.append("Durable publish latency, publish call to acknowledgement (microseconds; median over rounds of each round's percentile).\n\n");
        sb.append("| publishers | implementation | p50 | p90 | p99 | p99.9 | p50 vs naive (per round) |\n|---|---|---|---|---|---|---|\n");
        List<String> impls = new ArrayList<>(List.of("relaymq-java"));
        if (kotlin) impls.add("relaymq-kotlin");
        impls.add("naive");
        impls.add("tape");
        for (int level : levels) {
            for (String impl : impls) {
                String cell = impl + "@" + level;
                sb.append(String.format(Locale.ROOT, "| %d | %s | %.0f | %.0f | %.0f | %.0f | %s |%n", level, impl,
                    median(values(cell, "p50us")), median(values(cell, "p90us")), median(values(cell, "p99us")),
                    median(values(cell, "p999us")),
                    impl.equals("naive") ? "-" : ratio(ratios(cell, "p50us", "naive@" + level, "p50us"))));
            }
        }
        if (has("window")) {
            sb.append(String.format(Locale.ROOT, "| 1 thread, %d in flight | relaymq-window | %.0f | %.0f | %.0f | %.0f | - |%n", window,
                median(values("window", "p50us")), median(values("window", "p90us")), median(values("window", "p99us")),
                median(values("window", "p999us"))));
        }
        sb.append('\n');
    }

    /**
     * What the rest of the machine did during each throughput measurement (other sessions share this VM),
     * and for RelayMQ how many publishes shared a disk flush (meaningful when nothing else flushed).
     */
    private void conditions(StringBuilder sb) {
        if (!has("tape@" + levels.get(0))) return;
        sb.append("Measurement conditions per round: CPUs kept busy by other processes, and disk flushes per second "
            + "(all processes) during the measured iterations; for RelayMQ, publishes per disk flush.\n\n");
        sb.append("| cell | others' CPUs | disk flushes/s | publishes per flush |\n|---|---|---|---|\n");
        List<String> cells = new ArrayList<>();
        for (int level : levels) {
            cells.add("tape@" + level);
            cells.add("naive@" + level);
            cells.add("relaymq-java@" + level);
            if (kotlin) cells.add("relaymq-kotlin@" + level);
        }
        if (has("window")) cells.add("window");
        for (String cell : cells) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s |%n", cell, join(values(cell, "foreignCpus"), "%.2f"),
                join(values(cell, "diskFlushesPerSec"), "%.0f"),
                cell.startsWith("relaymq") || cell.equals("window")
                    ? join(ratios(cell, "opsPerSec", cell, "diskFlushesPerSec"), "%.1f") : "-"));
        }
        sb.append('\n');
    }

    /** The diagnosis: RelayMQ's Java publish (queue paused) against {@link GroupCommitModel}'s two ways of waking. */
    private void model(StringBuilder sb) {
        if (!has("model-direct@" + levels.get(0))) return;
        sb.append("Diagnosis: publishes alone (no consumers, no completion records). RelayMQ Java threads with the queue paused, "
            + "against the smallest group commit (GroupCommitModel) waking each batch's threads directly (unpark from the writer) "
            + "or through futures completed on Dispatchers.Default (one task per publish, as RelayMQ's Java publish does).\n\n");
        sb.append("| publishers | RelayMQ Java, paused | model, futures via executor | model, direct unpark | RelayMQ vs direct (per round) "
            + "| executor vs direct (per round) | p50 us RelayMQ / executor / direct | publishes per flush RelayMQ / executor / direct |\n");
        sb.append("|---|---|---|---|---|---|---|---|\n");
        for (int level : levels) {
            String ours = "relaymq-java-paused@" + level;
            String exec = "model-executor@" + level;
            String direct = "model-direct@" + level;
            sb.append(String.format(Locale.ROOT, "| %d | %,.0f | %,.0f | %,.0f | %s | %s | %.0f / %.0f / %.0f | %.1f / %.1f / %.1f |%n", level,
                median(values(ours, "opsPerSec")), median(values(exec, "opsPerSec")), median(values(direct, "opsPerSec")),
                ratio(ratios(ours, "opsPerSec", direct, "opsPerSec")), ratio(ratios(exec, "opsPerSec", direct, "opsPerSec")),
                median(values(ours, "p50us")), median(values(exec, "p50us")), median(values(direct, "p50us")),
                median(ratios(ours, "opsPerSec", ours, "diskFlushesPerSec")), median(ratios(exec, "opsPerSec", exec, "diskFlushesPerSec")),
                median(ratios(direct, "opsPerSec", direct, "diskFlushesPerSec"))));
        }
        sb.append('\n');
    }

    private void memory(StringBuilder sb) {
        if (!has("memory:alone")) return;
        sb.append(String.format(Locale.ROOT, "In-memory queue beside a durable one: 4 threads publish batches of 100,000 (fire and forget) "
            + "to an in-memory queue with 4 counting consumers; durable load: %d threads publishing and joining.%n%n",
            InMemoryBesideDurable.DURABLE_PUBLISHERS));
        sb.append("| variant | in-memory msgs/s | vs alone: median (per round) | vs separate-bus: median (per round) | durable publishes/s alongside "
            + "| others' CPUs (per round) |\n");
        sb.append("|---|---|---|---|---|---|\n");
        for (String v : MEMORY_VARIANTS) {
            String cell = "memory:" + v;
            double durable = median(values(cell, "durableOpsPerSec"));
            sb.append(String.format(Locale.ROOT, "| %s | %,.0f | %s | %s | %s | %s |%n", v, median(values(cell, "opsPerSec")),
                v.equals("alone") ? "-" : ratio(ratios(cell, "opsPerSec", "memory:alone", "opsPerSec")),
                v.equals("same-bus") ? ratio(ratios(cell, "opsPerSec", "memory:separate-bus", "opsPerSec")) : "-",
                Double.isNaN(durable) ? "-" : String.format(Locale.ROOT, "%,.0f", durable), join(values(cell, "foreignCpus"), "%.2f")));
        }
        sb.append('\n');
    }

    private void recovery(StringBuilder sb) {
        if (!has("recovery:close") && !has("recovery:kill")) return;
        sb.append(String.format(Locale.ROOT, "Recovery of %,d pending durable messages (100-byte strings), in a fresh JVM, page cache warm. "
            + "`registerQueue` replays the journal; target: under %.0f s.%n%n", recoveryMessages, RECOVERY_SECONDS));
        sb.append("| journal left by | fill publishes/s (1 thread, 1024 in flight) | journal bytes | read+CRC32C all files, s | "
            + "registerQueue, s: median (per round) | met | start to all handled, s | registerQueue vs in-memory publish of as many "
            + "| others' CPUs during registerQueue (per round) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|\n");
        for (String mode : List.of("close", "kill")) {
            String cell = "recovery:" + mode;
            if (!has(cell)) continue;
            List<Double> register = values(cell, "registerSeconds");
            double reg = median(register);
            sb.append(String.format(Locale.ROOT, "| %s | %,.0f | %,.0f | %.3f | %.3f (%s) | %s | %.3f | %s | %s |%n",
                mode.equals("close") ? "close (1 s drain timeout)" : "halt (no close, like kill -9)",
                median(values(cell, "fillOpsPerSec")), median(values(cell, "journalBytes")),
                median(values(cell, "rawReadSeconds")), reg, join(register, "%.3f"),
                Double.isNaN(reg) ? "**failed**" : reg < RECOVERY_SECONDS ? "yes" : "**no**",
                median(values(cell, "drainSeconds")),
                has("memfill") ? ratio(ratios(cell, "registerSeconds", "memfill", "memFillSeconds")) : "-",
                join(values(cell, "foreignCpus"), "%.2f")));
        }
        if (has("memfill")) {
            sb.append(String.format(Locale.ROOT, "%nBaseline: publishing %,d messages to an in-memory queue that is not started, fresh JVM: "
                + "%.3f s (%s); starting it and handling them all: %.3f s.%n", recoveryMessages,
                median(values("memfill", "memFillSeconds")), join(values("memfill", "memFillSeconds"), "%.3f"),
                median(values("memfill", "memDrainSeconds"))));
        }
    }

    private static String ratio(List<Double> ratios) {
        double m = median(ratios);
        return Double.isNaN(m) ? "-" : String.format(Locale.ROOT, "%.2fx (%s)", m, join(ratios, "%.2f"));
    }


    private static String join(List<Double> values, String format) {
        List<String> parts = new ArrayList<>();
        for (double v : values) parts.add(Double.isNaN(v) ? "-" : String.format(Locale.ROOT, format, v));
        return String.join(", ", parts);
    }

    /** Median of the values that are numbers; NaN if none. */
    static double median(List<Double> values) {
        List<Double> present = new ArrayList<>();
        for (double v : values) if (!Double.isNaN(v) && !Double.isInfinite(v)) present.add(v);
        return BenchRunner.median(present);
    }
}
