package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Average pooling of r x r windows at stride r, no padding (kernels/resample.cl), as PyTorch's
 * F.avg_pool2d(x, r): x [N, C, H, W] to y [N, C, H / r, W / r] (rounded down; the pyramid generator
 * downsamples its input by r = 2 .. 32 with it). The backward spreads dy / r^2 over each window.
 */
public final class AvgPool {
    private final ClContext ctx;
    private final ClProgram program;

    public AvgPool(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("resample");
    }

    public void forward(ClBuffer x, ClBuffer y, int r) {
        int[] s = Resample.check("AvgPool.forward", x, y, r, false);
        Reduction.launch(program.kernel("avg_pool_forward"), new long[] {s[3] / r, s[2] / r, (long) s[0] * s[1]},
                Reduction.local3d(ctx.device()), x, y, s[0] * s[1], s[2], s[3], r);
    }

    /** dx [N, C, H, W] from dy [N, C, H / r, W / r]; overwrites dx. */
    public void backward(ClBuffer dy, ClBuffer dx, int r) {
        int[] s = Resample.check("AvgPool.backward", dx, dy, r, false);
        Reduction.launch(program.kernel("avg_pool_backward"), new long[] {s[3], s[2], (long) s[0] * s[1]},
                Reduction.local3d(ctx.device()), dy, dx, s[0] * s[1], s[2], s[3], r);
    }
}
