package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/** 4 producers to 4 consumers. Score: messages per second. */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class FourToFourBench extends WorkloadBench {
    @Param({"relaymq", "channel", "executor"})
    public String impl;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        return switch (impl) {
            case "relaymq" -> new RelayWorkload(4, 4);
            case "channel" -> new ChannelWorkload(4, 4);
            case "executor" -> JavaWorkloads.executor(4, 4);
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
