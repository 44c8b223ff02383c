package org.clstyle.loss;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.ops.VectorOps;

/**
 * style_l = mean over the C^2 entries of (G_l(x) - sum_k b_k G_l(style_k))^2, or |.| for L1, with
 * G = F F^T / n, n = C*h*w ("chw") or h*w ("hw") of the activation it is taken of. The blended target is
 * built once from each style image's activation at that image's own size.
 */
public final class StyleLoss {
    private final String layer;
    private final Distance.Kind kind;
    private final Recipe.GramNorm norm;
    private final Distance distance;
    private final GramMatrix gram;
    private final VectorOps vectors;
    private final ClBuffer target; // [C, C], sum_k b_k G_l(style_k)
    private final ClBuffer g;      // [C, C], G_l(x), kept from forward for the backward
    private final ClBuffer dg;     // [C, C], d style_l / d G_l(x)

    public StyleLoss(ClContext ctx, String layer, int channels, Recipe.LossKind kind, Recipe.GramNorm norm) {
        this.layer = layer;
        this.kind = kind == Recipe.LossKind.MSE ? Distance.Kind.MSE : Distance.Kind.L1;
        this.norm = norm;
        this.distance = new Distance(ctx);
        this.gram = new GramMatrix(ctx);
        this.vectors = new VectorOps(ctx);
        this.target = ctx.buffer(channels, channels);
        this.g = ctx.buffer(channels, channels);
        this.dg = ctx.buffer(channels, channels);
        vectors.fill(target, 0f);
    }

    public String layer() { return layer; }

    /** target += blend * G_l(style), the style's activation at its own size ([C, h_k, w_k]). */
    public void addTarget(ClBuffer styleActivation, double blend) {
        gram.forward(styleActivation, g, n(styleActivation));
        vectors.axpy((float) blend, g, target);
    }

    /** results[index] = style_l for the activation F_l(x); keeps G_l(x) for the backward. */
    public void forward(ClBuffer activation /* [C, h, w] */, ClBuffer results, int index) {
        gram.forward(activation, g, n(activation));
        distance.forward(kind, g, target, results, index);
    }

    /** grad (+)= scale * d style_l / d F_l(x); needs the forward on the same activation first. */
    public void backward(ClBuffer activation, float scale, ClBuffer grad /* [C, h, w] */, boolean accumulate) {
        distance.backward(kind, g, target, scale, dg, false);
        gram.backward(dg, activation, grad, n(activation), accumulate);
    }

    private double n(ClBuffer f) {
        return norm.n(f.dim(0), f.dim(1), f.dim(2));
    }

    /** Releases the device buffers. */
    public void release() {
        target.close();
        g.close();
        dg.close();
    }
}
