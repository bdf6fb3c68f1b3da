package io.relaymq.bench;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * One measurement cell of a rounds runner ({@link DurabilityRunner}, {@link RedisRunner}) in a process
 * of its own: its output is echoed (indented), its {@code RESULT key=value ...} line parsed, and a
 * watchdog kills it when it runs past its time limit.
 */
final class CellProcess {
    private CellProcess() { }

    /**
     * Runs {@code command} and returns the figures of its {@code RESULT} line.
     *
     * @throws IllegalStateException when it exits with a failure or prints no {@code RESULT} line
     *     ({@code what} names it in the message)
     */
    static Map<String, String> run(List<String> command, long limitMinutes, String what) throws Exception {
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        Thread watchdog = new Thread(() -> {
            try {
                if (!process.waitFor(limitMinutes, TimeUnit.MINUTES)) process.destroyForcibly();
            } catch (InterruptedException e) {
                process.destroyForcibly();
            }
        }, "cell-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        Map<String, String> figures = null;
        try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = out.readLine()) != null) {
                if (line.startsWith("RESULT")) {
                    figures = new LinkedHashMap<>();
                    for (String pair : line.substring("RESULT".length()).trim().split(" ")) {
                        int eq = pair.indexOf('=');
                        if (eq > 0) figures.put(pair.substring(0, eq), pair.substring(eq + 1));
                    }
                    System.out.println("    " + line);
                } else if (!line.isBlank()) {
                    System.out.println("    | " + line);
                }
            }
        }
        int exit = process.waitFor();
        if (exit != 0 || figures == null) throw new IllegalStateException(what + " failed (exit " + exit + ")");
        return figures;
    }
}
