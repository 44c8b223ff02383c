package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Batch normalisation with affine parameters, as PyTorch's nn.BatchNorm2d(C) (kernels/norm.cl).
 * Training mode normalises each channel of x [N, C, H, W] by the batch's mean and biased variance
 * over N*H*W, writes them to stats [C, 3] (mean, 1/sqrt(var + eps), var) for the backward, and
 * updates the running statistics as PyTorch does (momentum, default 0.1; the unbiased variance).
 * Inference mode normalises with the running statistics.
 */
public final class BatchNorm implements AutoCloseable {
    public static final float EPS = 1e-5f;
    public static final float MOMENTUM = 0.1f;

    private final Normalization norm;
    private final float eps;
    private final float momentum;

    public BatchNorm(ClContext ctx) {
        this(ctx, EPS, MOMENTUM);
    }

    public BatchNorm(ClContext ctx, float eps, float momentum) {
        this(ctx, eps, momentum, Normalization.Variant.forDevice(ctx.device()));
    }

    /** With the kernels' layout forced (tests; {@link Normalization.Variant#forDevice} otherwise). */
    public BatchNorm(ClContext ctx, Normalization.Variant variant) {
        this(ctx, EPS, MOMENTUM, variant);
    }

    private BatchNorm(ClContext ctx, float eps, float momentum, Normalization.Variant variant) {
        if (!(eps > 0) || !(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("BatchNorm: eps must be positive and momentum in [0, 1], got " + eps
                    + ", " + momentum);
        }
        this.norm = new Normalization(ctx, variant);
        this.eps = eps;
        this.momentum = momentum;
    }

    /**
     * Training-mode forward: y from the batch statistics (stats [C, 3]); runMean and runVar [C] are
     * updated when not null. y may be x. Needs more than one value per channel, as PyTorch.
     */
    public void forwardTraining(ClBuffer x, ClBuffer gamma, ClBuffer beta, ClBuffer y, ClBuffer stats,
            ClBuffer runMean, ClBuffer runVar) {
        int[] s = check("forwardTraining", x, gamma, beta, stats);
        Normalization.expect("BatchNorm.forwardTraining", "y", y, s);
        int plane = s[2] * s[3];
        long count = (long) s[0] * plane;
        if (count < 2) {
            throw new IllegalArgumentException("BatchNorm.forwardTraining: expected more than 1 value per channel, got "
                    + x);
        }
        norm.stats(x, s[0], s[1], plane, eps, stats);
        if (runMean != null || runVar != null) {
            Normalization.expect("BatchNorm.forwardTraining", "runMean", runMean, s[1]);
            Normalization.expect("BatchNorm.forwardTraining", "runVar", runVar, s[1]);
            norm.updateRunning(stats, runMean, runVar, s[1], momentum, count);
        }
        norm.apply(x, stats, gamma, beta, y, s[1], plane, s[1]);
    }

    /** Inference-mode forward with the running statistics; stats [C, 3] is scratch. y may be x. */
    public void forwardInference(ClBuffer x, ClBuffer gamma, ClBuffer beta, ClBuffer runMean, ClBuffer runVar,
            ClBuffer y, ClBuffer stats) {
        int[] s = check("forwardInference", x, gamma, beta, stats);
        Normalization.expect("BatchNorm.forwardInference", "y", y, s);
        Normalization.expect("BatchNorm.forwardInference", "runMean", runMean, s[1]);
        Normalization.expect("BatchNorm.forwardInference", "runVar", runVar, s[1]);
        norm.statsFromRunning(runMean, runVar, eps, stats, s[1]);
        norm.apply(x, stats, gamma, beta, y, s[1], s[2] * s[3], s[1]);
    }

    /** Training-mode backward: dx, dGamma, dBeta (overwritten) from x, dy and the forward's stats; dx may be dy. */
    public void backward(ClBuffer x, ClBuffer dy, ClBuffer gamma, ClBuffer stats, ClBuffer dx, ClBuffer dGamma,
            ClBuffer dBeta) {
        int[] s = check("backward", x, gamma, dGamma, stats);
        Normalization.expect("BatchNorm.backward", "dy", dy, s);
        Normalization.expect("BatchNorm.backward", "dx", dx, s);
        Normalization.expect("BatchNorm.backward", "dBeta", dBeta, s[1]);
        norm.backward(x, dy, stats, gamma, dx, dGamma, dBeta, s[0], s[1], s[2] * s[3], s[1]);
    }

    private static int[] check(String method, ClBuffer x, ClBuffer gamma, ClBuffer beta, ClBuffer stats) {
        String who = "BatchNorm." + method;
        int[] s = Normalization.nchw(who, x);
        Normalization.expect(who, "gamma", gamma, s[1]);
        Normalization.expect(who, "beta", beta, s[1]);
        Normalization.expect(who, "stats", stats, s[1], 3);
        return s;
    }

    @Override
    public void close() {
        norm.close();
    }
}
