package org.clstyle.optim;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;

/**
 * Adam on device buffers with PyTorch's update (no weight decay, no amsgrad), one fused kernel per
 * step (VectorOps.adam): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * x -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps). The projection (clamp to [0,1]) is applied
 * after each update, so the next gradient is taken at the in-range image.
 */
public final class Adam implements AutoCloseable {
    /** PyTorch's Adam arguments. */
    public record Options(double lr, double beta1, double beta2, double eps) {
        public Options {
            if (!(lr > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(eps >= 0)) {
                throw new IllegalArgumentException("Adam needs lr > 0, 0 <= betas < 1, eps >= 0");
            }
        }

        /** PyTorch's defaults with the given learning rate: betas (0.9, 0.999), eps 1e-8. */
        public static Options withLr(double lr) {
            return new Options(lr, 0.9, 0.999, 1e-8);
        }
    }

    private final VectorOps ops;
    private final Options opt;
    private final Projection projection;
    private final ClBuffer g;   // [n] gradient
    private final ClBuffer m;   // [n] first moment
    private final ClBuffer v;   // [n] second moment
    private int steps;
    private double loss = Double.NaN;

    public Adam(ClContext ctx, int[] shape, Options options, Projection projection) {
        this.ops = new VectorOps(ctx);
        this.opt = options;
        this.projection = projection == null ? Projection.NONE : projection;
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        int size = Math.toIntExact(n);
        g = ctx.buffer(shape);
        m = ctx.buffer(shape);
        v = ctx.buffer(shape);
        ops.fill(m, 0f);
        ops.fill(v, 0f);
    }

    /**
     * Evaluates the objective at x and takes one Adam step; returns the loss at x before the step
     * (the loss the step was computed from, as PyTorch's usual loop reports it).
     */
    public double step(ClBuffer x, Objective f) {
        if (x.elements() != g.elements()) {
            throw new IllegalArgumentException("Adam set up for " + g.elements() + " elements, got buffer " + x);
        }
        if (steps == 0) {
            projection.apply(x);
        }
        loss = f.evaluate(x, g);
        steps++;
        ops.adam(x, g, m, v, (float) opt.lr(), (float) opt.beta1(), (float) opt.beta2(), (float) opt.eps(), steps);
        projection.apply(x);
        return loss;
    }

    public int steps() { return steps; }

    public double loss() { return loss; }

    public long deviceBytes() { return 3 * g.bytes(); }

    @Override
    public void close() {
        g.close();
        m.close();
        v.close();
    }
}
