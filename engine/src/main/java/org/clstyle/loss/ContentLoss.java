package org.clstyle.loss;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Distance;

/**
 * content_l = mean over elements of (F_l(x) - F_l(content))^2, or |.| for L1, or 1/2 sum (F_l(x) -
 * F_l(content))^2 for SSE_HALF (Gatys et al.'s content loss), at one layer. The target activation is
 * copied once; forward writes the raw term into a slot of the shared result buffer.
 */
public final class ContentLoss {
    private final String layer;
    private final Distance.Kind kind;
    private final double factor;   // the distance is factor * sum: 1/n (the mean) or 1/2 (SSE_HALF)
    private final Distance distance;
    private final ClBuffer target; // [C, h, w], F_l(content)

    /** Keeps a copy of {@code contentActivation} (F_l(content)) as the target. */
    public ContentLoss(ClContext ctx, String layer, Recipe.LossKind kind, ClBuffer contentActivation) {
        this.layer = layer;
        this.kind = kind == Recipe.LossKind.L1 ? Distance.Kind.L1 : Distance.Kind.MSE;
        this.factor = kind == Recipe.LossKind.SSE_HALF ? 0.5 : 1.0 / contentActivation.size();
        this.distance = new Distance(ctx);
        this.target = ctx.buffer(contentActivation.shape());
        target.copyFrom(contentActivation);
    }

    public String layer() { return layer; }

    /** results[index] = content_l for the activation F_l(x). */
    public void forward(ClBuffer activation /* [C, h, w] */, ClBuffer results, int index) {
        distance.forward(kind, activation, target, factor, results, index);
    }

    /** grad (+)= scale * d content_l / d F_l(x). */
    public void backward(ClBuffer activation, float scale, ClBuffer grad /* [C, h, w] */, boolean accumulate) {
        distance.backward(kind, activation, target, factor, scale, grad, accumulate);
    }

    /** Replaces the target with a copy of {@code contentActivation} (same shape as the first). */
    public void setTarget(ClBuffer contentActivation /* [C, h, w] */) {
        target.copyFrom(contentActivation);
    }

    /** Releases the target. */
    public void release() {
        target.close();
    }
}
