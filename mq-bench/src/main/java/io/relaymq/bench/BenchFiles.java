package io.relaymq.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** The files of a rounds runner ({@link DurabilityRunner}, {@link RedisRunner}): its report, and its scratch directories. */
final class BenchFiles {
    private BenchFiles() { }

    /** Prints {@code report} and writes it, with the raw figures, under {@code bench-results/<stamp>-<suite>*}. */
    static void writeReport(String stamp, String suite, String report, String raw) throws IOException {
        System.out.println();
        System.out.println(report);
        Path out = Path.of("bench-results");
        Files.createDirectories(out);
        Path summary = out.resolve(stamp + "-" + suite + ".md");
        Files.writeString(summary, report);
        Path figures = out.resolve(stamp + "-" + suite + "-raw.txt");
        Files.writeString(figures, raw);
        System.out.println("This summary: " + summary.toAbsolutePath() + "; every figure: " + figures.toAbsolutePath());
    }

    /** Deletes {@code dir} and everything in it, if it exists. */
    static void delete(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
