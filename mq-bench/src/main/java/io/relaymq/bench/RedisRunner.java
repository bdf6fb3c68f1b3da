package io.relaymq.bench;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
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
 * The Redis suite (issue 12): jobs per second end to end (publish, handled, acknowledged) and
 * publish-to-handler latency of RelayMQ on mq-redis against BullMQ (Node) and a plain Lettuce loop,
 * at several consumer concurrencies, with Redis without persistence and with AOF {@code appendfsync
 * always}. Every cell ({@link RedisCell}) runs in a JVM of its own on a fresh {@code redis-server};
 * odd rounds reverse the order of persistence modes, concurrencies and implementations; ratios are
 * taken per round and the report shows their median.
 *
 * <pre>
 * java -jar mq-bench/target/benchmarks.jar -Donly=redis        (or: java -cp ... io.relaymq.bench.RedisRunner)
 * </pre>
 *
 * <p>System properties: {@code rounds} (3), {@code jobs} (100,000), {@code warmupJobs} (20,000),
 * {@code concurrency} ("1,8,64"), {@code persistence} ("none,aof"), {@code impls}
 * ("relaymq,lettuce,bullmq"), {@code producers} (4), {@code window} (500), {@code chunk} (500),
 * {@code lettuceCount} (100), {@code latencyJobs} (1,000), {@code latencyRate} (200),
 * {@code benchDir} (target/bench-tmp: Redis's directories, on a real disk for AOF), {@code nodeDir}
 * (where BullMQ is installed with npm ci; default mq-bench/target/bullmq), {@code cellJvmArgs},
 * {@code quietWait}, {@code quietCpus}, {@code quietFlushes} (see {@link DurabilityRunner#waitForQuiet}).
 * Without node and npm (or when npm ci fails) BullMQ's cells are reported as skipped, with the reason.
 */
public final class RedisRunner {
    static final List<String> IMPLS = List.of("relaymq", "lettuce", "bullmq");
    /** Cell properties passed on to every cell JVM. */
    private static final List<String> CELL_PROPERTIES = List.of("jobs", "warmupJobs", "producers", "window", "chunk",
        "lettuceCount", "latencyJobs", "latencyRate", "relaymq.redis.server");

    private RedisRunner() { }

    public static void main(String[] args) throws Exception {
        BenchRunner.applyPropertyArguments(args);
        int rounds = Integer.getInteger("rounds", 3);
        List<Integer> levels = Arrays.stream(System.getProperty("concurrency", "1,8,64").split(","))
            .map(String::trim).map(Integer::valueOf).toList();
        List<String> modes = List.of(System.getProperty("persistence", "none,aof").split(","));
        List<String> impls = List.of(System.getProperty("impls", String.join(",", IMPLS)).split(","));
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path base = Path.of(System.getProperty("benchDir", "target/bench-tmp")).toAbsolutePath().resolve("redis-" + stamp);
        Files.createDirectories(base);
        String store = Files.getFileStore(base).type();
        if (modes.contains("aof") && (store.equals("tmpfs") || store.equals("ramfs"))) {
            throw new IllegalStateException(base + " is on " + store + ": fsync would cost nothing. Pass -DbenchDir=<a directory on a disk>.");
        }
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("redis-server", firstLine(io.relaymq.test.RedisServer.findExecutable().toString(), "--version")
            .replaceAll(".*v=(\\S+).*", "$1"));
        Path nodeDir = null;
        String bullSkipped = null;
        if (impls.contains("bullmq")) {
            try {
                nodeDir = installBullmq(versions);
            } catch (Exception e) {
                bullSkipped = e.getMessage();
                System.out.println("BullMQ skipped: " + bullSkipped);
            }
        }
        versions.put("lettuce", mavenVersion("io.lettuce", "lettuce-core"));
        System.out.printf("Redis suite: Redis directories under %s (%s), %d round(s), %s jobs per cell%n", base, store, rounds,
            System.getProperty("jobs", "100000"));

        RedisResults results = new RedisResults(rounds, levels, modes, impls, bullSkipped, versions);
        try {
            for (int round = 0; round < rounds; round++) {
                boolean reverse = round % 2 == 1;
                List<String> modeOrder = new ArrayList<>(modes);
                List<Integer> levelOrder = new ArrayList<>(levels);
                List<String> implOrder = new ArrayList<>(impls);
                if (reverse) {
                    Collections.reverse(modeOrder);
                    Collections.reverse(levelOrder);
                    Collections.reverse(implOrder);
                }
                for (String mode : modeOrder) {
                    for (int level : levelOrder) {
                        for (String impl : implOrder) {
                            if (impl.equals("bullmq") && bullSkipped != null) continue;
                            results.put(round, RedisResults.cell(impl, level, mode), run(base, round, impl, level, mode, nodeDir));
                        }
                    }
                }
            }
        } finally {
            BenchFiles.delete(base);
        }
        BenchFiles.writeReport(stamp, "redis", results.report(), results.raw());
    }

    /**
     * Copies the BullMQ peer (script, package.json, package-lock.json, packaged in this jar) to
     * {@code nodeDir} and installs it there with {@code npm ci}, unless node_modules already matches
     * the lock file. Throws, with the reason, when node or npm is missing or the install fails.
     */
    static Path installBullmq(Map<String, String> versions) throws Exception {
        String node;
        String npm;
        try {
            node = firstLine("node", "--version");
            npm = firstLine("npm", "--version");
        } catch (Exception e) {
            throw new IllegalStateException("node and npm are needed for the BullMQ peer (" + e.getMessage() + ")");
        }
        versions.put("node", node);
        versions.put("npm", npm);
        Path dir = Path.of(System.getProperty("nodeDir",
            Files.isDirectory(Path.of("mq-bench")) ? "mq-bench/target/bullmq" : "target/bullmq")).toAbsolutePath();
        Files.createDirectories(dir);
        StringBuilder packaged = new StringBuilder();
        for (String name : List.of("package.json", "package-lock.json", "bullmq-bench.mjs")) {
            try (InputStream in = RedisRunner.class.getResourceAsStream("/node/" + name)) {
                if (in == null) throw new IllegalStateException("node/" + name + " is missing from the benchmark jar");
                byte[] bytes = in.readAllBytes();
                if (!name.endsWith(".mjs")) packaged.append(name).append(' ').append(Arrays.hashCode(bytes)).append(' ');
                Files.write(dir.resolve(name), bytes);
            }
        }
        // What node_modules was installed from (package.json and lock file hashes) and how: reinstall when they changed.
        Path stamp = dir.resolve(".installed");
        String installed = Files.exists(stamp) ? Files.readString(stamp) : "";
        if (!installed.startsWith(packaged.toString()) || !Files.isDirectory(dir.resolve("node_modules/bullmq"))) {
            System.out.println("Installing BullMQ into " + dir + " (npm ci)");
            String how = "npm ci";
            String ci = npm(dir, "ci");
            if (ci != null) {
                // npm ci refuses a lock file that lacks some platform's optional packages (a registry mirror
                // without them writes such locks); npm install keeps the exact versions of package.json.
                System.out.println("npm ci failed (" + ci + "); trying npm install");
                String install = npm(dir, "install");
                if (install != null) throw new IllegalStateException("npm ci and npm install failed in " + dir + ": " + install);
                how = "npm install (npm ci refused the lock file)";
            }
            installed = packaged + how;
            Files.writeString(stamp, installed);
        }
        versions.put("BullMQ installed by", installed.substring(packaged.length()));
        Path bullPackage = dir.resolve("node_modules/bullmq/package.json");
        java.util.regex.Matcher v = java.util.regex.Pattern.compile("\"version\":\\s*\"([^\"]+)\"").matcher(Files.readString(bullPackage));
        versions.put("bullmq", v.find() ? v.group(1) : "?");
        return dir;
    }

    /** Runs {@code npm <command>} in {@code dir}; returns null on success, else the end of its output. */
    private static String npm(Path dir, String command) throws Exception {
        Process p = new ProcessBuilder("npm", command, "--no-audit", "--no-fund").directory(dir.toFile())
            .redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            return "timed out after 5 minutes";
        }
        if (p.exitValue() == 0) return null;
        return tail(output.lines().filter(l -> l.contains("error") && !l.trim().equals("npm error")).limit(4)
            .reduce("", (a, b) -> a + "\n" + b), 4);
    }

    /** The version of a Maven artifact on the class path (its pom.properties), or "?". */
    static String mavenVersion(String group, String artifact) {
        try (InputStream in = RedisRunner.class.getResourceAsStream("/META-INF/maven/" + group + "/" + artifact + "/pom.properties")) {
            if (in == null) return "?";
            java.util.Properties p = new java.util.Properties();
            p.load(in);
            return p.getProperty("version", "?");
        } catch (Exception e) {
            return "?";
        }
    }

    private static String firstLine(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
        return out.lines().findFirst().orElse("");
    }

    private static String tail(String text, int lines) {
        List<String> all = text.lines().toList();
        return String.join(" / ", all.subList(Math.max(0, all.size() - lines), all.size()));
    }

    /** Runs a cell in a JVM of its own; a failed cell yields {@code error=...} and the suite goes on. */
    private static Map<String, String> run(Path base, int round, String impl, int level, String mode, Path nodeDir) throws Exception {
        Path dir = base.resolve("r" + (round + 1) + "-" + impl + "-" + level + "-" + mode);
        Files.createDirectories(dir);
        try {
            double waited = DurabilityRunner.waitForQuiet(MachineLoad.forDirectory(dir));
            List<String> command = new ArrayList<>();
            command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
            command.add("-Xms2g");
            command.add("-Xmx2g");
            String extra = System.getProperty("cellJvmArgs", "").trim();
            if (!extra.isEmpty()) command.addAll(List.of(extra.split("\\s+")));
            for (String p : CELL_PROPERTIES) {
                String v = System.getProperty(p);
                if (v != null) command.add("-D" + p + "=" + v);
            }
            command.add("-cp");
            command.add(System.getProperty("java.class.path"));
            command.add(RedisCell.class.getName());
            command.addAll(List.of(impl, Integer.toString(level), mode, dir.toString()));
            if (nodeDir != null) command.add(nodeDir.toString());
            System.out.printf("--- round %d: %s concurrency %d, persistence %s%n", round + 1, impl, level, mode);
            Map<String, String> figures = CellProcess.run(command, 15, "cell");
            figures.put("waitedForQuietSeconds", LoadMeasurement.fmt(waited));
            return figures;
        } catch (Exception e) {
            System.out.println("    FAILED: " + e.getMessage());
            Map<String, String> failed = new LinkedHashMap<>();
            failed.put("error", e.getMessage());
            return failed;
        } finally {
            BenchFiles.delete(dir);
        }
    }

}
