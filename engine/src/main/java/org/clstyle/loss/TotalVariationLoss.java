package org.clstyle.loss;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.TotalVariation;

/**
 * tv = sum over c, i, j of (x[c,i,j+1] - x[c,i,j])^2 + (x[c,i+1,j] - x[c,i,j])^2 ("l2"), or of |.| ("l1"),
 * over the [0,1] RGB image itself (not the network input), so its weight means the same for every
 * weights source.
 */
public final class TotalVariationLoss {
    private final TotalVariation.Kind kind;
    private final TotalVariation tv;

    public TotalVariationLoss(ClContext ctx, Recipe.TvKind kind) {
        this.kind = kind == Recipe.TvKind.L2 ? TotalVariation.Kind.L2 : TotalVariation.Kind.L1;
        this.tv = new TotalVariation(ctx);
    }

    /** results[index] = tv(image). */
    public void forward(ClBuffer image /* [3, H, W] */, ClBuffer results, int index) {
        tv.forward(kind, image, results, index);
    }

    /** grad (+)= scale * d tv / d image. */
    public void backward(ClBuffer image, float scale, ClBuffer grad /* [3, H, W] */, boolean accumulate) {
        tv.backward(kind, image, scale, grad, accumulate);
    }
}
