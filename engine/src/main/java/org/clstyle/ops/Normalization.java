package org.clstyle.ops;

import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * The host half of kernels/norm.cl shared by InstanceNorm and BatchNorm: x seen as [N, G, P] with one
 * statistics group per g, affine parameters indexed by g % C. GPUs run one work-group per group for
 * every reduction; CPU devices ({@link Variant#ROWS}) one work-item per group with float8 runs. Both sum
 * in a fixed order, so results are deterministic.
 */
public final class Normalization implements AutoCloseable {
    private final ClContext ctx;
    private final ClProgram program;
    private final int wg;
    private final Variant variant;
    private ClBuffer sums; // [G, 2], the backward's per-group sums, grown as needed

    /** How the reductions and the elementwise pass are laid out. */
    public enum Variant {
        /** One work-group per group, a tree in local memory; one work-item per element: for GPUs. */
        WORK_GROUPS,
        /** One work-item per group (or per chunk of a plane) walking float8 runs: for CPU devices. */
        ROWS;

        /** ROWS on CPU devices, WORK_GROUPS elsewhere. */
        public static Variant forDevice(org.clstyle.cl.ClDevice d) {
            return d.isCpu() ? ROWS : WORK_GROUPS;
        }
    }

    /** Elements per work-item of the ROWS variant's elementwise pass (NORM_CHUNK). */
    private static final int CHUNK = 2048;

    Normalization(ClContext ctx, Variant variant) {
        this.ctx = ctx;
        this.variant = variant;
        this.wg = Reduction.workGroupSize(ctx.device(), 256);
        this.program = ctx.program("norm", Map.of("NORM_WG", wg, "NORM_CHUNK", CHUNK));
    }

    Variant variant() {
        return variant;
    }

    /** stats [G, 3] (mean, rstd, biased var) of x viewed as [n, groups, plane]. */
    void stats(ClBuffer x, int n, int groups, int plane, float eps, ClBuffer stats) {
        if (variant == Variant.ROWS) {
            program.kernel("norm_stats_rows").launch(new long[] {groups}, null, x, n, groups, plane, eps, stats);
            return;
        }
        program.kernel("norm_stats").launch(new long[] {(long) groups * wg}, new long[] {wg},
                x, n, groups, plane, eps, stats);
    }

    void apply(ClBuffer x, ClBuffer stats, ClBuffer gamma, ClBuffer beta, ClBuffer y, int groups, int plane,
            int channels) {
        int planes = x.size() / plane;
        if (variant == Variant.ROWS) {
            program.kernel("norm_apply_chunks").launch(new long[] {(plane + CHUNK - 1) / CHUNK, planes}, null, x, stats,
                    gamma, beta, y, planes, groups, plane, channels);
            return;
        }
        program.kernel("norm_apply").launch(new long[] {plane, planes}, new long[] {Math.min(wg, plane), 1}, x, stats,
                gamma, beta, y, planes, groups, plane, channels);
    }

    void backward(ClBuffer x, ClBuffer dy, ClBuffer stats, ClBuffer gamma, ClBuffer dx, ClBuffer dGamma,
            ClBuffer dBeta, int n, int groups, int plane, int channels) {
        if (sums == null || sums.elements() < 2L * groups) {
            if (sums != null) {
                sums.close();
            }
            sums = ctx.buffer(2 * groups);
        }
        if (variant == Variant.ROWS) {
            program.kernel("norm_backward_rows").launch(new long[] {groups}, null, x, dy, stats, gamma, dx, sums, n,
                    groups, plane, channels);
        } else {
            program.kernel("norm_backward").launch(new long[] {(long) groups * wg}, new long[] {wg},
                    x, dy, stats, gamma, dx, sums, n, groups, plane, channels);
        }
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
