package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link TiledLossFunction} against the untiled {@link LossFunction} on images that fit: every term's
 * value and the image gradient, for VGG16 and VGG19 tables of small random widths, tile sizes that do
 * and do not divide the image, one tile and many, style images tiled too, and every loss variant whose
 * normalisation depends on the whole image (mean content, "chw"/"hw"/"gatys" Grams, L1, SSE_HALF).
 * Then the halo rule is tight: one alignment step less (one pixel where the deepest layer has no pool)
 * and the tiled gradient no longer equals the untiled one.
 *
 * <p>Tolerances: values rtol 2e-4 (float sums in another order, over up to ~10^5 terms); gradient
 * 1e-4 * max|untiled| + rtol 1e-3, as the other loss tests.
 */
class TiledLossTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static VggWeights randomWeights(VggArchitecture a, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        int cin = 3;
        for (String conv : a.convLayers()) {
            int cout = 3 + rnd.nextInt(5); // 3..7 channels
            float[] wv = new float[cout * cin * 9];
            double std = Math.sqrt(2.0 / (9 * cin));
            for (int i = 0; i < wv.length; i++) {
                wv[i] = (float) (rnd.nextGaussian() * std);
            }
            float[] bv = new float[cout];
            for (int i = 0; i < cout; i++) {
                bv[i] = (float) (rnd.nextGaussian() * 0.1);
            }
            w.put(conv, wv);
            b.put(conv, bv);
            cin = cout;
        }
        return VggWeights.of(a, w, b, Preprocessing.CAFFE);
    }

    private record Result(LossValues values, float[] grad) {}

    private record Case(VggWeights weights, Recipe recipe, float[] content, int h, int w, List<float[]> styles, List<int[]> styleHW) {
        Result untiled() {
            try (LossFunction f = new LossFunction(ctx, weights, recipe, content, h, w, styles, styleHW)) {
                return run(f);
            }
        }

        Result tiled(int tile, int halo) {
            return tiled(tile, halo, null);
        }

        /** Tiled, pass 1 keeping every tile's outputs after {@code keep} (null: none). */
        Result tiled(int tile, int halo, String keep) {
            try (TiledLossFunction f = new TiledLossFunction(ctx, weights, recipe, content, h, w, styles, styleHW, tile, halo)) {
                f.keepAfter(keep);
                return run(f);
            }
        }

        /** Tiled only up to the pool {@code whole}, the later layers on the whole image. */
        Result whole(int tile, String whole) {
            try (TiledLossFunction f = new TiledLossFunction(ctx, weights, recipe, content, h, w, styles, styleHW, tile, whole)) {
                return run(f);
            }
        }

        /** Tiled, the network run in segments from every tile's checkpoints after every pool before the deepest layer read. */
        Result checkpointed(int tile) {
            try (TiledLossFunction f = new TiledLossFunction(ctx, weights, recipe, content, h, w, styles, styleHW, tile, -1)) {
                f.checkpoint(f.pools());
                return run(f);
            }
        }

        /** Tiled, checkpoints after the pools {@code at}. */
        Result checkpointed(int tile, List<String> at) {
            try (TiledLossFunction f = new TiledLossFunction(ctx, weights, recipe, content, h, w, styles, styleHW, tile, null, at)) {
                return run(f);
            }
        }

        Result run(ImageLoss f) {
            float[] x = Tensors.uniform(99, 3 * h * w, 0, 1);
            try (ClBuffer xb = ctx.buffer(x, 3, h, w); ClBuffer g = ctx.buffer(3, h, w)) {
                LossValues v = f.evaluate(xb, g);
                LossValues again = f.evaluate(xb, g); // a second evaluate reuses every buffer and gives the same
                assertEquals(v.total(), again.total(), 1e-6 * Math.abs(v.total()), "evaluate twice");
                LossValues valueOnly = f.evaluate(xb, null);
                assertEquals(v.total(), valueOnly.total(), 1e-6 * Math.abs(v.total()), "evaluate without the gradient");
                return new Result(v, g.read());
            }
        }
    }

    private static Case makeCase(VggArchitecture arch, Recipe.Builder r, boolean texture, int h, int w, int[]... styleSizes) {
        VggWeights weights = randomWeights(arch, 11 + arch.ordinal());
        List<float[]> styles = new java.util.ArrayList<>();
        List<int[]> hw = new java.util.ArrayList<>();
        for (int k = 0; k < styleSizes.length; k++) {
            styles.add(Tensors.uniform(20 + k, 3 * styleSizes[k][0] * styleSizes[k][1], 0, 1));
            hw.add(styleSizes[k]);
        }
        return new Case(weights, r.build(), texture ? null : Tensors.uniform(5, 3 * h * w, 0, 1), h, w, styles, hw);
    }

    private static Recipe.Builder recipe(VggWeights w) {
        return Recipe.defaultsFor(w.preprocessing()).toBuilder();
    }

    private static void assertSame(String what, Result want, Result got) {
        assertEquals(want.values().content().keySet(), got.values().content().keySet(), what);
        assertEquals(want.values().style().keySet(), got.values().style().keySet(), what);
        for (String l : want.values().content().keySet()) {
            Tensors.assertClose(what + ": content " + l, want.values().content().get(l), got.values().content().get(l), 1e-12, 2e-4);
        }
        for (String l : want.values().style().keySet()) {
            Tensors.assertClose(what + ": style " + l, want.values().style().get(l), got.values().style().get(l), 1e-12, 2e-4);
        }
        Tensors.assertClose(what + ": tv", want.values().tv(), got.values().tv(), 1e-12, 1e-5);
        Tensors.assertClose(what + ": total", want.values().total(), got.values().total(), 1e-12, 2e-4);
        Tensors.assertClose(what + ": gradient", want.grad(), got.grad(), 1e-4 * Golden.maxAbs(want.grad()), 1e-3);
    }

    @Test
    void vgg19DefaultRecipeToRelu5_1() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 11);
        Recipe.Builder r = recipe(w).tvWeight(1e-3); // style relu1_1..relu5_1, content relu4_2: halo 80, alignment 16
        Case c = makeCase(VggArchitecture.VGG19, r, false, 197, 230, new int[] {61, 83});
        Result want = c.untiled();
        for (int tile : new int[] {48, 96, 100, 1000}) { // 48: 5x5 tiles whose halos stop inside the image; 1000: one tile
            assertSame("tile " + tile, want, c.tiled(tile, -1));
        }
    }

    @Test
    void vgg16ShallowRecipesEveryNormalisation() {
        VggWeights w = randomWeights(VggArchitecture.VGG16, 12);
        Recipe.Builder base = recipe(w).tvWeight(0.01).styleLayers(Map.of("relu1_2", 1.0, "relu2_2", 0.5, "relu3_1", 2.0))
                .contentLayers(Map.of("relu2_2", 1.0, "conv3_1", 0.5));
        List<Recipe.Builder> variants = List.of(
                base,
                recipe(w).styleLayers(Map.of("relu1_2", 1.0, "relu3_1", 2.0)).contentLayers(Map.of("relu2_1", 1.0))
                        .styleLoss(Recipe.LossKind.L1).contentLoss(Recipe.LossKind.L1).gram(Recipe.GramNorm.HW),
                recipe(w).styleLayers(Map.of("relu2_1", 1.0, "relu3_1", 1.0)).contentLayers(Map.of("relu3_1", 1.0))
                        .contentLoss(Recipe.LossKind.SSE_HALF).gram(Recipe.GramNorm.GATYS),
                recipe(w).styleLayers(Map.of("relu2_2", 1.0)).contentLayers(Map.of("relu1_1", 1.0))
                        .styleLoss(Recipe.LossKind.SSE_HALF).gram(Recipe.GramNorm.CHW));
        for (int v = 0; v < variants.size(); v++) {
            Case c = makeCase(VggArchitecture.VGG16, variants.get(v), false, 53, 67, new int[] {41, 29}, new int[] {70, 47});
            Result want = c.untiled();
            for (int tile : new int[] {4, 12, 20, 28, 200}) { // relu3_1: alignment 4, halo 12; 20 and 28 do not divide 53 or 67
                assertSame("variant " + v + ", tile " + tile, want, c.tiled(tile, -1));
            }
        }
    }

    @Test
    void textureWithoutContentAndABigStyleImage() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 13);
        Recipe.Builder r = recipe(w).tvWeight(0.1).styleLayers(Map.of("relu1_1", 1.0, "relu2_1", 1.0, "relu3_1", 1.0, "relu4_1", 1.0));
        Case c = makeCase(VggArchitecture.VGG19, r, true, 71, 90, new int[] {150, 131}); // the style image is cut into tiles too
        Result want = c.untiled();
        for (int tile : new int[] {16, 40, 500}) {
            assertSame("texture, tile " + tile, want, c.tiled(tile, -1));
        }
    }

    @Test
    void contentOnlyRunsOnePass() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 14);
        Recipe.Builder r = recipe(w).tvWeight(0).styleLayers(Map.of()).contentLayers(Map.of("relu3_2", 1.0, "relu1_1", 0.3));
        Case c = makeCase(VggArchitecture.VGG19, r, false, 45, 38);
        Result want = c.untiled();
        for (int tile : new int[] {8, 13, 100}) {
            assertSame("content only, tile " + tile, want, c.tiled(tile, -1));
        }
    }

    /** The largest deviation of the tiled gradient from the untiled one, relative to max|untiled|. */
    private static double deviation(Result want, Result got) {
        double m = Golden.maxAbs(want.grad()), d = 0;
        for (int i = 0; i < want.grad().length; i++) {
            d = Math.max(d, Math.abs(want.grad()[i] - got.grad()[i]));
        }
        return d / m;
    }

    @Test
    void theHaloRuleIsTight() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 15);
        // No pool before relu1_2: alignment 1, radius 2, halo 2. One pixel less breaks it.
        Case noPool = makeCase(VggArchitecture.VGG19, recipe(w).tvWeight(0).styleLayers(Map.of())
                .contentLayers(Map.of("relu1_2", 1.0)), false, 30, 34);
        Result want = noPool.untiled();
        assertSame("relu1_2, the rule's halo 2", want, noPool.tiled(8, 2));
        assertSame("relu1_2, a wider halo", want, noPool.tiled(8, 5));
        double off = deviation(want, noPool.tiled(8, 1));
        assertTrue(off > 1e-2, "halo 1 < 2 must change the gradient near tile borders, deviation " + off);

        // relu3_1 (two pools): alignment 4, radius 10, halo 12; one step less (8) breaks it.
        Case pooled = makeCase(VggArchitecture.VGG19, recipe(w).tvWeight(0).styleLayers(Map.of("relu3_1", 1.0))
                .contentLayers(Map.of("relu2_1", 1.0)), false, 57, 61, new int[] {20, 20});
        Result want3 = pooled.untiled();
        assertSame("relu3_1, the rule's halo 12", want3, pooled.tiled(16, 12));
        Result short3 = pooled.tiled(16, 8);
        double off3 = deviation(want3, short3);
        assertTrue(off3 > 1e-2, "halo 8 < 10 must change the gradient, deviation " + off3);
    }

    /**
     * Pass 1 keeping each tile's deeper outputs (pass 2 recomputes only up to the kept node) changes no
     * value: bit for bit what recomputing everything gives (the same launches on the same values), at
     * every kept node from pool1 to relu5_1 (past the deepest tap: nothing to keep), one tile and many.
     */
    @Test
    void keepingDeepOutputsChangesNothing() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 16);
        Recipe.Builder r = recipe(w).tvWeight(1e-3);
        Case c = makeCase(VggArchitecture.VGG19, r, false, 150, 131, new int[] {61, 83});
        Result want = c.untiled();
        for (int tile : new int[] {48, 1000}) {
            Result plain = c.tiled(tile, -1);
            for (String keep : new String[] {"pool1", "pool2", "relu3_1", "pool4", "relu5_1"}) {
                Result kept = c.tiled(tile, -1, keep);
                String what = "tile " + tile + ", kept after " + keep;
                assertSame(what, want, kept);
                assertEquals(plain.values().total(), kept.values().total(), 0.0, what + ": total");
                org.junit.jupiter.api.Assertions.assertArrayEquals(plain.grad(), kept.grad(), what + ": gradient");
            }
            for (List<String> at : List.of(List.<String>of(), List.of("pool2"), List.of("pool1", "pool3"))) {
                Result ck = at.isEmpty() ? c.checkpointed(tile) : c.checkpointed(tile, at); // empty: after every pool
                String what = "tile " + tile + ", checkpointed after " + (at.isEmpty() ? "every pool" : at);
                assertSame(what, want, ck);
                assertEquals(plain.values().total(), ck.values().total(), 0.0, what + ": total");
                org.junit.jupiter.api.Assertions.assertArrayEquals(plain.grad(), ck.grad(), what + ": gradient");
            }
        }
    }

    /** Checkpointed segments on the other recipes: VGG16 with shallow layers and every normalisation, texture, content only. */
    @Test
    void checkpointsOnEveryRecipeShape() {
        VggWeights w16 = randomWeights(VggArchitecture.VGG16, 12);
        Case shallow = makeCase(VggArchitecture.VGG16, recipe(w16).tvWeight(0.01).styleLayers(Map.of("relu1_2", 1.0, "relu2_2", 0.5,
                "relu3_1", 2.0)).contentLayers(Map.of("relu2_2", 1.0, "conv3_1", 0.5)).gram(Recipe.GramNorm.GATYS), false, 53, 67,
                new int[] {41, 29});
        Result want = shallow.untiled();
        for (int tile : new int[] {12, 28, 200}) {
            assertSame("vgg16 shallow, checkpointed, tile " + tile, want, shallow.checkpointed(tile));
        }
        VggWeights w19 = randomWeights(VggArchitecture.VGG19, 13);
        Case texture = makeCase(VggArchitecture.VGG19, recipe(w19).tvWeight(0.1).styleLayers(Map.of("relu1_1", 1.0, "relu2_1", 1.0,
                "relu3_1", 1.0, "relu4_1", 1.0)), true, 71, 90, new int[] {150, 131});
        Result wantT = texture.untiled();
        for (int tile : new int[] {16, 500}) {
            assertSame("texture, checkpointed, tile " + tile, wantT, texture.checkpointed(tile));
        }
        Case contentOnly = makeCase(VggArchitecture.VGG19, recipe(w19).tvWeight(0).styleLayers(Map.of())
                .contentLayers(Map.of("relu3_2", 1.0, "relu1_1", 0.3)), false, 45, 38);
        Result wantC = contentOnly.untiled();
        assertSame("content only, checkpointed", wantC, contentOnly.checkpointed(8));
    }

    /**
     * Tiles only up to a pool and the later layers on the whole image: the untiled values and gradient, for
     * every pool as the boundary (style and content layers on both sides of it, a style tap at the boundary
     * itself, pool4 with only relu5_1 after it), one tile and many; VGG16 with every normalisation; texture
     * with a style image larger than the image (its own grid and boundary); content only (two passes then).
     */
    @Test
    void wholeAfterAPoolGivesTheUntiledLoss() {
        VggWeights w = randomWeights(VggArchitecture.VGG19, 16);
        Case c = makeCase(VggArchitecture.VGG19, recipe(w).tvWeight(1e-3), false, 150, 131, new int[] {61, 83});
        Result want = c.untiled();
        for (int tile : new int[] {24, 64, 1000}) {
            for (String pool : new String[] {"pool1", "pool2", "pool3", "pool4"}) {
                assertSame("tile " + tile + ", whole after " + pool, want, c.whole(tile, pool));
            }
        }
        VggWeights w16 = randomWeights(VggArchitecture.VGG16, 12);
        Case atPool = makeCase(VggArchitecture.VGG16, recipe(w16).tvWeight(0.01).styleLayers(Map.of("relu1_2", 1.0, "pool2", 0.5,
                "relu3_1", 2.0)).contentLayers(Map.of("relu2_2", 1.0, "conv3_1", 0.5)).gram(Recipe.GramNorm.GATYS), false, 53, 67,
                new int[] {41, 29});
        Result wantP = atPool.untiled();
        for (int tile : new int[] {4, 12, 28}) {
            assertSame("vgg16, a style term at the boundary, tile " + tile, wantP, atPool.whole(tile, "pool2"));
            assertSame("vgg16, whole after pool1, tile " + tile, wantP, atPool.whole(tile, "pool1"));
        }
        Case l1 = makeCase(VggArchitecture.VGG16, recipe(w16).styleLayers(Map.of("relu1_2", 1.0, "relu3_1", 2.0))
                .contentLayers(Map.of("relu2_1", 1.0)).styleLoss(Recipe.LossKind.L1).contentLoss(Recipe.LossKind.L1)
                .gram(Recipe.GramNorm.HW), false, 53, 67, new int[] {41, 29}, new int[] {70, 47});
        assertSame("vgg16 L1, hw Gram, two style images", l1.untiled(), l1.whole(12, "pool1"));
        VggWeights w19 = randomWeights(VggArchitecture.VGG19, 13);
        Case texture = makeCase(VggArchitecture.VGG19, recipe(w19).tvWeight(0.1).styleLayers(Map.of("relu1_1", 1.0, "relu2_1", 1.0,
                "relu3_1", 1.0, "relu4_1", 1.0)), true, 71, 90, new int[] {150, 131});
        Result wantT = texture.untiled();
        for (int tile : new int[] {16, 500}) {
            assertSame("texture, whole after pool2, tile " + tile, wantT, texture.whole(tile, "pool2"));
        }
        Case contentOnly = makeCase(VggArchitecture.VGG19, recipe(w19).tvWeight(0).styleLayers(Map.of())
                .contentLayers(Map.of("relu3_2", 1.0, "relu1_1", 0.3)), false, 45, 38);
        assertSame("content only, whole after pool1", contentOnly.untiled(), contentOnly.whole(8, "pool1"));
        // Refused: a node that is not a pool before the deepest layer, and the other modes beside it.
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> c.whole(64, "relu2_1"));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> contentOnly.whole(8, "pool3"));
        try (TiledLossFunction f = new TiledLossFunction(ctx, c.weights(), c.recipe(), c.content(), c.h(), c.w(), c.styles(),
                c.styleHW(), 64, "pool2")) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> f.keepAfter("pool3"));
            org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> f.checkpoint(List.of("pool1")));
        }
    }
}
