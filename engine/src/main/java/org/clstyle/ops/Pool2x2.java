package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * 2x2 max and average pooling with stride 2 over [C, H, W] (kernels/pool.cl). Output [C, H/2, W/2]
 * rounded down, as PyTorch: an odd last row or column is dropped, and gets gradient 0.
 */
public final class Pool2x2 {
    private final ClContext ctx;
    private final ClProgram program;

    public Pool2x2(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("pool");
    }

    /** y = the maximum of each 2x2 window of x. */
    public void maxForward(ClBuffer x /* [C, H, W] */, ClBuffer y /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.maxForward", x, "x", y, "y");
        launchOver(y, x, "max_pool_forward", x, y);
    }

    /** dx = dy at each window's first maximum (row-major order), 0 elsewhere; overwrites dx. */
    public void maxBackward(ClBuffer x /* [C, H, W] */, ClBuffer dy /* [C, H/2, W/2] */, ClBuffer dx /* [C, H, W] */) {
        checkShapes("Pool2x2.maxBackward", x, "x", dy, "dy");
        Reduction.checkSameShape("Pool2x2.maxBackward", x, "x", dx, "dx");
        launchOver(dx, x, "max_pool_backward", x, dy, dx);
    }

    /** y = the mean of each 2x2 window of x. */
    public void avgForward(ClBuffer x /* [C, H, W] */, ClBuffer y /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.avgForward", x, "x", y, "y");
        launchOver(y, x, "avg_pool_forward", x, y);
    }

    /** dx = dy / 4 spread over each window, 0 in a dropped row or column; overwrites dx. */
    public void avgBackward(ClBuffer dy /* [C, H/2, W/2] */, ClBuffer dx /* [C, H, W] */) {
        checkShapes("Pool2x2.avgBackward", dx, "dx", dy, "dy");
        launchOver(dx, dx, "avg_pool_backward", dy, dx);
    }

    /**
     * One work-item per element of {@code grid} (the buffer the kernel writes), for input {@code full}
     * [C, H, W]; the kernel takes {@code bufs} then C, H, W, H/2, W/2.
     */
    private void launchOver(ClBuffer grid, ClBuffer full, String kernelName, ClBuffer... bufs) {
        int c = full.dim(0), h = full.dim(1), w = full.dim(2);
        Object[] args = new Object[bufs.length + 5];
        System.arraycopy(bufs, 0, args, 0, bufs.length);
        args[bufs.length] = c;
        args[bufs.length + 1] = h;
        args[bufs.length + 2] = w;
        args[bufs.length + 3] = h / 2;
        args[bufs.length + 4] = w / 2;
        ClKernel k = program.kernel(kernelName);
        Reduction.launch(k, new long[] {grid.dim(2), grid.dim(1), grid.dim(0)}, Reduction.local3d(ctx.device()), args);
    }

    private static void checkShapes(String what, ClBuffer full, String fullName, ClBuffer half, String halfName) {
        int[] s = full.shape();
        if (s.length != 3) {
            throw new IllegalArgumentException(what + ": " + fullName + " must be [C, H, W] but is " + full);
        }
        if (s[1] < 2 || s[2] < 2) {
            throw new IllegalArgumentException(what + ": " + fullName + " " + full
                    + " is smaller than the 2x2 window");
        }
        int[] h = half.shape();
        if (h.length != 3 || h[0] != s[0] || h[1] != s[1] / 2 || h[2] != s[2] / 2) {
            throw new IllegalArgumentException(what + ": " + halfName + " must be [" + s[0] + ", " + s[1] / 2 + ", "
                    + s[2] / 2 + "] for " + fullName + " " + full + " but is " + half);
        }
    }
}
