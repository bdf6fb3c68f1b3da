package io.relaymq.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.HdrHistogram.Histogram;

/**
 * Runs a {@link PublishLoad}: warm-up, then timed iterations; publishes per second over the measured
 * iterations and the latency percentiles of the publishes that completed during them.
 */
final class LoadMeasurement {
    /** Seconds of warm-up, number of measured iterations and seconds per iteration. */
    record Timing(int warmupSeconds, int iterations, int iterationSeconds) {
        static Timing fromProperties() {
            return new Timing(Integer.getInteger("warmup", 3), Integer.getInteger("iterations", 3),
                Integer.getInteger("iterationSeconds", 2));
        }
    }

    private LoadMeasurement() { }

    /** Measures {@code load} (started here, stopped before returning) and returns its figures. */
    static Map<String, String> measure(PublishLoad load, Timing timing, MachineLoad machine) throws Exception {
        PublishMeter meter = new PublishMeter();
        load.start(meter);
        try {
            return measureRunning(meter, timing, machine);
        } finally {
            load.stop();
            meter.throwIfFailed();
        }
    }

    /** Measures a load that is already running and recording into {@code meter}. */
    static Map<String, String> measureRunning(PublishMeter meter, Timing timing, MachineLoad machine) throws Exception {
        sleepChecking(meter, timing.warmupSeconds() * 1000L);
        meter.takeLatencies(); // discard the warm-up's
        MachineLoad.Window window = machine.window();
        List<Double> perIteration = new ArrayList<>();
        long firstCount = meter.completed();
        long firstTime = System.nanoTime();
        long count = firstCount;
        long time = firstTime;
        for (int i = 0; i < timing.iterations(); i++) {
            sleepChecking(meter, timing.iterationSeconds() * 1000L);
            long c = meter.completed();
            long t = System.nanoTime();
            perIteration.add((c - count) * 1e9 / (t - time));
            count = c;
            time = t;
        }
        Histogram latencies = meter.takeLatencies();
        Map<String, String> figures = new LinkedHashMap<>();
        figures.put("opsPerSec", fmt((count - firstCount) * 1e9 / (time - firstTime)));
        List<String> iters = new ArrayList<>();
        for (double v : perIteration) iters.add(fmt(v));
        figures.put("iterations", String.join(";", iters));
        figures.putAll(percentiles(latencies));
        figures.putAll(window.end());
        return figures;
    }

    static Map<String, String> percentiles(Histogram h) {
        Map<String, String> figures = new LinkedHashMap<>();
        figures.put("samples", Long.toString(h.getTotalCount()));
        figures.put("p50us", fmt(h.getValueAtPercentile(50) / 1000.0));
        figures.put("p90us", fmt(h.getValueAtPercentile(90) / 1000.0));
        figures.put("p99us", fmt(h.getValueAtPercentile(99) / 1000.0));
        figures.put("p999us", fmt(h.getValueAtPercentile(99.9) / 1000.0));
        figures.put("maxus", fmt(h.getMaxValue() / 1000.0));
        return figures;
    }

    private static void sleepChecking(PublishMeter meter, long millis) throws InterruptedException {
        long end = System.currentTimeMillis() + millis;
        for (long left = millis; left > 0; left = end - System.currentTimeMillis()) {
            meter.throwIfFailed();
            Thread.sleep(Math.min(left, 100));
        }
        meter.throwIfFailed();
    }

    static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3f", v);
    }
}
