package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/** Fan-in: 8 producers to 1 consumer. Score: messages per second. */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class FanInBench extends WorkloadBench {
    @Param({"relaymq", "channel", "executor", "guava"})
    public String impl;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        return switch (impl) {
            case "relaymq" -> new RelayWorkload(8, 1);
            case "channel" -> new ChannelWorkload(8, 1);
            case "executor" -> JavaWorkloads.executor(8, 1);
            case "guava" -> JavaWorkloads.guava(8);
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
