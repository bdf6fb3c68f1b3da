package io.relaymq.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What else the machine did while a cell ran: CPU busy time of every process (from {@code /proc/stat},
 * so the cell's own share can be subtracted), steal time, and the disk's completed flush requests
 * (fsyncs reaching the device, from {@code /proc/diskstats}). Linux only; zeros elsewhere. Other
 * sessions running builds or tests on this shared VM show up here, and a cell measured while they ran
 * is flagged in the report rather than silently averaged in.
 */
final class MachineLoad {
    /** One reading: busy and steal jiffies over all CPUs, all jiffies, the disk's flush count, when. */
    record Sample(long busy, long steal, long total, long flushes, long nanos) { }

    private final String disk;

    /** @param disk the block device name in /proc/diskstats (e.g. "vda"), or null when unknown. */
    MachineLoad(String disk) {
        this.disk = disk;
    }

    Sample sample() {
        long busy = 0;
        long steal = 0;
        long total = 0;
        long flushes = 0;
        try {
            String cpu = Files.readAllLines(Path.of("/proc/stat")).get(0); // cpu user nice system idle iowait irq softirq steal ...
            String[] f = cpu.trim().split("\\s+");
            for (int i = 1; i < Math.min(f.length, 9); i++) total += Long.parseLong(f[i]);
            long idle = Long.parseLong(f[4]) + Long.parseLong(f[5]);
            steal = f.length > 8 ? Long.parseLong(f[8]) : 0;
            busy = total - idle - steal;
            if (disk != null) {
                for (String line : Files.readAllLines(Path.of("/proc/diskstats"))) {
                    String[] d = line.trim().split("\\s+");
                    // major minor name, then 17 fields on kernels >= 5.5: the 16th is flush requests completed
                    if (d.length >= 19 && d[2].equals(disk)) flushes = Long.parseLong(d[18]);
                }
            }
        } catch (Exception e) {
            // not Linux, or an unexpected format: report zeros
        }
        return new Sample(busy, steal, total, flushes, System.nanoTime());
    }

    /** Jiffies per second of /proc/stat (USER_HZ): 100 on Linux. */
    static final double HZ = 100.0;

    /** Busy CPU between two samples, in CPUs (0..cores), minus {@code ownCpuSeconds} (the cell's own). */
    static double foreignCpus(Sample a, Sample b, double ownCpuSeconds) {
        double seconds = (b.nanos() - a.nanos()) / 1e9;
        if (seconds <= 0) return 0;
        return Math.max(0, ((b.busy() - a.busy()) / HZ - ownCpuSeconds) / seconds);
    }

    static double stealCpus(Sample a, Sample b) {
        double seconds = (b.nanos() - a.nanos()) / 1e9;
        return seconds <= 0 ? 0 : (b.steal() - a.steal()) / HZ / seconds;
    }

    static double flushesPerSecond(Sample a, Sample b) {
        double seconds = (b.nanos() - a.nanos()) / 1e9;
        return seconds <= 0 ? 0 : (b.flushes() - a.flushes()) / seconds;
    }

    /** This JVM's CPU time so far, in seconds. */
    static double ownCpuSeconds() {
        java.lang.management.OperatingSystemMXBean os = java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        return os instanceof com.sun.management.OperatingSystemMXBean sun ? sun.getProcessCpuTime() / 1e9 : 0;
    }

    /**
     * A window of this JVM's work: {@link #end} returns what the rest of the machine did meanwhile:
     * {@code foreignCpus} (CPUs busy with other processes), {@code stealCpus}, {@code ownCpus} and
     * {@code diskFlushesPerSec} (all processes' flushes reaching the device).
     */
    final class Window {
        private final Sample start = sample();
        private final double ownStart = ownCpuSeconds();

        java.util.Map<String, String> end() {
            Sample end = sample();
            double own = ownCpuSeconds() - ownStart;
            double seconds = (end.nanos() - start.nanos()) / 1e9;
            java.util.Map<String, String> figures = new java.util.LinkedHashMap<>();
            figures.put("foreignCpus", LoadMeasurement.fmt(foreignCpus(start, end, own)));
            figures.put("stealCpus", LoadMeasurement.fmt(stealCpus(start, end)));
            figures.put("ownCpus", LoadMeasurement.fmt(seconds > 0 ? own / seconds : 0));
            figures.put("diskFlushesPerSec", LoadMeasurement.fmt(flushesPerSecond(start, end)));
            return figures;
        }
    }

    Window window() {
        return new Window();
    }

    /** For the disk holding {@code dir}. */
    static MachineLoad forDirectory(Path dir) {
        return new MachineLoad(diskOf(dir));
    }

    /** The device name of the file system holding {@code dir}, as /proc/diskstats names it, or null. */
    static String diskOf(Path dir) {
        try {
            String name = Files.getFileStore(dir).name(); // "/dev/vda" or "/dev/vda1"
            if (!name.startsWith("/dev/")) return null;
            String dev = name.substring("/dev/".length());
            List<String> lines = Files.readAllLines(Path.of("/proc/diskstats"));
            // Flush counts are kept for whole disks: strip a partition number if the disk exists.
            String whole = dev.replaceAll("p?\\d+$", "");
            for (String line : lines) if (line.trim().split("\\s+")[2].equals(whole)) return whole;
            return dev;
        } catch (Exception e) {
            return null;
        }
    }
}
