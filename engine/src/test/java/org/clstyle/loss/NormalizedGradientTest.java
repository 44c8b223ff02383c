package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * --normalize-gradients (jcjohnson): each term's gradient at its layer is divided by its own L1 norm
 * before its weight applies. For a content MSE term, d/dF mean((F-T)^2) = 2(F-T)/N has L1 norm
 * 2 mean|F-T|, which is the same layer's raw L1 content loss; so the normalised image gradient must be
 * the plain one divided by (2 * that L1 value). With two terms, the normalised gradient is the sum of
 * the two normalised single-term gradients. Tolerances: atol 1e-4 * max|expected| + rtol 1e-3.
 */
class NormalizedGradientTest {
    private static ClContext ctx;
    private static VggWeights weights;
    private static Golden.Tensor image, content, style;

    @BeforeAll
    static void open() throws Exception {
        ctx = ClContext.createDefault();
        weights = Golden.weights("caffe");
        image = Golden.png(Golden.cases().get("image").asText());
        content = Golden.png("content.png");
        style = Golden.png("style_a.png");
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    private static Recipe.Builder base() {
        return Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(0).contentWeight(3)
                .contentLayers(Map.of()).styleWeight(7).styleLayers(Map.of());
    }

    private record Result(LossValues values, float[] grad) {}

    private static Result evaluate(Recipe r, boolean normalize) {
        int h = image.shape()[1], w = image.shape()[2];
        try (LossFunction loss = new LossFunction(ctx, weights, r, content.data(), h, w, List.of(style.data()),
                List.of(new int[] {style.shape()[1], style.shape()[2]}), normalize);
                ClBuffer x = ctx.buffer(image.data(), image.shape());
                ClBuffer g = ctx.buffer(image.shape())) {
            LossValues v = loss.evaluate(x, g);
            return new Result(v, g.read());
        }
    }

    private static void assertCloseScaled(String what, float[] expected, float[] actual) {
        Tensors.assertClose(what, expected, actual, 1e-4 * Golden.maxAbs(expected), 1e-3);
    }

    @Test
    void contentTermIsDividedByItsOwnL1Norm() {
        Recipe mse = base().contentLayers(Map.of("relu2_1", 2.0)).build();
        Recipe l1 = base().contentLayers(Map.of("relu2_1", 2.0)).contentLoss(Recipe.LossKind.L1).build();
        Result plain = evaluate(mse, false);
        Result normalized = evaluate(mse, true);
        double l1Value = evaluate(l1, false).values().content().get("relu2_1");
        assertEquals(plain.values(), normalized.values(), "normalising changes only the gradient");
        float[] expected = plain.grad().clone();
        double c = 1 / (2 * l1Value + 1e-8);
        for (int i = 0; i < expected.length; i++) expected[i] *= (float) c;
        assertCloseScaled("normalised content gradient", expected, normalized.grad());
    }

    @Test
    void termsAreNormalisedSeparately() {
        Recipe content = base().contentLayers(Map.of("relu3_1", 1.0)).build();
        Recipe style = base().styleLayers(Map.of("relu1_1", 1.0, "relu3_1", 0.5)).build();
        Recipe both = base().contentLayers(Map.of("relu3_1", 1.0)).styleLayers(Map.of("relu1_1", 1.0, "relu3_1", 0.5)).build();
        Recipe style11 = base().styleLayers(Map.of("relu1_1", 1.0)).build();
        Recipe style31 = base().styleLayers(Map.of("relu3_1", 0.5)).build();
        float[] sum = evaluate(content, true).grad();
        float[] s11 = evaluate(style11, true).grad(), s31 = evaluate(style31, true).grad();
        for (int i = 0; i < sum.length; i++) sum[i] += s11[i] + s31[i];
        assertCloseScaled("content + style terms, each normalised", sum, evaluate(both, true).grad());
        // The style-only recipe normalises relu1_1 and relu3_1 separately too.
        float[] styles = s11.clone();
        for (int i = 0; i < styles.length; i++) styles[i] += s31[i];
        assertCloseScaled("two style terms, each normalised", styles, evaluate(style, true).grad());
    }
}
