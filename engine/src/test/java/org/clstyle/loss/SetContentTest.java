package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;

/**
 * LossFunction.setContent: a loss built with content A and then given content B computes exactly what a
 * loss built with B computes (values and gradient), the style targets untouched.
 */
class SetContentTest {
    private static float[] random(int n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) r.nextDouble();
        return v;
    }

    private static VggWeights tiny() {
        int[] widths = {4, 4, 6, 6, 5, 5, 5, 5, 7, 7, 7, 7, 3, 3, 3, 3};
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        int cin = 3;
        for (int i = 0; i < widths.length; i++) {
            String name = VggArchitecture.VGG19.convLayers().get(i);
            float[] wt = random(widths[i] * cin * 9, i);
            for (int k = 0; k < wt.length; k++) wt[k] = (wt[k] - 0.5f) * 0.5f;
            w.put(name, wt);
            b.put(name, new float[widths[i]]);
            cin = widths[i];
        }
        return VggWeights.of(w, b, Preprocessing.CAFFE);
    }

    @Test
    void newContentEqualsALossBuiltWithIt() {
        int h = 19, w = 23; // odd sizes
        VggWeights vgg = tiny();
        Recipe recipe = Recipe.defaultsFor(vgg.preprocessing()).toBuilder()
                .contentLayers(Recipe.layerList("content", "relu2_2,relu4_2:0.5")).build();
        float[] a = random(3 * h * w, 1), bImg = random(3 * h * w, 2), x = random(3 * h * w, 3), style = random(3 * 29 * 17, 4);
        try (ClContext ctx = ClContext.createDefault();
                LossFunction la = new LossFunction(ctx, vgg, recipe, a, h, w, List.of(style), List.of(new int[] {29, 17}));
                LossFunction lb = new LossFunction(ctx, vgg, recipe, bImg, h, w, List.of(style), List.of(new int[] {29, 17}));
                ClBuffer img = ctx.buffer(x, 3, h, w); ClBuffer g1 = ctx.buffer(3, h, w); ClBuffer g2 = ctx.buffer(3, h, w);
                ClBuffer content = ctx.buffer(bImg, 3, h, w)) {
            LossValues before = la.evaluate(img, g1);
            LossValues want = lb.evaluate(img, g2);
            assertNotEquals(want.content(), before.content(), "the two contents differ");
            la.setContent(content);
            LossValues got = la.evaluate(img, g1);
            assertEquals(want.content(), got.content());
            assertEquals(want.style(), got.style());
            assertEquals(want.style(), before.style(), "style targets untouched");
            assertEquals(want.total(), got.total());
            assertArrayEquals(g2.read(), g1.read());
            try (ClBuffer wrong = ctx.buffer(3, h, w + 1)) {
                assertThrows(IllegalArgumentException.class, () -> la.setContent(wrong));
            }
            try (LossFunction tex = new LossFunction(ctx, vgg, recipe, null, h, w, List.of(style), List.of(new int[] {29, 17}))) {
                assertThrows(IllegalStateException.class, () -> tex.setContent(content));
            }
        }
    }
}
