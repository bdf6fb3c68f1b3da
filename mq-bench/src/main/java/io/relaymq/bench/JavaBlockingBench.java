package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/**
 * What most Java users run: plain producer threads call {@code MessageBus.publish} (a future per message,
 * nobody waits on it) and a blocking {@code MessageHandler} does the work, against the
 * {@code ThreadPoolExecutor} over a {@code LinkedBlockingQueue} they would otherwise write, fed by the
 * same threads, doing the same work. {@code shape} is producers x consumers. Score: messages per second.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class JavaBlockingBench extends WorkloadBench {
    @Param({"relaymq-java", "executor"})
    public String impl;

    @Param({"1x1", "4x4", "8x1"})
    public String shape;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        String[] parts = shape.split("x");
        int producers = Integer.parseInt(parts[0]);
        int consumers = Integer.parseInt(parts[1]);
        return switch (impl) {
            case "relaymq-java" -> JavaWorkloads.relayJava(producers, consumers);
            case "executor" -> JavaWorkloads.executor(producers, consumers);
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
