package io.relaymq.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;

/**
 * Publish and wait for the handler to finish, one message at a time. Score: time per round trip,
 * sampled (the runner reads the median).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RoundTripBench extends WorkloadBench {
    /** Round trips per invocation: enough to amortise the benchmark thread's entry into coroutines. */
    static final int TRIPS = 100;

    @Param({"relaymq", "pingpong", "supplyAsync"})
    public String impl;

    @Override
    protected String impl() {
        return impl;
    }

    @Override
    protected Workload create(String impl) {
        return switch (impl) {
            case "relaymq" -> new RelayRoundTrip();
            case "pingpong" -> new PingPongRoundTrip();
            case "supplyAsync" -> JavaWorkloads.supplyAsyncRoundTrip();
            default -> throw unknown(impl);
        };
    }

    @Benchmark
    @OperationsPerInvocation(TRIPS)
    public void roundTrip() throws Exception {
        workload.run(TRIPS);
    }
}
