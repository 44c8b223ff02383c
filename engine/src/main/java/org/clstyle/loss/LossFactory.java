package org.clstyle.loss;

import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClContext;
import org.clstyle.nn.Network;
import org.clstyle.nn.ReceptiveField;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.VggWeights;

/**
 * Whether a loss runs whole or in tiles ({@code --tile N}, {@code --max-device-memory SIZE}), decided
 * before anything is allocated, and the loss built accordingly.
 */
public final class LossFactory {
    private LossFactory() {}

    /**
     * What the user asked for: {@code tile} > 0 forces tiles of that core size; otherwise
     * {@code maxDeviceBytes} > 0 tiles only when the untiled estimate exceeds it, with the largest core
     * that fits; both 0: untiled.
     */
    public record Tiling(int tile, long maxDeviceBytes) {
        public static final Tiling NONE = new Tiling(0, 0);

        public Tiling {
            if (tile < 0 || maxDeviceBytes < 0) {
                throw new IllegalArgumentException("tiling: tile " + tile + ", budget " + maxDeviceBytes);
            }
        }
    }

    /** The decision: tile core (0: untiled), the estimated device bytes of the loss, and one line saying so. */
    public record Plan(int tile, long estimateBytes, String description) {
        public boolean tiled() {
            return tile > 0;
        }
    }

    /** Thrown when no tiling fits the budget or the options cannot be combined; the message is one line for the user. */
    public static final class TilingException extends IllegalArgumentException {
        public TilingException(String message) {
            super(message);
        }
    }

    /**
     * The plan for an h x w image with these style image sizes; {@code otherBytes} is what the caller
     * keeps on the device besides the loss (an optimiser's state), counted against the budget.
     */
    public static Plan plan(VggWeights weights, Recipe recipe, boolean withContent, int h, int w, List<int[]> styleHW,
            boolean normalizeGradients, Tiling tiling, long otherBytes) {
        Network network = Vgg.network(weights, recipe.pooling());
        List<String> contentLayers = withContent ? new ArrayList<>(recipe.content().layers().keySet()) : List.of();
        List<String> styleLayers = styleHW.isEmpty() ? List.of() : new ArrayList<>(recipe.style().layers().keySet());
        List<String> taps = new ArrayList<>(styleLayers);
        for (String l : contentLayers) {
            if (!taps.contains(l)) {
                taps.add(l);
            }
        }
        for (String l : taps) {
            if (network.indexOf(l) < 0) {
                throw new IllegalArgumentException("recipe: " + network.unknownNodeMessage(l));
            }
        }
        if (tiling.tile() > 0) {
            if (normalizeGradients) {
                throw new TilingException("--normalize-gradients cannot be combined with tiled evaluation (--tile, --max-device-memory):"
                        + " it divides each term's gradient by its L1 norm over the whole layer");
            }
            long est = taps.isEmpty() ? 0 : tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, tiling.tile());
            return new Plan(tiling.tile(), est + otherBytes, "tiled: " + describe(network, taps, h, w, tiling.tile())
                    + ", about " + MemoryEstimate.format(est + otherBytes) + " of device memory (estimate)");
        }
        // Untiled: the largest of the image and the style images sets the network's plan.
        int ph = h, pw = w;
        for (int[] s : styleHW) {
            if ((long) s[0] * s[1] > (long) ph * pw) {
                ph = s[0];
                pw = s[1];
            }
        }
        long untiled = taps.isEmpty() ? 0 : MemoryEstimate.untiled(network, taps, contentLayers, styleLayers, ph, pw)
                + 4L * 3 * 2 * ((long) h * w - (long) ph * pw); // the caller's image and gradient are h x w
        long budget = tiling.maxDeviceBytes();
        if (budget == 0 || untiled + otherBytes <= budget || taps.isEmpty()) {
            return new Plan(0, untiled + otherBytes, "untiled, about " + MemoryEstimate.format(untiled + otherBytes)
                    + " of device memory (estimate)");
        }
        if (normalizeGradients) {
            throw new TilingException("--max-device-memory " + MemoryEstimate.format(budget) + ": the untiled loss needs about "
                    + MemoryEstimate.format(untiled + otherBytes) + ", and --normalize-gradients cannot be combined with tiled evaluation");
        }
        // The largest core (a multiple of the alignment) whose estimate fits: the estimate grows with the core.
        int align = ReceptiveField.of(network, network.deepest(taps)).stride();
        int lo = 1, hi = (Math.max(Math.max(h, w), Math.max(ph, pw)) + align - 1) / align; // in alignment units
        long smallest = tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, align) + otherBytes;
        if (smallest > budget) {
            throw new TilingException("--max-device-memory " + MemoryEstimate.format(budget) + " is too small for " + w + "x" + h
                    + ": even tiles of " + align + " px need about " + MemoryEstimate.format(smallest)
                    + (otherBytes > 0 ? " (" + MemoryEstimate.format(otherBytes) + " of it the optimiser's state)" : ""));
        }
        while (lo < hi) {
            int mid = (lo + hi + 1) / 2;
            long est = tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, mid * align) + otherBytes;
            if (est <= budget) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        int tile = lo * align;
        long est = tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, tile) + otherBytes;
        return new Plan(tile, est, "tiled to fit --max-device-memory " + MemoryEstimate.format(budget) + " (untiled about "
                + MemoryEstimate.format(untiled + otherBytes) + "): " + describe(network, taps, h, w, tile) + ", about "
                + MemoryEstimate.format(est) + " (estimate)");
    }

    private static String describe(Network network, List<String> taps, int h, int w, int tile) {
        return taps.isEmpty() ? "no network layer read" : TileGrid.forLayers(network, taps, h, w, tile).toString();
    }

    /** The tiled estimate: the network sized for the largest region of the image's grid and the style images' grids. */
    private static long tiledEstimate(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w, List<int[]> styleHW, int tile) {
        int[] r = TileGrid.forLayers(network, taps, h, w, tile).largestRegion();
        if (!styleLayers.isEmpty()) {
            for (int[] s : styleHW) {
                int[] sr = TileGrid.forLayers(network, styleLayers, s[0], s[1], tile).largestRegion();
                if ((long) sr[0] * sr[1] > (long) r[0] * r[1]) {
                    r = sr;
                }
            }
        }
        return MemoryEstimate.tiled(network, taps, contentLayers, styleLayers, h, w, r[0], r[1]);
    }

    /**
     * The loss on several contexts (one per device; the first holds the image): {@link ShardedTiledLoss}
     * with the plan's tiles, or, for an untiled plan, tiles of the longest side / number of devices (so
     * that there are at least as many tiles as devices), dealt by the devices' speed. One context: {@link #create(Plan, ClContext, VggWeights, Recipe, float[], int,
     * int, List, List, boolean)}.
     */
    public static ImageLoss create(Plan plan, List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb,
            int h, int w, List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients) {
        if (contexts.size() == 1) {
            return create(plan, contexts.get(0), weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients);
        }
        if (normalizeGradients) {
            throw new TilingException("--normalize-gradients cannot be combined with several devices (they evaluate the loss in tiles)");
        }
        int tile = plan.tiled() ? plan.tile() : (Math.max(h, w) + contexts.size() - 1) / contexts.size();
        return new ShardedTiledLoss(contexts, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile);
    }

    /** The loss the plan says: {@link LossFunction} or {@link TiledLossFunction}. */
    public static ImageLoss create(Plan plan, ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients) {
        if (plan.tiled()) {
            if (normalizeGradients) {
                throw new TilingException("--normalize-gradients cannot be combined with tiled evaluation");
            }
            return new TiledLossFunction(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, plan.tile());
        }
        return new LossFunction(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients);
    }
}
