package io.relaymq.bench;

import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * What the throughput benchmark classes share: one {@link Workload} per trial, made by {@link #create}
 * from the subclass's {@code impl} parameter before the trial and closed after it.
 */
@State(Scope.Benchmark)
public abstract class WorkloadBench {
    /** Messages per benchmark invocation: large enough that batch start-up costs vanish. */
    static final int BATCH = 100_000;

    protected Workload workload;

    /** The value of the subclass's {@code @Param impl} field. */
    protected abstract String impl();

    /** The workload for {@code impl}. */
    protected abstract Workload create(String impl);

    @Setup(Level.Trial)
    public void setUp() {
        workload = create(impl());
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        workload.close();
    }

    static IllegalArgumentException unknown(String impl) {
        return new IllegalArgumentException("unknown impl " + impl);
    }
}
