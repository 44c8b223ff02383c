package org.clstyle.ops;

import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClKernel;

/**
 * The device's attainable peak, measured with the kernels of peak.cl and timed by profiling events:
 * GFLOP/s from independent FMA chains, GB/s from a float4 copy. Each figure is the best of several
 * runs (and, for FLOP/s, of a few vector-width/chain-count variants, since the best shape differs
 * between a CPU and a GPU). Nothing is cached: every call measures again.
 */
public final class DevicePeak {
    /** Measured peak: arithmetic in GFLOP/s (1e9 flop/s), bandwidth in GB/s (1e9 bytes/s, read + write). */
    public record Peak(double gflopPerSecond, double gbPerSecond) {}

    /** Vector width x chains per work-item tried for the FMA peak. */
    private static final List<int[]> FMA_VARIANTS = List.of(new int[] {8, 8}, new int[] {8, 12}, new int[] {16, 4});
    private static final int RUNS = 5;
    /** Aim for launches of about this long so the event timer's resolution does not matter. */
    private static final double TARGET_SECONDS = 0.05;
    private static final long MAX_COPY_BYTES = 256L << 20;

    private final ClContext ctx;

    /** A peak meter on {@code ctx}, which must have been created with profiling on. */
    public DevicePeak(ClContext ctx) {
        if (!ctx.profiling()) {
            throw new IllegalArgumentException("DevicePeak needs a context created with profiling on");
        }
        this.ctx = ctx;
    }

    /** Measures both peaks. */
    public Peak measure() {
        return new Peak(gflopPerSecond(), gbPerSecond());
    }

    /** Best FMA throughput over the variants and {@value #RUNS} runs each, in GFLOP/s. */
    public double gflopPerSecond() {
        int n = fmaWorkItems();
        double best = 0;
        try (ClBuffer out = ctx.buffer(n)) { // [n]
            for (int[] v : FMA_VARIANTS) {
                int width = v[0], chains = v[1];
                // Calibrate: a short run, then scale the loop count to about TARGET_SECONDS per launch.
                int iterations = 256;
                long ns = Math.max(1, runFma(out, width, chains, iterations, 0.999f, 0.001f));
                while (ns < 2_000_000 && iterations < (1 << 24)) { // under 2 ms: too short to scale from
                    iterations *= 4;
                    ns = Math.max(1, runFma(out, width, chains, iterations, 0.999f, 0.001f));
                }
                long scaled = (long) (iterations * (TARGET_SECONDS * 1e9 / ns));
                iterations = (int) Math.max(16, Math.min(1 << 26, scaled));
                double flops = fmaFlops(n, width, chains, iterations);
                for (int r = 0; r < RUNS; r++) {
                    long t = runFma(out, width, chains, iterations, 0.999f, 0.001f);
                    best = Math.max(best, flops / t); // flop per ns = GFLOP/s
                }
            }
        }
        return best;
    }

    /** Best float4 copy bandwidth over {@value #RUNS} runs, counting bytes read plus bytes written, in GB/s. */
    public double gbPerSecond() {
        long bytes = copyBytes();
        int n = (int) (bytes / Float.BYTES);
        double best = 0;
        try (ClBuffer src = ctx.buffer(n); ClBuffer dst = ctx.buffer(n)) { // [n] each
            runCopy(src, dst); // first touch of the pages is not bandwidth
            for (int r = 0; r < RUNS; r++) {
                long t = runCopy(src, dst);
                best = Math.max(best, 2.0 * bytes / t);
            }
        }
        return best;
    }

    /**
     * Runs fma_peak over {@code out.size()} work-items with the given variant; returns device
     * nanoseconds. out[g] then holds {@link #fmaExpected} for work-item g (up to float rounding).
     */
    public long runFma(ClBuffer out, int width, int chains, int iterations, float mul, float add) {
        ClKernel k = ctx.program("peak", Map.of("PEAK_WIDTH", width, "PEAK_CHAINS", chains)).kernel("fma_peak");
        return k.launch(new long[] {out.size()}, null, out, out.size(), iterations, mul, add);
    }

    /** Copies src to dst (same size, a multiple of 4 floats) with copy4; returns device nanoseconds. */
    public long runCopy(ClBuffer src, ClBuffer dst) {
        if (src.elements() != dst.elements() || src.elements() % 4 != 0) {
            throw new IllegalArgumentException("copy4 needs equal sizes that are a multiple of 4, got "
                    + src.elements() + " and " + dst.elements());
        }
        int n4 = src.size() / 4;
        return ctx.program("peak").kernel("copy4").launch(new long[] {n4}, null, src, dst, n4);
    }

    /** Floating-point operations of one fma_peak launch (an FMA counts as two). */
    public static double fmaFlops(int workItems, int width, int chains, int iterations) {
        return 2.0 * workItems * width * chains * (double) iterations;
    }

    /**
     * What fma_peak writes for work-item g, in closed form: each chain is the affine recurrence
     * x <- x*mul + add from its start value x0, so after n steps x = mul^n x0 + add (mul^n - 1)/(mul - 1)
     * (x0 + n add when mul = 1); the result sums the chains and lanes.
     */
    public static double fmaExpected(int g, int width, int chains, int iterations, float mul, float add) {
        double m = mul, a = add;
        double mn = Math.pow(m, iterations);
        double base = (float) (g % 1024) / 1024.0f;
        double total = 0;
        for (int k = 0; k < chains; k++) {
            for (int l = 0; l < width; l++) {
                double x0 = base + (double) k / chains + (double) l / (chains * width);
                total += m == 1.0 ? x0 + iterations * a : mn * x0 + a * (mn - 1) / (m - 1);
            }
        }
        return total;
    }

    private int fmaWorkItems() {
        // Enough independent work-items to fill every compute unit several times over.
        return Math.max(ctx.device().computeUnits(), 1) * 4096;
    }

    private long copyBytes() {
        long limit = Math.min(ctx.device().maxAllocBytes(), ctx.device().globalMemBytes() / 8);
        long bytes = Math.min(MAX_COPY_BYTES, limit);
        return Math.max(1 << 20, bytes & ~15L);
    }
}
