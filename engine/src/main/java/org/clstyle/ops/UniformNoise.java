package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Uniform noise filled on the device (kernels/noise.cl) from a counter-based hash (splitmix64 of the
 * seed and the element's counter): reproducible from (seed, offset) on any device, with no state, and
 * the same bits as reference.NoiseReference. A fill of n elements at offset o uses counters o .. o+n-1,
 * so successive fills from one seed can draw disjoint streams.
 */
public final class UniformNoise {
    private final ClContext ctx;
    private final ClProgram program;

    public UniformNoise(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("noise");
    }

    /** x = values uniform in [lo, hi) from {@code seed}, counters offset .. offset + n - 1. */
    public void fill(ClBuffer x, long seed, int offset, float lo, float hi) {
        if (!(hi > lo) || !Float.isFinite(lo) || !Float.isFinite(hi)) {
            throw new IllegalArgumentException("UniformNoise: need finite lo < hi, got [" + lo + ", " + hi + ")");
        }
        if (offset < 0 || (long) offset + x.size() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("UniformNoise: counters " + offset + " + " + x.size() + " out of range");
        }
        int n = x.size();
        Reduction.launch(program.kernel("uniform_fill"), new long[] {n}, Reduction.local1d(ctx.device(), n),
                x, (int) seed, (int) (seed >>> 32), offset, lo, hi, n);
    }
}
