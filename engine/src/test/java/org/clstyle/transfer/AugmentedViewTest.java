package org.clstyle.transfer;

import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;
import org.clstyle.ops.WarpTransform;
import org.clstyle.optim.Objective;
import org.clstyle.reference.WarpReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

/**
 * The augmented objective: f(x) = inner(warp(x)) with the padded view, and its gradient warp^T(inner'),
 * against WarpReference for f = 0.5 |warp(x) - t|^2 (value rtol 1e-5; gradient atol 1e-4 + rtol 1e-5,
 * as WarpTest).
 */
class AugmentedViewTest {
    @Test
    void valueAndGradientAreThoseOfTheWarpedImage() {
        int w = 13, h = 11, pad = 5, vw = w + 2 * pad, vh = h + 2 * pad;
        float[] x = Tensors.uniform(1, 3 * h * w, 0, 1);
        float[] t = Tensors.uniform(2, 3 * vh * vw, 0, 1);
        try (ClContext ctx = ClContext.createDefault();
                AugmentedView view = new AugmentedView(ctx, Augmentation.parse("--augment", "strong"), w, h, pad, 3.0,
                        new SplittableRandom(4));
                ClBuffer xb = ctx.buffer(x, 3, h, w); ClBuffer gb = ctx.buffer(3, h, w); ClBuffer tb = ctx.buffer(t, 3, vh, vw)) {
            VectorOps v = new VectorOps(ctx);
            Objective inner = (yb, dy) -> {
                v.copy(yb, dy);
                v.axpy(-1f, tb, dy);
                return 0.5 * v.dot(dy, dy);
            };
            for (int step = 0; step < 3; step++) {
                WarpTransform tr = view.next();
                assertNotEquals(WarpTransform.translation(-pad, -pad), tr, "a view is drawn");
                double value = view.wrap(inner).evaluate(xb, gb);
                double[] a = tr.coefficients();
                double[] y = WarpReference.forward(Tensors.toDouble(x), 3, h, w, vh, vw, a);
                double[] r = new double[y.length];
                double expected = 0;
                for (int k = 0; k < y.length; k++) {
                    r[k] = y[k] - t[k];
                    expected += 0.5 * r[k] * r[k];
                }
                Tensors.assertClose("augmented value, step " + step, expected, value, 0, 1e-5);
                Tensors.assertClose("augmented gradient, step " + step,
                        toFloat(WarpReference.backward(r, 3, h, w, vh, vw, a)), gb.read(),
                        1e-4, 1e-5);
            }
        }
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
