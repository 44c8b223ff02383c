package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;

/**
 * {@link ShardedTiledLoss}: the tiles dealt to two and three contexts (each its own queue, buffers and
 * thread; on separate devices where the platform has several like the default one, e.g. PoCL with
 * POCL_DEVICES="pthread pthread", else all on the default device), Grams and gradient reduced on the
 * host, with measured speeds against the untiled {@link LossFunction}, and with forced unequal speeds
 * (1:3, 1000:1 either way so that the image's device or the other evaluates nothing, 2:1:1) against
 * the one-device {@link TiledLossFunction} on the same tiles, the deal being {@link TileDealer#deal}'s:
 * values rtol 2e-4, gradient 1e-4 * max|reference| + rtol 1e-3, as TiledLossTest.
 */
class ShardedTiledLossTest {
    private static void check(VggWeights weights, Recipe recipe, boolean texture, int h, int w, int tile, int devices) {
        check(weights, recipe, texture, h, w, tile, devices, null);
    }

    /** {@code speeds} null: measured, against the untiled loss; else forced, against the one-device tiled loss. */
    private static void check(VggWeights weights, Recipe recipe, boolean texture, int h, int w, int tile, int devices,
            double[] speeds) {
        check(weights, recipe, texture, h, w, tile, devices, speeds, null, false);
    }

    /**
     * As above, every device keeping its tiles' outputs after {@code keep} between the passes (null: none)
     * or running from its tiles' checkpoints.
     */
    private static void check(VggWeights weights, Recipe recipe, boolean texture, int h, int w, int tile, int devices,
            double[] speeds, String keep, boolean checkpoint) {
        float[] content = texture ? null : Tensors.uniform(5, 3 * h * w, 0, 1);
        List<float[]> styles = List.of(Tensors.uniform(6, 3 * 70 * 51, 0, 1));
        List<int[]> hw = List.of(new int[] {70, 51});
        float[] x = Tensors.uniform(7, 3 * h * w, 0, 1);
        List<ClContext> contexts = new ArrayList<>();
        try {
            // Separate devices where the platform has several of the default's kind (PoCL with
            // POCL_DEVICES="pthread pthread"), else separate contexts on the default device.
            ClDevice first = ClDevice.select(null);
            List<ClDevice> same = ClDevice.list().stream().filter(d -> d.name().equals(first.name())
                    && d.unmetRequirements().isEmpty()).toList();
            for (int k = 0; k < devices; k++) {
                ClDevice d = same.isEmpty() ? first : same.get(k % same.size());
                contexts.add(new ClContext(d, false));
                System.out.println("ShardedTiledLossTest: shard " + k + " on " + d.label());
            }
            ClContext ctx = contexts.get(0);
            LossValues want, got;
            float[] wantGrad, gotGrad;
            long[] areas;
            try (ImageLoss f = speeds == null ? new LossFunction(ctx, weights, recipe, content, h, w, styles, hw)
                    : new TiledLossFunction(ctx, weights, recipe, content, h, w, styles, hw, tile);
                    ClBuffer xb = ctx.buffer(x, 3, h, w); ClBuffer g = ctx.buffer(3, h, w)) {
                want = f.evaluate(xb, g);
                wantGrad = g.read();
                areas = f instanceof TiledLossFunction t
                        ? t.grid().tiles().stream().mapToLong(q -> (long) q.h() * q.w()).toArray() : null;
            }
            try (ShardedTiledLoss f = new ShardedTiledLoss(contexts, weights, recipe, content, h, w, styles, hw, tile, keep,
                    checkpoint ? List.of("pool1", "pool2", "pool3", "pool4") : List.of(), speeds);
                    ClBuffer xb = ctx.buffer(x, 3, h, w); ClBuffer g = ctx.buffer(3, h, w)) {
                System.out.println("ShardedTiledLossTest: " + f.split());
                if (speeds != null) { // the dealer's deal on these speeds and the grid's region areas
                    assertArrayEquals(TileDealer.deal(areas, speeds), f.owners(), f.split());
                    assertTrue(f.split().startsWith(areas.length + " tile" + (areas.length == 1 ? "" : "s")
                            + " dealt by speed (speeds forced): device 0: "), f.split());
                }
                f.evaluate(xb, g);
                got = f.evaluate(xb, g); // twice: every buffer reused
                gotGrad = g.read();
                Tensors.assertClose("value only", got.total(), f.evaluate(xb, null).total(), 0, 1e-6);
            }
            String what = devices + " devices, tile " + tile + (texture ? ", texture" : "");
            for (String l : want.content().keySet()) {
                Tensors.assertClose(what + ": content " + l, want.content().get(l), got.content().get(l), 1e-12, 2e-4);
            }
            for (String l : want.style().keySet()) {
                Tensors.assertClose(what + ": style " + l, want.style().get(l), got.style().get(l), 1e-12, 2e-4);
            }
            Tensors.assertClose(what + ": tv", want.tv(), got.tv(), 1e-12, 1e-5);
            Tensors.assertClose(what + ": total", want.total(), got.total(), 1e-12, 2e-4);
            Tensors.assertClose(what + ": gradient", wantGrad, gotGrad, 1e-4 * Golden.maxAbs(wantGrad), 1e-3);
        } finally {
            contexts.forEach(ClContext::close);
        }
    }

    @Test
    void twoAndThreeDevicesGiveTheUntiledLoss() {
        VggWeights weights = TiledLossTest.randomWeights(VggArchitecture.VGG19, 21);
        Recipe r = Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(1e-3).build();
        check(weights, r, false, 197, 230, 64, 2);  // 4x4 tiles, dealt by the measured speeds
        check(weights, r, false, 197, 230, 100, 3); // 3x3 tiles
        check(weights, r, false, 60, 70, 500, 2);   // one tile: one device has none
        Recipe shallow = Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(0.1)
                .styleLayers(Map.of("relu1_1", 1.0, "relu3_1", 1.0)).build();
        check(weights, shallow, true, 53, 67, 12, 2);
    }

    @Test
    void forcedUnequalSpeedsGiveTheOneDeviceTiledLoss() {
        VggWeights weights = TiledLossTest.randomWeights(VggArchitecture.VGG19, 22);
        Recipe r = Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(1e-3).build();
        check(weights, r, false, 197, 230, 64, 2, new double[] {1, 3});       // 4x4 tiles, about a quarter to the first
        check(weights, r, false, 197, 230, 100, 2, new double[] {1, 1000});   // 3x3 tiles: the image's device evaluates none
        check(weights, r, false, 197, 230, 100, 2, new double[] {1000, 1});   // the second evaluates none
        check(weights, r, false, 197, 230, 100, 3, new double[] {2, 1, 1});
        check(weights, r, false, 197, 230, 64, 2, new double[] {1, 3}, "pool2", false); // each device keeps its tiles' outputs
        check(weights, r, false, 197, 230, 64, 2, new double[] {3, 1}, null, true);     // each runs from its tiles' checkpoints
        Recipe shallow = Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(0.1)
                .styleLayers(Map.of("relu1_1", 1.0, "relu3_1", 1.0)).build();
        check(weights, shallow, true, 53, 67, 12, 2, new double[] {3, 1});   // texture: style only
    }
}
