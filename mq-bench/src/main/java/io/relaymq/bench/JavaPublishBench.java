package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/** Java fire-and-forget from 4 Java threads to 4 consumers: MessageBus.publish versus CompletableFuture.runAsync. Score: messages per second. */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
public class JavaPublishBench {
    /** Messages per benchmark invocation: large enough that batch start-up costs vanish. */
    static final int BATCH = 100_000;

    @Param({"relaymq-java", "runAsync"})
    public String impl;

    private Workload workload;

    @Setup(Level.Trial)
    public void setUp() {
        workload = switch (impl) {
            case "relaymq-java" -> JavaWorkloads.relayJava(4, 4);
            case "runAsync" -> JavaWorkloads.runAsync(4, 4);
            default -> throw new IllegalArgumentException("unknown impl " + impl);
        };
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        workload.close();
    }

    @Benchmark
    @OperationsPerInvocation(BATCH)
    public void messages() throws Exception {
        workload.run(BATCH);
    }
}
