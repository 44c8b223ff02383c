package org.clstyle.ops;

import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * The host half of kernels/norm.cl shared by InstanceNorm and BatchNorm: x seen as [N, G, P] with one
 * statistics group per g, affine parameters indexed by g % C. One work-group per group for every
 * reduction, so results are deterministic.
 */
final class Normalization implements AutoCloseable {
    private final ClContext ctx;
    private final ClProgram program;
    private final int wg;
    private ClBuffer sums; // [G, 2], the backward's per-group sums, grown as needed

    Normalization(ClContext ctx) {
        this.ctx = ctx;
        this.wg = Reduction.workGroupSize(ctx.device(), 256);
        this.program = ctx.program("norm", Map.of("NORM_WG", wg));
    }

    /** stats [G, 3] (mean, rstd, biased var) of x viewed as [n, groups, plane]. */
    void stats(ClBuffer x, int n, int groups, int plane, float eps, ClBuffer stats) {
        program.kernel("norm_stats").launch(new long[] {(long) groups * wg}, new long[] {wg},
                x, n, groups, plane, eps, stats);
    }

    void apply(ClBuffer x, ClBuffer stats, ClBuffer gamma, ClBuffer beta, ClBuffer y, int groups, int plane,
            int channels) {
        int planes = x.size() / plane;
        program.kernel("norm_apply").launch(new long[] {plane, planes}, null, x, stats, gamma, beta, y, planes, groups,
                plane, channels);
    }

    void backward(ClBuffer x, ClBuffer dy, ClBuffer stats, ClBuffer gamma, ClBuffer dx, ClBuffer dGamma,
            ClBuffer dBeta, int n, int groups, int plane, int channels) {
        if (sums == null || sums.elements() < 2L * groups) {
            if (sums != null) {
                sums.close();
            }
            sums = ctx.buffer(2 * groups);
        }
        program.kernel("norm_backward").launch(new long[] {(long) groups * wg}, new long[] {wg},
                x, dy, stats, gamma, dx, sums, n, groups, plane, channels);
        Reduction.launch(program.kernel("norm_param_grads"), new long[] {channels},
                Reduction.local1d(ctx.device(), channels), sums, groups, channels, dGamma, dBeta);
    }

    void updateRunning(ClBuffer stats, ClBuffer runMean, ClBuffer runVar, int channels, float momentum,
            long count) {
        Reduction.launch(program.kernel("norm_update_running"), new long[] {channels},
                Reduction.local1d(ctx.device(), channels), stats, runMean, runVar, channels, momentum,
                (float) ((double) count / (count - 1)));
    }

    void statsFromRunning(ClBuffer runMean, ClBuffer runVar, float eps, ClBuffer stats, int channels) {
        Reduction.launch(program.kernel("norm_stats_from_running"), new long[] {channels},
                Reduction.local1d(ctx.device(), channels), runMean, runVar, eps, channels, stats);
    }

    static int[] nchw(String who, ClBuffer x) {
        int[] s = x.shape();
        if (s.length != 4) {
            throw new IllegalArgumentException(who + ": x must be [N, C, H, W] but is " + x);
        }
        return s;
    }

    static void expect(String who, String name, ClBuffer b, int... shape) {
        if (!java.util.Arrays.equals(b.shape(), shape)) {
            throw new IllegalArgumentException(who + ": " + name + " must be " + java.util.Arrays.toString(shape)
                    + " but is " + b);
        }
    }

    @Override
    public void close() {
        if (sums != null) {
            sums.close();
            sums = null;
        }
    }
}
