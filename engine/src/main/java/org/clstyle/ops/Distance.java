package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Mean squared error and mean absolute error between two tensors of the same shape (kernels/loss.cl),
 * forward by reduce.cl's deterministic two-stage sum.
 */
public final class Distance {
    public enum Kind { MSE, L1 }

    private static final String FAMILY = "loss";
    private final Reduction reduction;

    public Distance(ClContext ctx) {
        this.reduction = new Reduction(ctx);
    }

    /** out[index] = mean((a - b)^2) (MSE) or mean(|a - b|) (L1). */
    public void forward(Kind k, ClBuffer a, ClBuffer b, ClBuffer out, int index) {
        Reduction.checkSameShape("Distance.forward", a, "a", b, "b");
        int n = a.size();
        reduction.sum(FAMILY, k == Kind.MSE ? "mse_partials" : "l1_partials", n, 1.0 / n, out, index, a, b, n);
    }

    /**
     * grad (+)= scale * d mean / d a: scale * 2 (a - b) / n for MSE, scale * sign(a - b) / n with
     * sign(0) = 0 for L1. Overwrites grad unless {@code accumulate}.
     */
    public void backward(Kind k, ClBuffer a, ClBuffer b, float scale, ClBuffer grad, boolean accumulate) {
        Reduction.checkSameShape("Distance.backward", a, "a", b, "b");
        Reduction.checkSameShape("Distance.backward", a, "a", grad, "grad");
        int n = a.size();
        double coef = k == Kind.MSE ? 2.0 * scale / n : (double) scale / n;
        reduction.elementwise(FAMILY, k == Kind.MSE ? "mse_backward" : "l1_backward", n,
                a, b, (float) coef, grad, accumulate ? 1 : 0, n);
    }
}
