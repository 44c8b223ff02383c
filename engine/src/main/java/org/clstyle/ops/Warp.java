package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Affine warp of images [C, Hi, Wi] -> [C, Ho, Wo] (kernels/warp.cl): bilinear sampling at
 * {@link WarpTransform}'s coordinates with a reflect-101 border (mirror about the edge pixels' centres),
 * and its exact adjoint, a deterministic gather (each input pixel sums the output gradients whose
 * bilinear taps read it, in a fixed order; no atomics).
 */
public final class Warp {
    private final ClContext ctx;
    private final ClProgram program;

    public Warp(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("warp");
    }

    /** y = warp(x); y must not be x. */
    public void forward(ClBuffer x /* [C, Hi, Wi] */, WarpTransform t, ClBuffer y /* [C, Ho, Wo] */) {
        int c = check("Warp.forward", x, "x", y, "y");
        int hi = x.dim(1), wi = x.dim(2), ho = y.dim(1), wo = y.dim(2);
        checkRange("Warp.forward", t, wo, ho);
        float[] a = t.floats();
        int n = ho * wo;
        Reduction.launch(program.kernel("warp_forward"), new long[] {n, c}, local2d(n), x, hi, wi, y, ho, wo, c,
                a[0], a[1], a[2], a[3], a[4], a[5]);
    }

    /**
     * dx (+)= the adjoint of {@link #forward} applied to dy: d(sum dy . warp(x)) / dx. Overwrites dx
     * unless {@code accumulate}; dx must not be dy.
     */
    public void backward(ClBuffer dy /* [C, Ho, Wo] */, WarpTransform t, ClBuffer dx /* [C, Hi, Wi] */,
            boolean accumulate) {
        int c = check("Warp.backward", dx, "dx", dy, "dy");
        int hi = dx.dim(1), wi = dx.dim(2), ho = dy.dim(1), wo = dy.dim(2);
        double[] r = checkRange("Warp.backward", t, wo, ho);
        WarpTransform inv = t.inverse();
        float[] a = t.floats(), b = inv.floats();
        int txLo = (int) Math.floor(r[0]), txHi = (int) Math.floor(r[1]) + 1;
        int tyLo = (int) Math.floor(r[2]), tyHi = (int) Math.floor(r[3]) + 1;
        float ej = (float) (Math.abs(inv.a0()) + Math.abs(inv.a1()));
        float ei = (float) (Math.abs(inv.a3()) + Math.abs(inv.a4()));
        int n = hi * wi;
        Reduction.launch(program.kernel("warp_backward"), new long[] {n, c}, local2d(n), dy, ho, wo, dx, hi, wi, c,
                a[0], a[1], a[2], a[3], a[4], a[5], b[0], b[1], b[2], b[3], b[4], b[5], txLo, txHi, tyLo, tyHi, ej, ei,
                accumulate ? 1 : 0);
    }

    private long[] local2d(int n) {
        return new long[] {Math.min(Reduction.workGroupSize(ctx.device(), 64), n), 1};
    }

    /** Checks both are [C, *, *] with the same C and distinct; returns C. */
    private static int check(String what, ClBuffer in, String inName, ClBuffer out, String outName) {
        if (in.shape().length != 3) {
            throw new IllegalArgumentException(what + ": " + inName + " must be [C, H, W] but is " + in);
        }
        if (out.shape().length != 3 || out.dim(0) != in.dim(0)) {
            throw new IllegalArgumentException(what + ": " + outName + " must be [" + in.dim(0) + ", H, W] but is " + out);
        }
        if (in == out) {
            throw new IllegalArgumentException(what + ": " + outName + " must not be " + inName);
        }
        return in.dim(0);
    }

    private static double[] checkRange(String what, WarpTransform t, int wo, int ho) {
        double[] r = t.sampleRange(wo, ho);
        for (double v : r) {
            if (Math.abs(v) > WarpTransform.MAX_COORDINATE) {
                throw new IllegalArgumentException(what + ": the transform samples at " + v
                        + ", beyond the supported +-" + (long) WarpTransform.MAX_COORDINATE + " pixels");
            }
        }
        return r;
    }
}
