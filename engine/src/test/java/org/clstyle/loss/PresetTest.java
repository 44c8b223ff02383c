package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.clstyle.vgg.Pooling;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each preset's recipe field by field, and the precedence defaults < preset < recipe keys. */
class PresetTest {
    static final Recipe CAFFE_DEFAULTS = Recipe.defaultsFor(RecipeTest.CAFFE);

    @Test
    void tutorialIsThePyTorchTutorial() {
        Recipe r = Preset.TUTORIAL.recipe(CAFFE_DEFAULTS);
        assertEquals(Map.of("conv2_2", 1.0), r.content().layers());
        assertEquals(List.of("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"), List.copyOf(r.style().layers().keySet()));
        assertEquals(1.0, r.content().weight());
        assertEquals(1e6, r.style().weight());
        assertEquals(Recipe.LossKind.MSE, r.content().loss());
        assertEquals(Recipe.LossKind.MSE, r.style().loss());
        assertEquals(Recipe.GramNorm.CHW, r.style().gram());
        assertEquals(0.0, r.tv().weight());
        assertEquals(Pooling.MAX, r.pooling());
        assertEquals("lbfgs", Preset.TUTORIAL.optimizer());
        assertEquals("content", Preset.TUTORIAL.init());
    }

    @Test
    void gatysIsThePaper() {
        Recipe r = Preset.GATYS.recipe(CAFFE_DEFAULTS);
        assertEquals(Map.of("relu4_2", 1.0), r.content().layers());
        assertEquals(Recipe.LossKind.SSE_HALF, r.content().loss());
        assertEquals(Map.of("relu1_1", 0.2, "relu2_1", 0.2, "relu3_1", 0.2, "relu4_1", 0.2, "relu5_1", 0.2), r.style().layers());
        assertEquals(Recipe.GramNorm.GATYS, r.style().gram());
        assertEquals(Recipe.LossKind.MSE, r.style().loss());
        assertEquals(1e-3, r.content().weight() / r.style().weight(), 1e-18, "alpha / beta");
        assertEquals(Pooling.AVG, r.pooling());
        assertEquals(0.0, r.tv().weight());
        assertEquals("noise", Preset.GATYS.init());
        assertEquals("lbfgs", Preset.GATYS.optimizer());
    }

    @Test
    void jcjohnsonIsTheDefaultsPracticalIsAdamL1AndVgg16NeedsVgg16() {
        assertEquals(CAFFE_DEFAULTS, Preset.JCJOHNSON.recipe(CAFFE_DEFAULTS));
        Recipe p = Preset.PRACTICAL.recipe(CAFFE_DEFAULTS);
        assertEquals(Recipe.LossKind.L1, p.content().loss());
        assertEquals(Recipe.LossKind.L1, p.style().loss());
        assertEquals(Map.of("conv4_2", 1.0), p.content().layers());
        assertEquals(List.of("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"), List.copyOf(p.style().layers().keySet()));
        assertEquals("adam", Preset.PRACTICAL.optimizer());
        assertTrue(Preset.PRACTICAL.description().contains("--augment medium"));
        Recipe v = Preset.VGG16.recipe(CAFFE_DEFAULTS);
        assertEquals(Map.of("relu3_3", 1.0), v.content().layers());
        assertEquals(List.of("relu1_2", "relu2_2", "relu3_3", "relu4_3"), List.copyOf(v.style().layers().keySet()));
        assertEquals("vgg16", Preset.VGG16.network());
        assertNull(Preset.VGG16.networkMismatch("vgg16", "w.safetensors"));
        assertEquals("preset vgg16 needs VGG16 weights, but w.safetensors holds VGG19 (convert torchvision's vgg16 .pth "
                + "or the Caffe VGG16 with `clstyle weights convert`, then pass --weights)", Preset.VGG16.networkMismatch("vgg19", "w.safetensors"));
        assertTrue(Preset.TUTORIAL.networkMismatch("vgg16", "x").startsWith("preset tutorial needs VGG19 weights, but x holds VGG16"));
    }

    @Test
    void recipeKeysOverrideThePresetTheyName(@TempDir Path dir) throws Exception {
        Recipe r = Recipe.parse("{\"preset\": \"gatys\", \"style\": {\"weight\": 7}, \"pooling\": \"max\"}", CAFFE_DEFAULTS);
        assertEquals(7.0, r.style().weight());
        assertEquals(Pooling.MAX, r.pooling());
        assertEquals(Recipe.GramNorm.GATYS, r.style().gram(), "the rest is the preset's");
        assertEquals(Map.of("relu4_2", 1.0), r.content().layers());
        Path f = dir.resolve("r.json");
        Files.writeString(f, "{\"preset\": \"Tutorial\"}");
        assertEquals(Preset.TUTORIAL, Recipe.presetIn(f));
        assertEquals(Preset.TUTORIAL.recipe(CAFFE_DEFAULTS), Recipe.load(f, CAFFE_DEFAULTS));
        Recipe notApplied = Recipe.load(f, CAFFE_DEFAULTS, false);
        assertEquals(CAFFE_DEFAULTS, notApplied, "a --preset flag replaced the file's preset");
        Files.writeString(f, "{\"style\": {}}");
        assertNull(Recipe.presetIn(f));
        Files.writeString(f, "{\"preset\": 3}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Recipe.presetIn(f));
        assertEquals(f + ": preset: expected a string, got 3", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Preset.parse("--preset", "nope"));
        assertEquals("--preset: unknown preset 'nope' (use tutorial, gatys, jcjohnson, practical, vgg16)", e.getMessage());
    }
}
