package io.relaymq.bench;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One measurement of the durability suite, run by {@link DurabilityRunner} in a JVM of its own. Prints
 * its figures as one line {@code RESULT key=value ...} on standard output. Arguments:
 *
 * <pre>
 * throughput &lt;impl&gt; &lt;publishers&gt; &lt;dir&gt;   impl: tape, naive, relaymq-java, relaymq-kotlin, relaymq-window,
 *                                              relaymq-java-paused, model-direct, model-executor (diagnosis: {@link GroupCommitModel})
 * memory &lt;variant&gt; &lt;dir&gt;                 variant: alone, idle-durable, same-bus, separate-bus
 * fill &lt;close|kill&gt; &lt;messages&gt; &lt;dir&gt;
 * recover &lt;messages&gt; &lt;dir&gt;
 * memfill &lt;messages&gt;
 * </pre>
 *
 * Timing: system properties {@code warmup} (s), {@code iterations}, {@code iterationSeconds}.
 */
public final class DurableCell {
    private DurableCell() { }

    public static void main(String[] args) throws Exception {
        LoadMeasurement.Timing timing = LoadMeasurement.Timing.fromProperties();
        Map<String, String> figures = new LinkedHashMap<>();
        switch (args[0]) {
            case "throughput" -> figures.putAll(throughput(args[1], Integer.parseInt(args[2]), Path.of(args[3]), timing));
            case "memory" -> figures.putAll(InMemoryBesideDurable.run(args[1], Path.of(args[2]), timing));
            case "fill" -> {
                boolean kill = args[1].equals("kill");
                figures.putAll(RecoveryCells.fill(Path.of(args[3]), Integer.parseInt(args[2]), kill));
                if (kill) {
                    print(figures);
                    Runtime.getRuntime().halt(0); // like kill -9: no close, no shutdown hooks
                }
            }
            case "recover" -> figures.putAll(RecoveryCells.recover(Path.of(args[2]), Integer.parseInt(args[1])));
            case "memfill" -> figures.putAll(RecoveryCells.inMemoryFill(Integer.parseInt(args[1])));
            default -> throw new IllegalArgumentException("unknown cell " + args[0]);
        }
        print(figures);
        System.exit(0); // a bus that failed to close must not keep the JVM alive
    }

    static Map<String, String> throughput(String impl, int publishers, Path dir, LoadMeasurement.Timing timing) throws Exception {
        switch (impl) {
            case "relaymq-kotlin" -> {
                try (CoroutinePublishers load = new CoroutinePublishers(dir, publishers)) {
                    return LoadMeasurement.measure(load, timing, MachineLoad.forDirectory(dir));
                }
            }
            case "relaymq-window" -> {
                try (RelayBlockingTarget target = new RelayBlockingTarget(dir)) {
                    return LoadMeasurement.measure(new WindowedPublisher(target.bus(), publishers), timing, MachineLoad.forDirectory(dir));
                }
            }
            default -> {
                try (DurableTarget target = switch (impl) {
                    case "tape" -> new TapeTarget(dir);
                    case "naive" -> new NaiveJournalTarget(dir);
                    case "relaymq-java" -> new RelayBlockingTarget(dir);
                    case "relaymq-java-paused" -> RelayBlockingTarget.publishOnly(dir);
                    case "model-direct" -> new GroupCommitModel(dir, true);
                    case "model-executor" -> new GroupCommitModel(dir, false);
                    default -> throw new IllegalArgumentException("unknown impl " + impl);
                }) {
                    return LoadMeasurement.measure(new ThreadPublishers(target, publishers), timing, MachineLoad.forDirectory(dir));
                }
            }
        }
    }

    private static void print(Map<String, String> figures) {
        StringBuilder line = new StringBuilder("RESULT");
        figures.forEach((k, v) -> line.append(' ').append(k).append('=').append(v));
        System.out.println(line);
        System.out.flush();
    }
}
