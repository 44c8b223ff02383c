package org.clstyle.bench;

import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.DevicePeak;
import org.openjdk.jmh.annotations.*;

/**
 * The device's peak as JMH sees it: fma_peak (FLOP/s bound) and copy4 (bandwidth bound) from peak.cl,
 * timed from the host with a finish per launch. The other benchmarks' "% of peak" uses
 * {@link DevicePeak#measure()} (profiling events, best of several runs); this shows the same ceiling with JMH's statistics.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class PeakBenchmark {
    private static final int FMA_ITERATIONS = 4096;
    private static final int COPY_FLOATS = 32 << 20; // 128 MiB per buffer: beyond any CPU cache

    private ClContext ctx;
    private DevicePeak peak;
    private ClBuffer out; // [n]
    private ClBuffer src; // [COPY_FLOATS]
    private ClBuffer dst; // [COPY_FLOATS]
    private int n;

    @Setup(Level.Trial)
    public void setUp() {
        // DevicePeak needs profiling for its own timing; launches here are timed by JMH from the host.
        ctx = new ClContext(ClDevice.select(System.getProperty("clstyle.device")), true);
        peak = new DevicePeak(ctx);
        n = Math.max(1, ctx.device().computeUnits()) * 4096;
        out = ctx.buffer(n);
        // Validate: the FMA chains give their closed form, the copy copies.
        peak.runFma(out, 8, 8, 100, 1.0f, 0.5f);
        float[] got = out.read();
        double[] expected = new double[n];
        for (int g = 0; g < n; g++) {
            expected[g] = DevicePeak.fmaExpected(g, 8, 8, 100, 1.0f, 0.5f);
        }
        BenchSupport.check("fma_peak", expected, got, 1e-3, 1e-5);
        src = ctx.buffer(BenchSupport.uniform(5, COPY_FLOATS, -1, 1), COPY_FLOATS);
        dst = ctx.buffer(COPY_FLOATS);
        peak.runCopy(src, dst);
        float[] s = src.read(), d = dst.read();
        if (!java.util.Arrays.equals(s, d)) {
            throw new IllegalStateException("copy4 did not copy its source");
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
    }

    @Benchmark
    public void fma(Flops work) {
        peak.runFma(out, 8, 8, FMA_ITERATIONS, 0.999f, 0.001f);
        work.gflop += DevicePeak.fmaFlops(n, 8, 8, FMA_ITERATIONS) / 1e9;
    }

    @Benchmark
    public void copy(Bytes work) {
        peak.runCopy(src, dst);
        work.gbytes += 2.0 * COPY_FLOATS * Float.BYTES / 1e9;
    }
}
