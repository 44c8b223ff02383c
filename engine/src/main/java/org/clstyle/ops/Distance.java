package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Mean squared error and mean absolute error between two tensors of the same shape (kernels/loss.cl),
 * forward by reduce.cl's deterministic two-stage sum; also the scaled sums factor * sum (a - b)^2 and
 * factor * sum |a - b| that the paper's normalisations need (the mean is the factor 1/n).
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
        forward(k, a, b, 1.0 / a.size(), out, index);
    }

    /**
     * out[index] = factor * sum((a - b)^2) (MSE) or factor * sum(|a - b|) (L1); factor 1/n is the mean,
     * 1/2 the half sum of squares, 1/(4 N^2 M^2) Gatys et al.'s style normalisation.
     */
    public void forward(Kind k, ClBuffer a, ClBuffer b, double factor, ClBuffer out, int index) {
        Reduction.checkSameShape("Distance.forward", a, "a", b, "b");
        checkFactor(factor);
        int n = a.size();
        reduction.sum(FAMILY, k == Kind.MSE ? "mse_partials" : "l1_partials", n, factor, out, index, a, b, n);
    }

    /**
     * grad (+)= scale * d mean / d a: scale * 2 (a - b) / n for MSE, scale * sign(a - b) / n with
     * sign(0) = 0 for L1. Overwrites grad unless {@code accumulate}.
     */
    public void backward(Kind k, ClBuffer a, ClBuffer b, float scale, ClBuffer grad, boolean accumulate) {
        backward(k, a, b, 1.0 / a.size(), scale, grad, accumulate);
    }

    /**
     * The backward of the scaled sum: grad (+)= scale * factor * 2 (a - b) for MSE, scale * factor *
     * sign(a - b) for L1. Overwrites grad unless {@code accumulate}.
     */
    public void backward(Kind k, ClBuffer a, ClBuffer b, double factor, float scale, ClBuffer grad, boolean accumulate) {
        Reduction.checkSameShape("Distance.backward", a, "a", b, "b");
        Reduction.checkSameShape("Distance.backward", a, "a", grad, "grad");
        checkFactor(factor);
        int n = a.size();
        double coef = k == Kind.MSE ? 2.0 * scale * factor : scale * factor;
        reduction.elementwise(FAMILY, k == Kind.MSE ? "mse_backward" : "l1_backward", n,
                a, b, (float) coef, grad, accumulate ? 1 : 0, n);
    }

    private static void checkFactor(double factor) {
        if (!(factor > 0) || !Double.isFinite(factor)) {
            throw new IllegalArgumentException("Distance: factor must be a positive finite number, got " + factor);
        }
    }
}
