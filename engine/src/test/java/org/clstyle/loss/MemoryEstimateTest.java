package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.nn.Network;
import org.clstyle.perf.IterationBench;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;

/**
 * {@link MemoryEstimate} against the context's measured peak for full-width VGG19 (random weights, the
 * default recipe), untiled and tiled: never below the peak (a budget it accepts must hold) and at most
 * 1.5x it; then {@link LossFactory#plan} under budgets, and {@link MemoryEstimate#parseSize}.
 */
class MemoryEstimateTest {
    private static final VggWeights WEIGHTS = IterationBench.randomWeights(new SplittableRandom(1));
    private static final Recipe RECIPE = Recipe.defaultsFor(WEIGHTS.preprocessing()).toBuilder().tvWeight(0).build();

    @Test
    void estimateBoundsTheMeasuredPeak() {
        Network net = Vgg.network(WEIGHTS, RECIPE.pooling());
        List<String> taps = new ArrayList<>(RECIPE.layers(true));
        List<String> cl = new ArrayList<>(RECIPE.content().layers().keySet()), sl = new ArrayList<>(RECIPE.style().layers().keySet());
        String[] keeps = {null, null, null, null, "pool2", "pool4", "checkpoints", "checkpoints", "whole pool2", "whole pool3",
            "whole pool1"};
        int[][] cases = {{96, 96, 0}, {160, 192, 0}, {256, 256, 128}, {200, 230, 64}, {256, 256, 128}, {200, 230, 64},
            {256, 256, 256}, {200, 230, 112}, {256, 256, 96}, {200, 230, 64}, {160, 192, 48}};
        for (int i = 0; i < cases.length; i++) {
            int[] c = cases[i];
            String keep = keeps[i];
            int h = c[0], w = c[1];
            float[] img = Tensors01(h, w);
            try (ClContext ctx = ClContext.createDefault()) {
                boolean ck = "checkpoints".equals(keep);
                String whole = keep != null && keep.startsWith("whole ") ? keep.substring(6) : null;
                String kept = ck || whole != null ? null : keep;
                List<String> at = ck ? (i % 2 == 0 ? List.of("pool1", "pool2", "pool3", "pool4") : List.of("pool2")) : List.of();
                ImageLoss f = c[2] == 0 ? new LossFunction(ctx, WEIGHTS, RECIPE, img, h, w, List.of(img), List.of(new int[] {h, w}))
                        : whole != null ? new TiledLossFunction(ctx, WEIGHTS, RECIPE, img, h, w, List.of(img), List.of(new int[] {h, w}),
                                c[2], whole)
                        : new TiledLossFunction(ctx, WEIGHTS, RECIPE, img, h, w, List.of(img), List.of(new int[] {h, w}), c[2], kept, at);
                try (f; ClBuffer x = ctx.buffer(img, 3, h, w); ClBuffer g = ctx.buffer(3, h, w)) {
                    f.evaluate(x, g);
                    ctx.finish();
                    TileGrid grid = f instanceof TiledLossFunction t ? t.grid() : null;
                    long est = grid == null ? MemoryEstimate.untiled(net, taps, cl, sl, h, w)
                            : whole != null ? MemoryEstimate.whole(net, taps, cl, sl, h, w, grid.largestRegion()[0],
                                    grid.largestRegion()[1], List.of(new int[] {h, w}), whole)
                            : MemoryEstimate.tiled(net, taps, cl, sl, grid) + MemoryEstimate.kept(net, taps, grid, kept)
                                    + (ck ? MemoryEstimate.checkpointed(net, taps, grid, at) : 0);
                    long peak = ctx.peakBytes();
                    String what = h + "x" + w + " tile " + c[2] + " kept after " + keep + ": estimate " + est + ", peak " + peak;
                    assertTrue(est >= peak, what);
                    assertTrue(est <= 1.5 * peak, what);
                }
            }
        }
    }

    /**
     * A style image larger than the image runs only as deep as the style layers: the estimate takes the larger
     * of the two plans and still bounds the peak; and a small image whose style image is too small for the
     * content layers' depth (but not the style layers') is planned, not refused (parity case 34, seed 679388990).
     */
    @Test
    void styleImageLargerThanTheImage() {
        Network net = Vgg.network(WEIGHTS, RECIPE.pooling());
        List<String> taps = new ArrayList<>(RECIPE.layers(true));
        List<String> cl = new ArrayList<>(RECIPE.content().layers().keySet()), sl = new ArrayList<>(RECIPE.style().layers().keySet());
        int h = 64, w = 80, sh = 224, sw = 200;
        float[] img = Tensors01(h, w), style = Tensors01(sh, sw);
        try (ClContext ctx = ClContext.createDefault();
                LossFunction f = new LossFunction(ctx, WEIGHTS, RECIPE, img, h, w, List.of(style), List.of(new int[] {sh, sw}));
                ClBuffer x = ctx.buffer(img, 3, h, w); ClBuffer g = ctx.buffer(3, h, w)) {
            f.evaluate(x, g);
            ctx.finish();
            long est = MemoryEstimate.untiled(net, taps, cl, sl, h, w, List.of(new int[] {sh, sw}));
            long peak = ctx.peakBytes();
            assertTrue(est >= peak && est <= 1.5 * peak, "estimate " + est + ", peak " + peak);
            assertTrue(est > MemoryEstimate.untiled(net, taps, cl, sl, h, w), "the style image's plan is the larger");
        }
        Recipe deep = RECIPE.toBuilder().contentLayers(java.util.Map.of("conv5_1", 1.0)).styleLayers(java.util.Map.of("relu2_1", 1.0))
                .build();
        LossFactory.Plan p = LossFactory.plan(WEIGHTS, deep, true, 17, 17, List.of(new int[] {14, 22}), false, LossFactory.Tiling.NONE, 0);
        assertFalse(p.tiled(), p.toString());
    }

    private static float[] Tensors01(int h, int w) {
        return org.clstyle.testing.Tensors.uniform(3, 3 * h * w, 0, 1);
    }

    @Test
    void planUnderBudgets() {
        List<int[]> style = List.of(new int[] {512, 512});
        LossFactory.Plan untiled = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false, LossFactory.Tiling.NONE, 0);
        assertFalse(untiled.tiled());
        assertTrue(untiled.estimateBytes() > 12L << 30, "4K untiled needs well over 12 GiB: " + untiled);
        LossFactory.Plan eight = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false, new LossFactory.Tiling(0, 8L << 30), 0);
        assertTrue(eight.tiled(), eight.toString());
        assertTrue(eight.estimateBytes() <= 8L << 30, eight.toString());
        assertEquals(0, eight.tile() % 16, "cores are multiples of the alignment");
        LossFactory.Plan larger = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false,
                new LossFactory.Tiling(0, (8L << 30) + (1L << 30)), 0);
        assertTrue(work(larger) <= work(eight), "a larger budget never gives more work: " + larger + " vs " + eight);
        // The tiles only up to pool2 and the rest whole: less work than the plain way and than keeping outputs
        // between the passes (which is chosen when the whole mode is left out, and saves work too).
        LossFactory.Plan plain = plan(2160, 3840, 8L << 30, "keep", "whole", "checkpoint");
        LossFactory.Plan kept = plan(2160, 3840, 8L << 30, "whole");
        assertEquals("pool2", eight.wholeAfter(), eight.toString());
        assertTrue(kept.keepAfter() != null && work(kept) < work(plain), kept.toString());
        assertTrue(work(eight) < work(kept), eight + " vs " + kept);
        assertTrue(work(eight) < 1.25 * 2160 * 3840, "modelled work " + work(eight) / (2160 * 3840));
        // Shards run every tile through the whole network: on two devices the plan is one of the other modes.
        LossFactory.Plan two = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false,
                new LossFactory.Tiling(0, 8L << 30).onDevices(2), 0);
        assertTrue(two.tiled() && two.wholeAfter() == null && two.estimateBytes() <= 8L << 30, two.toString());
        LossFactory.Plan four = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false, new LossFactory.Tiling(0, 4L << 30), 0);
        assertTrue(four.tiled() && four.tile() < eight.tile() && four.estimateBytes() <= 4L << 30, four.toString());
        // Fits: untiled even with a budget.
        assertFalse(LossFactory.plan(WEIGHTS, RECIPE, true, 256, 256, List.of(new int[] {256, 256}), false,
                new LossFactory.Tiling(0, 8L << 30), 0).tiled());
        // The optimiser's state counts against the budget.
        LossFactory.Plan withState = LossFactory.plan(WEIGHTS, RECIPE, true, 2160, 3840, style, false,
                new LossFactory.Tiling(0, 8L << 30), 2L << 30);
        assertTrue(work(withState) > work(eight), withState.toString());
        LossFactory.TilingException small = assertThrows(LossFactory.TilingException.class, () -> LossFactory.plan(WEIGHTS, RECIPE,
                true, 2160, 3840, style, false, new LossFactory.Tiling(0, 100L << 20), 0));
        assertTrue(small.getMessage().startsWith("--max-device-memory 100 MiB is too small for 3840x2160"), small.getMessage());
        LossFactory.TilingException norm = assertThrows(LossFactory.TilingException.class, () -> LossFactory.plan(WEIGHTS, RECIPE,
                true, 256, 256, style, true, new LossFactory.Tiling(128, 0), 0));
        assertTrue(norm.getMessage().startsWith("--normalize-gradients cannot be combined"), norm.getMessage());
        LossFactory.Plan forced = LossFactory.plan(WEIGHTS, RECIPE, true, 300, 400, style, false, new LossFactory.Tiling(100, 0), 0);
        assertTrue(forced.tiled() && forced.tile() == 100, forced.toString());
        assertTrue(forced.description().contains("halo 80 px"), forced.description());
    }

    private static final Network NET = Vgg.network(WEIGHTS, RECIPE.pooling());
    private static final List<String> TAPS = new ArrayList<>(RECIPE.layers(true));

    /** The plan's modelled work for the 4K image. */
    private static double work(LossFactory.Plan p) {
        LossFactory.Mode m = new LossFactory.Mode(p.keepAfter(), p.checkpoints(), p.wholeAfter());
        return LossFactory.work(NET, TAPS, m.grid(NET, TAPS, 2160, 3840, p.tile()), m);
    }

    /** The plan with the modes {@code off} (keep, whole, checkpoint) left out (clstyle.tile.X=none). */
    private static LossFactory.Plan plan(int h, int w, long budget, String... off) {
        for (String o : off) {
            System.setProperty("clstyle.tile." + o, "none");
        }
        try {
            LossFactory.Plan p = LossFactory.plan(WEIGHTS, RECIPE, true, h, w, List.of(new int[] {512, 512}), false,
                    new LossFactory.Tiling(0, budget), 0);
            List<String> left = List.of(off);
            assertTrue(!left.contains("keep") || p.keepAfter() == null, p.toString());
            assertTrue(!left.contains("whole") || p.wholeAfter() == null, p.toString());
            assertTrue(!left.contains("checkpoint") || p.checkpoints().isEmpty(), p.toString());
            return p;
        } finally {
            for (String o : off) {
                System.clearProperty("clstyle.tile." + o);
            }
        }
    }

    @Test
    void sizes() {
        assertEquals(8L << 30, MemoryEstimate.parseSize("8G"));
        assertEquals(8L << 30, MemoryEstimate.parseSize("8gb"));
        assertEquals(512L << 20, MemoryEstimate.parseSize("512M"));
        assertEquals(64L << 10, MemoryEstimate.parseSize("64k"));
        assertEquals(1048576, MemoryEstimate.parseSize("1048576"));
        for (String bad : new String[] {"", "G", "0", "-1G", "1.5G", "8T", "8 G x", "abc", "99999999999999G", null}) {
            assertEquals(-1, MemoryEstimate.parseSize(bad), String.valueOf(bad));
        }
        assertEquals("8.00 GiB", MemoryEstimate.format(8L << 30));
        assertEquals("100 MiB", MemoryEstimate.format(100L << 20));
    }
}
