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

/**
 * Publish and wait for the handler to finish, one message at a time. Score: time per round trip,
 * sampled (the runner reads the median).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class RoundTripBench {
    /** Round trips per invocation: enough to amortise the benchmark thread's entry into coroutines. */
    static final int TRIPS = 100;

    @Param({"relaymq", "pingpong", "supplyAsync"})
    public String impl;

    private Workload workload;

    @Setup(Level.Trial)
    public void setUp() {
        workload = switch (impl) {
            case "relaymq" -> new RelayRoundTrip();
            case "pingpong" -> new PingPongRoundTrip();
            case "supplyAsync" -> JavaWorkloads.supplyAsyncRoundTrip();
            default -> throw new IllegalArgumentException("unknown impl " + impl);
        };
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        workload.close();
    }

    @Benchmark
    @OperationsPerInvocation(TRIPS)
    public void roundTrip() throws Exception {
        workload.run(TRIPS);
    }
}
