package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Nearest-neighbour upsampling by an integer factor r (kernels/resample.cl), as PyTorch's
 * nn.Upsample(scale_factor=r, mode="nearest"): x [N, C, H, W] to y [N, C, H*r, W*r]. The backward
 * sums each r x r block (a gather: deterministic). GPUs run one work-item per element, CPU devices one
 * per input row.
 */
public final class Upsample {
    private final ClContext ctx;
    private final ClProgram program;
    private final boolean rows;

    /** One work-item per input row on CPU devices, per element elsewhere. */
    public Upsample(ClContext ctx) {
        this(ctx, ctx.device().isCpu());
    }

    /** With {@code rows}: the per-row kernels (CPU devices); else the per-element ones. */
    public Upsample(ClContext ctx, boolean rows) {
        this.ctx = ctx;
        this.program = ctx.program("resample");
        this.rows = rows;
    }

    public void forward(ClBuffer x, ClBuffer y, int r) {
        int[] s = Resample.check("Upsample.forward", x, y, r, true);
        if (rows) {
            program.kernel("upsample_nearest_forward_rows").launch(new long[] {s[2], (long) s[0] * s[1]}, null, x, y,
                    s[0] * s[1], s[2], s[3], r);
            return;
        }
        Reduction.launch(program.kernel("upsample_nearest_forward"), new long[] {(long) s[3] * r, (long) s[2] * r,
                (long) s[0] * s[1]}, Reduction.local3d(ctx.device()), x, y, s[0] * s[1], s[2], s[3], r);
    }

    /** dx [N, C, H, W] from dy [N, C, H*r, W*r]; overwrites dx. */
    public void backward(ClBuffer dy, ClBuffer dx, int r) {
        int[] s = Resample.check("Upsample.backward", dx, dy, r, true);
        if (rows) {
            program.kernel("upsample_nearest_backward_rows").launch(new long[] {s[2], (long) s[0] * s[1]}, null, dy,
                    dx, s[0] * s[1], s[2], s[3], r);
            return;
        }
        Reduction.launch(program.kernel("upsample_nearest_backward"), new long[] {s[3], s[2], (long) s[0] * s[1]},
                Reduction.local3d(ctx.device()), dy, dx, s[0] * s[1], s[2], s[3], r);
    }
}
