package org.clstyle.loss;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.tune.TuningTable;
import org.clstyle.ops.VectorOps;

/**
 * style_l = mean over the C^2 entries of (G_l(x) - sum_k b_k G_l(style_k))^2, or |.| for L1, or half
 * their sum of squares for SSE_HALF, with G = F F^T / n, n = C*h*w ("chw") or h*w ("hw") of the
 * activation it is taken of. With "gatys", G = F F^T unnormalised and style_l = sum (G_l(x) - A_l)^2 /
 * (4 N^2 M^2), N = C and M = h*w of F_l(x) (the paper's E_l; A_l = sum_k b_k F_l(style_k) F_l(style_k)^T).
 * The blended target is built once from each style image's activation at that image's own size.
 */
public final class StyleLoss {
    private final String layer;
    private final Distance.Kind kind;
    private final Recipe.LossKind loss;
    private final Recipe.GramNorm norm;
    private final Distance distance;
    private final GramMatrix gram;
    private final VectorOps vectors;
    private final ClBuffer target; // [C, C], sum_k b_k G_l(style_k)
    private final ClBuffer g;      // [C, C], G_l(x), kept from forward for the backward
    private final ClBuffer dg;     // [C, C], d style_l / d G_l(x)

    public StyleLoss(ClContext ctx, String layer, int channels, Recipe.LossKind kind, Recipe.GramNorm norm) {
        this.layer = layer;
        this.kind = kind == Recipe.LossKind.L1 ? Distance.Kind.L1 : Distance.Kind.MSE;
        this.loss = kind;
        this.norm = norm;
        this.distance = new Distance(ctx);
        this.gram = new GramMatrix(ctx, TuningTable.load(ctx.device()));
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
        distance.forward(kind, g, target, factor(activation), results, index);
    }

    /** grad (+)= scale * d style_l / d F_l(x); needs the forward on the same activation first. */
    public void backward(ClBuffer activation, float scale, ClBuffer grad /* [C, h, w] */, boolean accumulate) {
        distance.backward(kind, g, target, factor(activation), scale, dg, false);
        gram.backward(dg, activation, grad, n(activation), accumulate);
    }

    /** The distance is factor * sum over the C^2 entries: 1/C^2 (the mean), 1/2, or 1/(4 N^2 M^2) for "gatys". */
    private double factor(ClBuffer f /* [C, h, w] */) {
        double c = f.dim(0);
        if (norm == Recipe.GramNorm.GATYS) {
            double m = (double) f.dim(1) * f.dim(2);
            return 1.0 / (4 * c * c * m * m);
        }
        return loss == Recipe.LossKind.SSE_HALF ? 0.5 : 1.0 / (c * c);
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
