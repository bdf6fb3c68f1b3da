package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/** Java fire-and-forget from 4 Java threads to 4 consumers: MessageBus.publish versus CompletableFuture.runAsync. Score: messages per second. */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class JavaPublishBench extends WorkloadBench {
    @Param({"relaymq-java", "runAsync"})
    public String impl;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        return switch (impl) {
            case "relaymq-java" -> JavaWorkloads.relayJava(4, 4);
            case "runAsync" -> JavaWorkloads.runAsync(4, 4);
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
