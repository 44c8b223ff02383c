package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Nearest-neighbour upsampling by an integer factor r (kernels/resample.cl), as PyTorch's
 * nn.Upsample(scale_factor=r, mode="nearest"): x [N, C, H, W] to y [N, C, H*r, W*r]. The backward
 * sums each r x r block (a gather: deterministic).
 */
public final class Upsample {
    private final ClContext ctx;
    private final ClProgram program;

    public Upsample(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("resample");
    }

    public void forward(ClBuffer x, ClBuffer y, int r) {
        int[] s = Resample.check("Upsample.forward", x, y, r, true);
        Reduction.launch(program.kernel("upsample_nearest_forward"), new long[] {(long) s[3] * r, (long) s[2] * r,
                (long) s[0] * s[1]}, Reduction.local3d(ctx.device()), x, y, s[0] * s[1], s[2], s[3], r);
    }

    /** dx [N, C, H, W] from dy [N, C, H*r, W*r]; overwrites dx. */
    public void backward(ClBuffer dy, ClBuffer dx, int r) {
        int[] s = Resample.check("Upsample.backward", dx, dy, r, true);
        Reduction.launch(program.kernel("upsample_nearest_backward"), new long[] {s[3], s[2], (long) s[0] * s[1]},
                Reduction.local3d(ctx.device()), dy, dx, s[0] * s[1], s[2], s[3], r);
    }
}
