package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Total variation of an image [C, H, W] (kernels/tv.cl): the sum over c, i, j of the squared (L2)
 * or absolute (L1) differences between each element and its right and lower neighbours. A sum, not
 * a mean. Forward by reduce.cl's deterministic two-stage sum.
 */
public final class TotalVariation {
    public enum Kind { L2, L1 }

    private static final String FAMILY = "tv";
    private final Reduction reduction;

    public TotalVariation(ClContext ctx) {
        this.reduction = new Reduction(ctx);
    }

    /** out[index] = TV(x). */
    public void forward(Kind k, ClBuffer x /* [C, H, W] */, ClBuffer out, int index) {
        checkImage("TotalVariation.forward", x);
        int h = x.dim(1), w = x.dim(2), n = x.size();
        reduction.sum(FAMILY, k == Kind.L2 ? "tv_l2_partials" : "tv_l1_partials", n, 1.0, out, index, x, h, w, n);
    }

    /** grad (+)= scale * d TV / d x (L1 uses sign with sign(0) = 0). Overwrites grad unless {@code accumulate}. */
    public void backward(Kind k, ClBuffer x /* [C, H, W] */, float scale, ClBuffer grad /* [C, H, W] */,
            boolean accumulate) {
        checkImage("TotalVariation.backward", x);
        Reduction.checkSameShape("TotalVariation.backward", x, "x", grad, "grad");
        int h = x.dim(1), w = x.dim(2), n = x.size();
        reduction.elementwise(FAMILY, "tv_backward", n, x, h, w, n, k == Kind.L1 ? 1 : 0, scale, grad,
                accumulate ? 1 : 0);
    }

    private static void checkImage(String what, ClBuffer x) {
        if (x.shape().length != 3) {
            throw new IllegalArgumentException(what + ": x must be [C, H, W] but is " + x);
        }
    }
}
