package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Instance normalisation with affine parameters, as PyTorch's nn.InstanceNorm2d(C, affine=True):
 * each (image, channel) plane of x [N, C, H, W] normalised by its own mean and biased variance,
 * y = gamma[c] (x - mean) / sqrt(var + eps) + beta[c] (kernels/norm.cl). The forward writes the
 * statistics to stats [N*C, 3] (mean, 1/sqrt(var + eps), var), which the backward reads.
 */
public final class InstanceNorm implements AutoCloseable {
    /** PyTorch's default eps. */
    public static final float EPS = 1e-5f;

    private final Normalization norm;
    private final float eps;

    public InstanceNorm(ClContext ctx) {
        this(ctx, EPS);
    }

    public InstanceNorm(ClContext ctx, float eps) {
        this(ctx, eps, Normalization.Variant.forDevice(ctx.device()));
    }

    /** With the kernels' layout forced (tests; {@link Normalization.Variant#forDevice} otherwise). */
    public InstanceNorm(ClContext ctx, Normalization.Variant variant) {
        this(ctx, EPS, variant);
    }

    private InstanceNorm(ClContext ctx, float eps, Normalization.Variant variant) {
        if (!(eps > 0)) {
            throw new IllegalArgumentException("InstanceNorm: eps must be positive but is " + eps);
        }
        this.norm = new Normalization(ctx, variant);
        this.eps = eps;
    }

    /** y = the normalised x [N, C, H, W], gamma [C], beta [C]; stats [N*C, 3] for the backward. y may be x. */
    public void forward(ClBuffer x, ClBuffer gamma, ClBuffer beta, ClBuffer y, ClBuffer stats) {
        int[] s = check("forward", x, gamma, beta, stats);
        Normalization.expect("InstanceNorm.forward", "y", y, s);
        int planes = s[0] * s[1], plane = s[2] * s[3];
        norm.stats(x, 1, planes, plane, eps, stats);
        norm.apply(x, stats, gamma, beta, y, planes, plane, s[1]);
    }

    /** dx, dGamma, dBeta (all overwritten) from x, dy and the forward's stats; dx may be dy. */
    public void backward(ClBuffer x, ClBuffer dy, ClBuffer gamma, ClBuffer stats, ClBuffer dx, ClBuffer dGamma,
            ClBuffer dBeta) {
        int[] s = check("backward", x, gamma, dGamma, stats);
        Normalization.expect("InstanceNorm.backward", "dy", dy, s);
        Normalization.expect("InstanceNorm.backward", "dx", dx, s);
        Normalization.expect("InstanceNorm.backward", "dBeta", dBeta, s[1]);
        norm.backward(x, dy, stats, gamma, dx, dGamma, dBeta, 1, s[0] * s[1], s[2] * s[3], s[1]);
    }

    private static int[] check(String method, ClBuffer x, ClBuffer gamma, ClBuffer beta, ClBuffer stats) {
        String who = "InstanceNorm." + method;
        int[] s = Normalization.nchw(who, x);
        Normalization.expect(who, "gamma", gamma, s[1]);
        Normalization.expect(who, "beta", beta, s[1]);
        Normalization.expect(who, "stats", stats, s[0] * s[1], 3);
        return s;
    }

    @Override
    public void close() {
        norm.close();
    }
}
