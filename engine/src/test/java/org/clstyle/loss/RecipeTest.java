package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.clstyle.vgg.Pooling;
import org.clstyle.vgg.VggLayers;
import org.clstyle.weights.Preprocessing;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecipeTest {
    static final Preprocessing CAFFE = new Preprocessing("BGR", 255, new double[] {103.939, 116.779, 123.68},
            new double[] {1, 1, 1});
    static final Preprocessing TORCHVISION = new Preprocessing("RGB", 1, new double[] {0.485, 0.456, 0.406},
            new double[] {0.229, 0.224, 0.225});

    @Test
    void layerNamesAreVgg19sThirtySevenInOrder() {
        assertEquals(37, VggLayers.ALL.size());
        assertEquals(List.of("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1", "conv2_1"), VggLayers.ALL.subList(0, 6));
        assertEquals(List.of("conv5_4", "relu5_4", "pool5"), VggLayers.ALL.subList(34, 37));
        assertEquals(16, VggLayers.ALL.stream().filter(l -> l.startsWith("conv")).count());
    }

    @Test
    void caffeDefaultsAreJcjohnsons() {
        Recipe r = Recipe.defaultsFor(CAFFE);
        assertEquals(5, r.content().weight());
        assertEquals(100, r.style().weight());
        assertEquals(1e-3 * 255 * 255 / 2, r.tv().weight(), 1e-12);
        assertEquals(Map.of("relu4_2", 1.0), r.content().layers());
        assertEquals(List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), List.copyOf(r.style().layers().keySet()));
        assertEquals(Recipe.GramNorm.CHW, r.style().gram());
        assertEquals(Pooling.MAX, r.pooling());
        assertEquals("relu5_1", r.deepestLayer(true));
    }

    @Test
    void torchvisionDefaultsScaleContentBySquareAndStyleByFourthPower() {
        Recipe r = Recipe.defaultsFor(TORCHVISION);
        double f = 255 * (0.229 + 0.224 + 0.225) / 3;
        assertEquals(5 * f * f, r.content().weight(), 1e-6 * r.content().weight());
        assertEquals(100 * f * f * f * f, r.style().weight(), 1e-6 * r.style().weight());
        assertEquals(Recipe.TV_WEIGHT, r.tv().weight());
    }

    @Test
    void fileFieldsOverrideDefaultsAndRoundTrip() {
        Recipe base = Recipe.defaultsFor(CAFFE);
        Recipe r = Recipe.parse("{\"style\": {\"weight\": 7, \"gram\": \"hw\", \"layers\": {\"conv3_1\": 0.5, \"pool2\": 2}},"
                + " \"pooling\": \"avg\", \"style_blend\": [3, 1], \"tv\": {\"kind\": \"l1\"}}", base);
        assertEquals(7, r.style().weight());
        assertEquals(Recipe.GramNorm.HW, r.style().gram());
        assertEquals(Recipe.LossKind.MSE, r.style().loss());
        assertEquals(Map.of("conv3_1", 0.5, "pool2", 2.0), r.style().layers());
        assertEquals(base.content(), r.content());
        assertEquals(Recipe.TvKind.L1, r.tv().kind());
        assertEquals(base.tv().weight(), r.tv().weight());
        assertEquals(Pooling.AVG, r.pooling());
        assertArrayEquals(new double[] {0.75, 0.25}, r.blendWeights(2), 1e-15);
        assertEquals(r, Recipe.parse(r.toJson(), Recipe.defaultsFor(TORCHVISION)));
        assertEquals(List.of("relu1_1", "pool2", "conv3_1", "relu4_2"), r.toBuilder().styleLayers(
                Map.of("relu1_1", 1.0, "conv3_1", 1.0, "pool2", 1.0)).build().layers(true));
    }

    @Test
    void emptyBlendMeansEqualWeights() {
        Recipe r = Recipe.defaultsFor(CAFFE);
        assertArrayEquals(new double[] {1 / 3.0, 1 / 3.0, 1 / 3.0}, r.blendWeights(3), 1e-15);
        Recipe one = r.toBuilder().styleBlend(List.of(2.0)).build();
        assertArrayEquals(new double[] {1}, one.blendWeights(1), 0);
        assertEquals("style_blend has 1 weight but there are 2 style images",
                assertThrows(IllegalArgumentException.class, () -> one.blendWeights(2)).getMessage());
    }

    @Test
    void paperNormalisationByName() {
        Recipe base = Recipe.defaultsFor(CAFFE);
        Recipe r = Recipe.parse("{\"content\": {\"loss\": \"sse_half\"}, \"style\": {\"gram\": \"gatys\", \"loss\": \"mse\"}}", base);
        assertEquals(Recipe.LossKind.SSE_HALF, r.content().loss());
        assertEquals(Recipe.GramNorm.GATYS, r.style().gram());
        assertEquals(1.0, Recipe.GramNorm.GATYS.n(64, 7, 5), 0);
        assertEquals(r, Recipe.parse(r.toJson(), Recipe.defaultsFor(CAFFE)), "round trip through JSON");
        assertTrue(r.toJson().contains("\"sse_half\"") && r.toJson().contains("\"gatys\""), r.toJson());
    }

    @Test
    void badInputGivesOneLineNamingTheField() {
        Recipe base = Recipe.defaultsFor(CAFFE);
        String unknownLayer = message(() -> Recipe.parse("{\"style\": {\"layers\": {\"relu6_1\": 1}}}", base));
        assertTrue(unknownLayer.startsWith("style.layers: unknown layer 'relu6_1'; valid layers: conv1_1, relu1_1,"), unknownLayer);
        assertTrue(unknownLayer.endsWith("relu5_4, pool5"), unknownLayer);
        assertEquals("unknown field 'style.wieght' (known: gram, layers, loss, weight)",
                message(() -> Recipe.parse("{\"style\": {\"wieght\": 1}}", base)));
        assertEquals("content.weight: expected a number, got \"5\"",
                message(() -> Recipe.parse("{\"content\": {\"weight\": \"5\"}}", base)));
        assertEquals("tv.weight must be a finite number >= 0, got -1.0",
                message(() -> Recipe.parse("{\"tv\": {\"weight\": -1}}", base)));
        assertEquals("content.loss: unknown loss 'huber' (use mse, l1 or sse_half)",
                message(() -> Recipe.parse("{\"content\": {\"loss\": \"huber\"}}", base)));
        assertEquals("style.gram: unknown Gram normaliser 'c' (use chw, hw or gatys)",
                message(() -> Recipe.parse("{\"style\": {\"gram\": \"c\"}}", base)));
        assertEquals("style.gram \"gatys\" (the paper's sum (G - A)^2 / (4 N^2 M^2)) needs style.loss \"mse\", got \"l1\"",
                message(() -> Recipe.parse("{\"style\": {\"gram\": \"gatys\", \"loss\": \"l1\"}}", base)));
        assertEquals("style.gram \"gatys\" (the paper's sum (G - A)^2 / (4 N^2 M^2)) needs style.loss \"mse\", got \"sse_half\"",
                message(() -> Recipe.parse("{\"style\": {\"gram\": \"gatys\", \"loss\": \"sse_half\"}}", base)));
        assertEquals("pooling: unknown pooling 'min' (use max or avg)",
                message(() -> Recipe.parse("{\"pooling\": \"min\"}", base)));
        assertEquals("style_blend must have a positive sum, got [0.0]",
                message(() -> Recipe.parse("{\"style_blend\": [0]}", base)));
        assertEquals("style.layers.relu1_1 must be a finite number >= 0, got -2.0",
                message(() -> Recipe.parse("{\"style\": {\"layers\": {\"relu1_1\": -2}}}", base)));
        assertTrue(message(() -> Recipe.parse("{\"style\": ", base)).startsWith("not valid JSON at line 1"));
        assertEquals("a recipe must be a JSON object", message(() -> Recipe.parse("[1]", base)));
        assertEquals("--style-layers: layer weight 'x' of relu1_1 is not a number",
                message(() -> Recipe.layerList("--style-layers", "relu1_1:x")));
        for (String m : List.of(unknownLayer)) {
            assertFalse(m.contains("\n"));
        }
    }

    @Test
    void strictJsonInOurOwnWords() {
        Recipe base = Recipe.defaultsFor(CAFFE);
        String dup = message(() -> Recipe.parse("{\"style\": {\"weight\": 1, \"weight\": 1e300}}", base));
        assertTrue(dup.contains("key 'weight' appears twice"), dup);
        String dupTop = message(() -> Recipe.parse("{\"tv\": {}, \"tv\": {\"weight\": 1}}", base));
        assertTrue(dupTop.contains("key 'tv' appears twice"), dupTop);
        String nan = message(() -> Recipe.parse("{\"style\": {\"weight\": NaN}}", base));
        assertTrue(nan.startsWith("not valid JSON at line 1") && nan.contains("NaN and Infinity are not JSON numbers"), nan);
        String deep = message(() -> Recipe.parse("[".repeat(5000) + "]".repeat(5000), base));
        assertTrue(deep.contains("nested too deeply"), deep);
        String huge = "x".repeat(10_000_000);
        String longValue = message(() -> Recipe.parse("{\"pooling\": \"" + huge + "\"}", base));
        String longField = message(() -> Recipe.parse("{\"content\": {\"weight\": \"" + huge + "\"}}", base));
        String longKey = message(() -> Recipe.parse("{\"" + huge + "\": 1}", base));
        for (String m : List.of(dup, dupTop, nan, deep, longValue, longField, longKey)) {
            assertTrue(m.length() < 300, "bounded: " + m.length() + " characters");
            assertFalse(m.contains("\n") || m.contains("Exception") || m.contains("JsonReadFeature")
                    || m.contains("StreamReadConstraints") || m.contains("Source:"), m);
        }
        assertTrue(longValue.contains("(10000000 characters)"), longValue);
    }

    @Test
    void layerListFlagSyntax() {
        assertEquals(Map.of("relu3_1", 1.0, "relu4_1", 0.5), Recipe.layerList("--style-layers", "relu3_1, relu4_1:0.5"));
        assertTrue(message(() -> Recipe.layerList("--content-layers", "relu9_9")).startsWith("--content-layers: unknown layer 'relu9_9'"));
    }

    @Test
    void loadNamesTheFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("r.json");
        Files.writeString(f, "{\"pooling\": \"avg\"}");
        assertEquals(Pooling.AVG, Recipe.load(f, Recipe.defaultsFor(CAFFE)).pooling());
        Files.writeString(f, "{\"pooling\": 3}");
        assertEquals(f + ": pooling: expected a string, got 3", message(() -> Recipe.load(f, Recipe.defaultsFor(CAFFE))));
        assertEquals(dir.resolve("none.json") + ": no such recipe file",
                message(() -> Recipe.load(dir.resolve("none.json"), Recipe.defaultsFor(CAFFE))));
    }

    private static String message(Runnable r) {
        return assertThrows(IllegalArgumentException.class, r::run).getMessage();
    }
}
