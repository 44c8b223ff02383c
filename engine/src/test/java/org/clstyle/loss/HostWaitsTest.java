package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;

/**
 * How often an evaluate makes the host wait for the device (a blocking read, write or finish drains the
 * queue, and a GPU idles until the host enqueues more): once for the untiled loss (its values), twice for
 * the tiled loss however many tiles it has (the content parts after pass 1, then the values), in every
 * tiled mode. Counted by {@link ClContext#hostWaits}.
 */
class HostWaitsTest {
    @Test
    void anEvaluateWaitsForTheDeviceOnceOrTwiceWhateverTheTiles() {
        VggWeights w = TiledLossTest.randomWeights(VggArchitecture.VGG19, 21);
        Recipe recipe = Recipe.defaultsFor(w.preprocessing()).toBuilder().tvWeight(1e-3).build();
        Recipe contentOnly = recipe.toBuilder().styleLayers(Map.of()).build();
        int h = 70, wd = 90;
        float[] content = Tensors.uniform(1, 3 * h * wd, 0, 1), style = Tensors.uniform(2, 3 * 40 * 50, 0, 1);
        List<float[]> styles = List.of(style);
        List<int[]> styleHW = List.of(new int[] {40, 50});
        try (ClContext ctx = ClContext.createDefault(); ClBuffer x = ctx.buffer(content, 3, h, wd); ClBuffer g = ctx.buffer(3, h, wd)) {
            assertEquals(1, waits(ctx, new LossFunction(ctx, w, recipe, content, h, wd, styles, styleHW), x, g), "untiled");
            for (int tile : new int[] {16, 48}) { // 5x6 and 2x2 tiles
                assertEquals(2, waits(ctx, new TiledLossFunction(ctx, w, recipe, content, h, wd, styles, styleHW, tile), x, g),
                        "tiled " + tile);
                assertEquals(2, waits(ctx, new TiledLossFunction(ctx, w, recipe, content, h, wd, styles, styleHW, tile, "pool2"), x, g),
                        "tiled " + tile + " to pool2, the rest whole");
                assertEquals(2, waits(ctx, new TiledLossFunction(ctx, w, recipe, content, h, wd, styles, styleHW, tile, "pool3",
                        List.of()), x, g), "tiled " + tile + ", outputs after pool3 kept");
                assertEquals(2, waits(ctx, new TiledLossFunction(ctx, w, contentOnly, content, h, wd, List.of(), List.of(), tile), x, g),
                        "tiled " + tile + ", content only");
            }
        }
    }

    /** The host waits of the second evaluate (the first also builds and uploads). */
    private static long waits(ClContext ctx, ImageLoss f, ClBuffer x, ClBuffer g) {
        try (f) {
            f.evaluate(x, g);
            long before = ctx.hostWaits(), launches = ctx.launches();
            f.evaluate(x, g);
            assertTrue(ctx.launches() > launches, "the evaluate launched kernels");
            return ctx.hostWaits() - before;
        }
    }
}
