package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/** 1 producer to 1 consumer, fire-and-forget, Kotlin publish; Disruptor and Vert.x as ceilings. Score: messages per second. */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class OneToOneBench extends WorkloadBench {
    @Param({"relaymq", "channel", "executor", "disruptor", "vertx"})
    public String impl;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        return switch (impl) {
            case "relaymq" -> new RelayWorkload(1, 1);
            case "channel" -> new ChannelWorkload(1, 1);
            case "executor" -> JavaWorkloads.executor(1, 1);
            case "disruptor" -> JavaWorkloads.disruptor();
            case "vertx" -> JavaWorkloads.vertx();
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
