package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The device LossFunction against PyTorch float64 goldens (src/test/python/golden_loss.py) on a tiny
 * random VGG19, four cases that between them use every recipe option. Tolerances (float32 device vs
 * float64): every raw term and the total within rtol {@value #TERM_RTOL}; each gradient element within
 * {@value #GRAD_ATOL} * max|golden gradient| + {@value #GRAD_RTOL} * |golden element|. Measured on PoCL
 * (CPU): worst term 8e-7 relative, worst gradient element 4e-7 of max|gradient|, so the tolerances leave
 * a factor of about 25 for other devices' summation orders.
 */
class LossGoldenTest {
    static final double TERM_RTOL = 2e-5;
    static final double GRAD_ATOL = 2e-5;
    static final double GRAD_RTOL = 1e-4;

    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static Stream<String> cases() {
        List<String> names = new ArrayList<>();
        Golden.cases().get("cases").fieldNames().forEachRemaining(names::add);
        return names.stream();
    }

    /** The case's LossFunction (caller closes). */
    static LossFunction lossFor(ClContext ctx, JsonNode c) throws Exception {
        VggWeights weights = Golden.weights(c.get("preprocessing").asText());
        Recipe recipe = Golden.recipe(c.get("recipe"), weights);
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        float[] content = c.get("content").isNull() ? null : Golden.png(c.get("content").asText()).data();
        List<float[]> styles = new ArrayList<>();
        List<int[]> sizes = new ArrayList<>();
        for (JsonNode s : c.get("styles")) {
            Golden.Tensor t = Golden.png(s.asText());
            styles.add(t.data());
            sizes.add(new int[] {t.shape()[1], t.shape()[2]});
        }
        return new LossFunction(ctx, weights, recipe, content, image.shape()[1], image.shape()[2], styles, sizes);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void termsAndGradientMatchPyTorch(String name) throws Exception {
        JsonNode c = Golden.cases().get("cases").get(name);
        JsonNode expected = c.get("expected");
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        Golden.Tensor grad = Golden.npy(c.get("gradient").asText());
        try (LossFunction loss = lossFor(ctx, c);
                ClBuffer x = ctx.buffer(image.data(), image.shape());
                ClBuffer g = ctx.buffer(image.shape())) {
            LossValues v = loss.evaluate(x, g);
            assertTerms(name + " content", expected.get("content"), v.content());
            assertTerms(name + " style", expected.get("style"), v.style());
            Tensors.assertClose(name + " tv", expected.get("tv").asDouble(), v.tv(), 0, TERM_RTOL);
            Tensors.assertClose(name + " total", expected.get("total").asDouble(), v.total(), 0, TERM_RTOL);
            assertArrayEquals(image.shape(), grad.shape());
            Tensors.assertClose(name + " d total / d image", grad.data(), g.read(),
                    GRAD_ATOL * Golden.maxAbs(grad.data()), GRAD_RTOL);
        }
    }

    private static void assertTerms(String what, JsonNode expected, Map<String, Double> actual) {
        assertEquals(expected.size(), actual.size(), what + ": layers " + actual.keySet());
        for (Iterator<Map.Entry<String, JsonNode>> it = expected.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Double a = actual.get(e.getKey());
            if (a == null) {
                throw new AssertionError(what + ": no term for " + e.getKey() + " in " + actual.keySet());
            }
            Tensors.assertClose(what + " " + e.getKey(), e.getValue().asDouble(), a, 0, TERM_RTOL);
        }
    }

    @Test
    void repeatedEvaluationsAllocateNothingAndAgreeBitForBit() throws Exception {
        JsonNode c = Golden.cases().get("cases").get("caffe_max_mse");
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        try (LossFunction loss = lossFor(ctx, c);
                ClBuffer x = ctx.buffer(image.data(), image.shape());
                ClBuffer g = ctx.buffer(image.shape())) {
            long before = ctx.allocatedBytes();
            LossValues first = loss.evaluate(x, g);
            float[] g1 = g.read();
            LossValues second = loss.evaluate(x, g);
            LossValues valuesOnly = loss.evaluate(x, null);
            assertEquals(before, ctx.allocatedBytes(), "device bytes allocated by evaluate");
            assertEquals(first, second);
            assertEquals(first, valuesOnly);
            assertArrayEquals(g1, g.read());
        }
    }

    @Test
    void zeroWeightTermsAddNoGradientAndEvaluateStillAllocatesNothing() throws Exception {
        VggWeights weights = Golden.weights("caffe");
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        Golden.Tensor content = Golden.png("content.png"), s = Golden.png("style_a.png");
        Recipe r = Recipe.defaultsFor(weights.preprocessing()).toBuilder()
                .styleLayers(Map.of("relu1_1", 1.0, "relu3_1", 0.0)).contentLayers(Map.of("relu2_2", 0.0)).build();
        try (LossFunction loss = new LossFunction(ctx, weights, r, content.data(), image.shape()[1], image.shape()[2],
                        List.of(s.data()), List.of(new int[] {s.shape()[1], s.shape()[2]}));
                ClBuffer x = ctx.buffer(image.data(), image.shape());
                ClBuffer g = ctx.buffer(image.shape())) {
            long before = ctx.allocatedBytes();
            LossValues v = loss.evaluate(x, g);
            assertEquals(before, ctx.allocatedBytes(), "device bytes allocated by evaluate");
            assertEquals(2, v.style().size(), "a zero-weight term is still reported");
            assertEquals(1, v.content().size());
        }
    }

    @Test
    void badShapesAndCountsAreNamed() throws Exception {
        JsonNode c = Golden.cases().get("cases").get("caffe_max_mse");
        try (LossFunction loss = lossFor(ctx, c); ClBuffer wrong = ctx.buffer(3, 5, 5)) {
            assertEquals("LossFunction.evaluate: image is ClBuffer[3, 5, 5], expected [3, 28, 22]",
                    assertThrows(IllegalArgumentException.class, () -> loss.evaluate(wrong, null)).getMessage());
        }
        VggWeights weights = Golden.weights("caffe");
        Recipe r = Recipe.defaultsFor(weights.preprocessing()).toBuilder().styleBlend(List.of(1.0, 2.0)).build();
        Golden.Tensor s = Golden.png("style_a.png");
        assertEquals("style_blend has 2 weights but there is 1 style image", assertThrows(IllegalArgumentException.class,
                () -> new LossFunction(ctx, weights, r, null, 28, 22, List.of(s.data()), List.of(new int[] {24, 20})))
                .getMessage());
        Recipe deep = Recipe.defaultsFor(weights.preprocessing()).toBuilder().styleLayers(Map.of("pool5", 1.0)).build();
        assertEquals("style image 1: image 24x20 is too small for pool5: its output would be 0x0",
                assertThrows(IllegalArgumentException.class, () -> new LossFunction(ctx, weights, deep, null, 28, 22,
                        List.of(s.data()), List.of(new int[] {24, 20}))).getMessage());
    }
}
