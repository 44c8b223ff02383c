package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Vector operations for the optimisers, over buffers seen as flat [n] (kernels/optim.cl). The
 * reductions (dot, sumAbs) are reduce.cl's deterministic two-stage sums.
 */
public final class VectorOps implements AutoCloseable {
    private static final String FAMILY = "optim";
    private final ClContext ctx;
    private final Reduction reduction;
    private ClBuffer scalar; // [1], for the blocking dot

    public VectorOps(ClContext ctx) {
        this.ctx = ctx;
        this.reduction = new Reduction(ctx);
    }

    /** Releases the reduction's partials and the scalar buffer; unusable afterwards. */
    @Override
    public void close() {
        reduction.close();
        if (scalar != null) {
            scalar.close();
            scalar = null;
        }
    }

    /** out[index] = sum(a * b). */
    public void dot(ClBuffer a, ClBuffer b, ClBuffer out, int index) {
        Reduction.checkSameSize("VectorOps.dot", a, "a", b, "b");
        int n = a.size();
        reduction.sum(FAMILY, "dot_partials", n, 1.0, out, index, a, b, n);
    }

    /** sum(a * b), read back (blocks). */
    public double dot(ClBuffer a, ClBuffer b) {
        if (scalar == null) {
            scalar = ctx.buffer(1);
        }
        dot(a, b, scalar, 0);
        return scalar.read(0);
    }

    /** out[index] = sum(|a|). */
    public void sumAbs(ClBuffer a, ClBuffer out, int index) {
        int n = a.size();
        reduction.sum(FAMILY, "sum_abs_partials", n, 1.0, out, index, a, n);
    }

    /** y += alpha x */
    public void axpy(float alpha, ClBuffer x, ClBuffer y) {
        Reduction.checkSameSize("VectorOps.axpy", x, "x", y, "y");
        int n = x.size();
        reduction.elementwise(FAMILY, "axpy", n, alpha, x, y, n);
    }

    /** y += mul * coef[index] * x, the coefficient staying on the device. */
    public void axpy(ClBuffer coef, int index, float mul, ClBuffer x, ClBuffer y) {
        Reduction.checkSameSize("VectorOps.axpy", x, "x", y, "y");
        Reduction.checkIndex(coef, index);
        int n = x.size();
        reduction.elementwise(FAMILY, "axpy_device_coef", n, coef, index, mul, x, y, n);
    }

    /** y += (mul / (divisor[index] + eps)) * x, the divisor staying on the device. */
    public void axpyDivided(ClBuffer divisor, int index, float eps, float mul, ClBuffer x, ClBuffer y) {
        Reduction.checkSameSize("VectorOps.axpyDivided", x, "x", y, "y");
        Reduction.checkIndex(divisor, index);
        int n = x.size();
        reduction.elementwise(FAMILY, "axpy_divided", n, divisor, index, eps, mul, x, y, n);
    }

    /** x *= alpha */
    public void scale(ClBuffer x, float alpha) {
        int n = x.size();
        reduction.elementwise(FAMILY, "scale_in_place", n, x, alpha, n);
    }

    /** dst = src (same element count). */
    public void copy(ClBuffer src, ClBuffer dst) {
        Reduction.checkSameSize("VectorOps.copy", src, "src", dst, "dst");
        dst.copyFrom(src);
    }

    /** x = value everywhere. */
    public void fill(ClBuffer x, float value) {
        int n = x.size();
        reduction.elementwise(FAMILY, "fill", n, x, value, n);
    }

    /**
     * One step of PyTorch's Adam (no weight decay, no amsgrad) at step {@code step} (1 for the first):
     * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps),
     * evaluated as PyTorch does (eps outside the square root).
     */
    public void adam(ClBuffer param, ClBuffer grad, ClBuffer m, ClBuffer v, float lr, float beta1, float beta2,
            float eps, int step) {
        Reduction.checkSameSize("VectorOps.adam", param, "param", grad, "grad");
        Reduction.checkSameSize("VectorOps.adam", param, "param", m, "m");
        Reduction.checkSameSize("VectorOps.adam", param, "param", v, "v");
        if (step < 1) {
            throw new IllegalArgumentException("VectorOps.adam: step must be at least 1 but is " + step);
        }
        // PyTorch takes these as Python floats (doubles): recover the decimal the caller wrote
        // (0.9f -> 0.9) so the bias corrections match its double arithmetic.
        double b1 = decimal(beta1), b2 = decimal(beta2);
        double stepSize = decimal(lr) / (1 - Math.pow(b1, step));
        double bc2Sqrt = Math.sqrt(1 - Math.pow(b2, step));
        int n = param.size();
        reduction.elementwise(FAMILY, "adam_step", n, param, grad, m, v,
                (float) b1, (float) (1 - b1), (float) b2, (float) (1 - b2),
                (float) stepSize, (float) bc2Sqrt, eps, n);
    }

    /** The shortest decimal that rounds to {@code f}, as a double. */
    static double decimal(float f) {
        return Double.parseDouble(Float.toString(f));
    }
}
