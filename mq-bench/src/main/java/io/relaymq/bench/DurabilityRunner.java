package io.relaymq.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The durability suite (issue 11): durable publish throughput and latency against square/tape and a
 * naive fsync-per-message journal, an in-memory queue beside a durable one, and recovery of a large
 * backlog. Every figure is measured in one run, in rounds; each measurement ("cell") runs in a JVM of
 * its own ({@link DurableCell}); odd rounds reverse the order of concurrency levels, implementations
 * and variants; ratios are taken per round and the report shows their median. Journals live under
 * {@code -DbenchDir} (default {@code target/bench-tmp} under the directory it runs in, which must be on a real disk, not tmpfs) and are deleted
 * after each cell.
 *
 * <pre>
 * java -jar mq-bench/target/benchmarks.jar -Donly=durability        (or: java -cp ... io.relaymq.bench.DurabilityRunner)
 * </pre>
 *
 * <p>System properties: {@code rounds} (3), {@code warmup} (3 s), {@code iterations} (3),
 * {@code iterationSeconds} (2), {@code publishers} ("1,8,64,256"), {@code window} (256),
 * {@code parts} ("throughput,memory,recovery"; "model" adds the {@link GroupCommitModel} diagnosis), {@code kotlin} (true: also Kotlin coroutine publishers),
 * {@code recoveryMessages} (1,000,000), {@code cellJvmArgs} (extra JVM arguments for every cell, e.g.
 * JFR), {@code benchDir}, {@code quietWait}, {@code quietCpus}, {@code quietFlushes} (see {@link #waitForQuiet}).
 */
public final class DurabilityRunner {
    private DurabilityRunner() { }

    public static void main(String[] args) throws Exception {
        BenchRunner.applyPropertyArguments(args);
        int rounds = Integer.getInteger("rounds", 3);
        List<Integer> levels = Arrays.stream(System.getProperty("publishers", "1,8,64,256").split(","))
            .map(String::trim).map(Integer::valueOf).toList();
        int window = Integer.getInteger("window", 256);
        List<String> parts = List.of(System.getProperty("parts", "throughput,memory,recovery").split(","));
        boolean kotlin = Boolean.parseBoolean(System.getProperty("kotlin", "true"));
        int recoveryMessages = Integer.getInteger("recoveryMessages", 1_000_000);
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path base = Path.of(System.getProperty("benchDir", "target/bench-tmp")).resolve("durability-" + stamp);
        Files.createDirectories(base);
        String store = Files.getFileStore(base).type();
        if (store.equals("tmpfs") || store.equals("ramfs")) {
            throw new IllegalStateException(base + " is on " + store + ": fsync would cost nothing. Pass -DbenchDir=<a directory on a disk>.");
        }
        System.out.printf("Durability suite: journals under %s (%s), %d round(s)%n", base, store, rounds);

        DurabilityResults results = new DurabilityResults(rounds, levels, window, kotlin, recoveryMessages);
        try {
            for (int round = 0; round < rounds; round++) {
                boolean reverse = round % 2 == 1;
                if (parts.contains("throughput")) {
                    List<String> impls = new ArrayList<>(List.of("tape", "naive", "relaymq-java"));
                    if (kotlin) impls.add("relaymq-kotlin");
                    List<Integer> order = new ArrayList<>(levels);
                    if (reverse) {
                        Collections.reverse(impls);
                        Collections.reverse(order);
                    }
                    if (!reverse) results.put(round, "window", cell(base, round, "throughput", "relaymq-window", Integer.toString(window)));
                    for (int level : order) {
                        for (String impl : impls) {
                            results.put(round, impl + "@" + level, cell(base, round, "throughput", impl, Integer.toString(level)));
                        }
                    }
                    if (reverse) results.put(round, "window", cell(base, round, "throughput", "relaymq-window", Integer.toString(window)));
                }
                if (parts.contains("model")) { // diagnosis: RelayMQ's Java publish against the smallest group commit, no consumers
                    List<String> impls = new ArrayList<>(DurabilityResults.MODEL_IMPLS);
                    List<Integer> order = new ArrayList<>(levels);
                    if (reverse) {
                        Collections.reverse(impls);
                        Collections.reverse(order);
                    }
                    for (int level : order) {
                        for (String impl : impls) {
                            results.put(round, impl + "@" + level, cell(base, round, "throughput", impl, Integer.toString(level)));
                        }
                    }
                }
                if (parts.contains("memory")) {
                    List<String> variants = new ArrayList<>(DurabilityResults.MEMORY_VARIANTS);
                    if (reverse) Collections.reverse(variants);
                    for (String variant : variants) results.put(round, "memory:" + variant, cell(base, round, "memory", variant));
                }
                if (parts.contains("recovery")) {
                    List<String> modes = new ArrayList<>(List.of("close", "kill"));
                    if (reverse) Collections.reverse(modes);
                    if (reverse) results.put(round, "memfill", cell(base, round, "memfill", Integer.toString(recoveryMessages)));
                    for (String mode : modes) {
                        Path dir = base.resolve("r" + (round + 1) + "-recovery-" + mode);
                        Map<String, String> fill = run(round, dir, false, "fill", mode, Integer.toString(recoveryMessages), dir.toString());
                        Map<String, String> both = new LinkedHashMap<>(fill);
                        if (fill.containsKey("error")) BenchFiles.delete(dir);
                        else both.putAll(run(round, dir, true, "recover", Integer.toString(recoveryMessages), dir.toString()));
                        results.put(round, "recovery:" + mode, both);
                    }
                    if (!reverse) results.put(round, "memfill", cell(base, round, "memfill", Integer.toString(recoveryMessages)));
                }
            }
        } finally {
            BenchFiles.delete(base);
        }
        BenchFiles.writeReport(stamp, "durability", results.report(), results.raw());
    }

    /** Runs one cell in a fresh directory (its last argument, except for memfill) and deletes it after. */
    private static Map<String, String> cell(Path base, int round, String kind, String... rest) throws Exception {
        Path dir = base.resolve("r" + (round + 1) + "-" + kind + "-" + String.join("-", rest));
        List<String> args = new ArrayList<>();
        args.add(kind);
        args.addAll(List.of(rest));
        if (!kind.equals("memfill")) args.add(dir.toString());
        return run(round, dir, true, args.toArray(new String[0]));
    }

    /**
     * Runs a cell in a JVM of its own and returns its figures; a cell that fails (or prints no result
     * within 10 minutes) yields {@code error=...} instead, and the suite goes on.
     */
    private static Map<String, String> run(int round, Path dir, boolean deleteAfter, String... args) throws Exception {
        try {
            return runOrThrow(round, dir, args);
        } catch (Exception e) {
            System.out.println("    FAILED: " + e.getMessage());
            Map<String, String> failed = new LinkedHashMap<>();
            failed.put("error", e.getMessage());
            return failed;
        } finally {
            if (deleteAfter) BenchFiles.delete(dir);
        }
    }

    private static Map<String, String> runOrThrow(int round, Path dir, String... args) throws Exception {
        Files.createDirectories(dir);
        double waited = waitForQuiet(MachineLoad.forDirectory(dir));
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        boolean big = args[0].equals("fill") || args[0].equals("recover") || args[0].equals("memfill");
        command.add(big ? "-Xms4g" : "-Xms2g");
        command.add(big ? "-Xmx4g" : "-Xmx2g");
        String extra = System.getProperty("cellJvmArgs", "").trim();
        if (!extra.isEmpty()) command.addAll(List.of(extra.split("\\s+")));
        for (String p : List.of("warmup", "iterations", "iterationSeconds", "durableConsumers")) {
            String v = System.getProperty(p);
            if (v != null) command.add("-D" + p + "=" + v);
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        command.add(DurableCell.class.getName());
        command.addAll(List.of(args));
        System.out.printf("--- round %d: %s%n", round + 1, String.join(" ", args));
        Map<String, String> figures = CellProcess.run(command, 10, "cell " + String.join(" ", args));
        figures.put("waitedForQuietSeconds", LoadMeasurement.fmt(waited));
        return figures;
    }

    /**
     * This VM is shared with other sessions' builds and tests: before a cell, waits (up to
     * {@code -DquietWait} seconds, default 60) until, over one second, other processes keep less than
     * {@code -DquietCpus} CPUs busy (default 0.3) and the disk completes at most {@code -DquietFlushes}
     * flushes per second (default 20). Returns the seconds waited. What the rest of the machine did
     * during each measurement is recorded by the cell itself ({@link MachineLoad}) and reported.
     */
    static double waitForQuiet(MachineLoad machine) throws InterruptedException {
        double maxCpus = Double.parseDouble(System.getProperty("quietCpus", "0.3"));
        double maxFlushes = Double.parseDouble(System.getProperty("quietFlushes", "20"));
        long start = System.nanoTime();
        long deadline = start + TimeUnit.SECONDS.toNanos(Long.getLong("quietWait", 60));
        boolean told = false;
        while (true) {
            MachineLoad.Sample a = machine.sample();
            double ownA = MachineLoad.ownCpuSeconds();
            Thread.sleep(1000);
            MachineLoad.Sample b = machine.sample();
            double cpus = MachineLoad.foreignCpus(a, b, MachineLoad.ownCpuSeconds() - ownA);
            double flushes = MachineLoad.flushesPerSecond(a, b);
            boolean quiet = cpus <= maxCpus && flushes <= maxFlushes;
            if (quiet || System.nanoTime() > deadline) {
                if (!quiet) System.out.printf("    (machine still busy: %.2f CPUs, %.0f disk flushes/s by others; measuring anyway)%n", cpus, flushes);
                return (System.nanoTime() - start) / 1e9;
            }
            if (!told) System.out.printf("    (waiting for a quieter machine: %.2f CPUs, %.0f disk flushes/s by others)%n", cpus, flushes);
            told = true;
            Thread.sleep(2000);
        }
    }

}
