package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.nn.DeviceNetwork;
import org.clstyle.nn.Network;
import org.clstyle.nn.ReceptiveField;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.ops.OpSettings;
import org.clstyle.ops.VectorOps;
import org.clstyle.tune.TuningTable;
import org.clstyle.vgg.Preprocess;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.VggWeights;

/**
 * {@link LossFunction}'s objective evaluated in tiles ({@link TileGrid}, whose Javadoc states the halo
 * rule), so that the network's device buffers are sized for one tile region, not the image: the same
 * values and gradient up to float rounding (sums are taken in another order).
 *
 * <p>Per evaluate:
 * <ol>
 * <li>Pass 1, tile by tile: the tile region is cut out of the image, preprocessed and run forward to
 *     the deepest layer used; at each layer a term reads, the core (at that layer's resolution) is
 *     copied out. Content terms add their core's part of the distance, normalised by the whole layer's
 *     element count (the mean over the image); style terms add the core's F F^T / n (n from the whole
 *     layer's size) into the global Gram.</li>
 * <li>Once: each style term's value and d style / d G from the global Gram.</li>
 * <li>Pass 2, the tiles in reverse order (the last tile of pass 1 keeps its forward): forward again
 *     (only up to the kept node when pass 1 kept each tile's deeper outputs, see {@link #keepAfter}),
 *     the loss gradient at each layer written into the core and zero outside it, the network's backward
 *     to the tile's input, and the tile's image gradient (core and halo: halo pixels feed core features)
 *     added into the full-size gradient.</li>
 * </ol>
 * With the layers after a pool whole (the constructor's wholeAfter), pass 1's tiles run only to that pool
 * and place their cores of its output into one whole output, on which the rest of the network runs once,
 * untiled, adding its terms; before pass 2 the rest's backward gives the gradient at that output, whose
 * core each tile's backward starts from beside its own terms. The content parts of every tile are read
 * back once, after pass 1.
 * Without style terms (and without a whole part) there is one pass (forward and backward per tile). Total variation is evaluated
 * on the full image as in the untiled loss (it needs only the image). The style targets are built the
 * same way from each style image (pass 1 only, each image with its own grid), and the content targets
 * tile by tile; the content targets (the core of each content layer of every tile, together one
 * full-size copy of the content layers) stay on the device, like the untiled loss's.
 *
 * <p>Device memory: the network's buffers for the largest tile region, one core copy and one core
 * gradient sized for the largest layer read (the layers use them one at a time), the tile's [3, h, w] input buffers, the Grams ([C, C] per style
 * layer, four each), the content targets, and the caller's full-size image and gradient; with a whole part,
 * also the rest of the network's buffers for the whole image and the pool's whole output and its gradient
 * ({@link MemoryEstimate#whole}).
 *
 * <p>{@code --normalize-gradients} divides each term's layer gradient by its L1 norm over the whole
 * layer, which a tile does not see before every tile's backward ran; this class refuses it (an exact
 * version would need one more pass of forwards).
 */
public final class TiledLossFunction implements ImageLoss {
    private final ClContext ctx;
    private final Recipe recipe;
    private final int h, w;
    private final TileGrid grid;
    private final Preprocess preprocess;
    private final Network network;
    private final DeviceNetwork vgg;
    private final List<String> taps;                 // every layer a term reads, forward order
    private final Map<String, Integer> strideOf = new HashMap<>();   // layer -> input pixels per feature pixel
    private final Map<String, int[]> fullShape = new HashMap<>();   // layer -> [C, H_l, W_l] of the whole image
    private final List<ContentTerm> content = new ArrayList<>();
    private final List<StyleTerm> style = new ArrayList<>();
    private final TotalVariationLoss tv;
    private final VectorOps vectors;
    private final Distance distance;
    private final GramMatrix gram;
    // Backing buffers sized for the largest tile (of every grid this loss uses), viewed per tile.
    private final ClBuffer rgbBacking;       // [3, h, w] tile of the image; in the backward, the gradient's tile
    private final ClBuffer netBacking;       // [3, h, w] network input
    private final ClBuffer dNetBacking;      // [3, h, w] d total / d network input
    private final ClBuffer dRgbBacking;      // [3, h, w] d total / d tile
    // One core at a time: each layer's core is used as soon as it is copied (pass 1, targets) or while the
    // backward walk is at its layer (pass 2), so one buffer of the largest [C, ch, cw] serves every layer.
    private final ClBuffer coreBacking;      // [C, ch, cw] a layer's core copy
    private final ClBuffer coreGradBacking;  // [C, ch, cw] d total / d that core
    private final ClBuffer results;          // [terms]: content layers, style layers, tv
    private final ClBuffer tileResults;      // [tiles + 1, content terms] each tile's part of each content term, then the whole part's
    private TileGrid.Tile forwarded;         // the tile whose forward the network holds, or null
    private List<TileGrid.Tile> owned;       // the tiles this instance evaluates: all, or one shard's (ShardedTiledLoss); null until chosen
    private final boolean withContent;
    private float[] contentRgb;              // the caller's content image until {@link #own} built the targets
    private String keptAfter;                // pass 1 keeps every tile's outputs after this node (null: none), see keepAfter
    private List<String> checkpointsAfter = List.of(); // the pools ending the network's segments (empty: none), see checkpoint
    // Whole after a pool (see the constructor's wholeAfter): the tiles run only up to that pool, whose cores are
    // assembled into its whole output, and the later layers run on that, untiled.
    private final String wholeAfter;         // the pool (null: none)
    private final List<String> tileLayers;   // what the tiles run to: the taps up to wholeAfter, and wholeAfter (all taps without)
    private final List<String> wholeTaps;    // the taps after wholeAfter (empty without)
    private final DeviceNetwork tail;        // the network after wholeAfter, on its whole output (null without)
    private final ClBuffer boundaryBacking;  // [C, H_k, W_k] wholeAfter's whole output, for the largest image (null without)
    private final ClBuffer dBoundary;        // [C, H_k, W_k] d total / d the image's whole output (the style images need none)

    /** A content term: per tile, its core of F_l(content); factor 1/(whole layer's size) or 1/2. */
    private record ContentTerm(String layer, Distance.Kind kind, double factor, float scale, ClBuffer[] targets) {}

    /** A style term: blended target, global Gram of x, its gradient, a tile's Gram. All [C, C]. */
    private record StyleTerm(String layer, Distance.Kind kind, float scale, ClBuffer target, ClBuffer g, ClBuffer dg,
            ClBuffer tileGram) {}

    /**
     * As {@link LossFunction#LossFunction(ClContext, VggWeights, Recipe, float[], int, int, List, List)},
     * with tile cores of about {@code tile} pixels (rounded down to the alignment the deepest layer needs).
     */
    public TiledLossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, -1, t -> true, null, List.of(), null);
    }

    /**
     * As above, pass 1 keeping each tile's outputs after {@code keepAfter} (null: none; {@link #keepAfter})
     * or the network run from each tile's checkpoints after the pools {@code checkpoints} (empty: none; {@link #checkpoint}),
     * already while the targets are built (so that they too take only that mode's memory).
     */
    public TiledLossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, String keepAfter, List<String> checkpoints) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, -1, t -> true, keepAfter, checkpoints, null);
    }

    /**
     * As above with the tiles running only up to the pool {@code wholeAfter} (null: the deepest layer read), and the
     * layers after it on the whole image: each tile's core of that pool's output is placed into one whole
     * output ([C, H_k, W_k]), the rest of the network runs on it untiled, and its gradient there feeds each
     * tile's backward at the pool. The tiles' halo is then the rule's for the pool, not for the deepest layer
     * (VGG19 pool2: 8 px instead of 80), and pass 2 recomputes only the tiles' part; the device holds the
     * later layers' activations for the whole image. {@code wholeAfter} is a pool before the deepest layer
     * read; it does not combine with kept outputs or checkpoints, nor with shards.
     */
    public TiledLossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, String wholeAfter) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, -1, t -> true, null, List.of(), wholeAfter);
    }

    /** As above with the halo given ({@code halo} >= 0, a multiple of the alignment) instead of the rule's: for tests. */
    TiledLossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, int halo) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, halo, t -> true, null, List.of(), null);
    }

    /**
     * One shard of the grid: the tiles whose index {@code owns} accepts (halo -1: the rule's), or, with
     * {@code owns} null, none until {@link #own} says which (after {@link #forwardSeconds} timed the
     * device). Its {@link #forwardPass} and {@link #backwardPass} cover only those tiles; the style
     * targets are whole on every shard, the content targets only for its tiles. {@link ShardedTiledLoss}
     * runs one per device and reduces on the host.
     */
    TiledLossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, int halo, IntPredicate owns, String keepAfter,
            List<String> checkpoints, String wholeAfter) {
        if (tile < 1) {
            throw new IllegalArgumentException("tile size must be positive, got " + tile);
        }
        this.network = LossFunction.checkedNetwork(weights, recipe, contentRgb, h, w, styleRgb, styleHW);
        boolean withStyle = !styleRgb.isEmpty() && !recipe.style().layers().isEmpty();
        boolean withContent = contentRgb != null && !recipe.content().layers().isEmpty();
        double[] blend = styleRgb.isEmpty() ? new double[0] : recipe.blendWeights(styleRgb.size());
        this.withContent = withContent;
        this.contentRgb = contentRgb;
        this.ctx = ctx;
        this.recipe = recipe;
        this.h = h;
        this.w = w;
        this.preprocess = new Preprocess(ctx, weights.preprocessing());
        this.tv = new TotalVariationLoss(ctx, recipe.tv().kind());
        this.vectors = new VectorOps(ctx);
        this.distance = new Distance(ctx);
        OpSettings tuning = TuningTable.load(ctx.device()); // the device's tuned settings, empty when untuned
        this.gram = new GramMatrix(ctx, tuning);
        List<String> layers = new ArrayList<>();
        if (withStyle) {
            layers.addAll(recipe.style().layers().keySet());
        }
        if (withContent) {
            for (String l : recipe.content().layers().keySet()) {
                if (!layers.contains(l)) {
                    layers.add(l);
                }
            }
        }
        layers.sort((a, b) -> Integer.compare(network.indexOf(a), network.indexOf(b)));
        this.taps = List.copyOf(layers);
        if (wholeAfter != null && !taps.isEmpty()) {
            if (!MemoryEstimate.poolsBeforeDeepest(network, taps).contains(wholeAfter)) {
                throw new IllegalArgumentException("wholeAfter: " + wholeAfter + " is not a pool before " + network.deepest(taps));
            }
            if (keepAfter != null || (checkpoints != null && !checkpoints.isEmpty())) {
                throw new IllegalArgumentException("wholeAfter: does not combine with kept outputs or checkpoints");
            }
        }
        this.wholeAfter = taps.isEmpty() ? null : wholeAfter;
        this.tileLayers = upToWhole(taps);
        this.wholeTaps = afterWhole(taps);
        this.grid = gridFor(tileLayers, h, w, tile, halo);
        for (String l : taps) {
            strideOf.put(l, ReceptiveField.of(network, l).stride());
        }
        if (this.wholeAfter != null) {
            strideOf.put(this.wholeAfter, ReceptiveField.of(network, this.wholeAfter).stride());
        }
        if (!taps.isEmpty()) {
            fullShape.putAll(network.shapes(h, w, network.deepest(taps))); // also refuses an image too small
        }
        List<String> styleTaps = withStyle ? List.copyOf(recipe.style().layers().keySet()) : List.of();
        List<TileGrid> styleGrids = new ArrayList<>();
        for (int k = 0; k < styleRgb.size() && withStyle; k++) {
            int sh = styleHW.get(k)[0], sw = styleHW.get(k)[1];
            if (styleRgb.get(k).length != 3 * sh * sw) {
                throw new IllegalArgumentException("style image " + (k + 1) + " has " + styleRgb.get(k).length
                        + " values, expected 3x" + sh + "x" + sw);
            }
            try {
                network.shapes(sh, sw, network.deepest(styleTaps));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("style image " + (k + 1) + ": " + e.getMessage());
            }
            styleGrids.add(gridFor(upToWhole(styleTaps), sh, sw, tile, halo));
        }

        // Backing buffers for the largest tile and core of every grid.
        List<TileGrid> grids = new ArrayList<>(styleGrids);
        grids.add(grid);
        int maxTile = 1;
        Map<String, Long> maxCore = new HashMap<>();
        for (TileGrid g : grids) {
            for (TileGrid.Tile t : g.tiles()) {
                maxTile = Math.max(maxTile, t.h() * t.w());
                for (String l : tileLayers) {
                    int j = strideOf.get(l);
                    int[] r = t.coreRows(j, g.height()), c = t.coreCols(j, g.width());
                    long n = (long) Math.max(0, r[1] - r[0]) * Math.max(0, c[1] - c[0]);
                    maxCore.merge(l, n, Math::max);
                }
            }
        }
        this.rgbBacking = ctx.buffer(3, maxTile);
        this.netBacking = ctx.buffer(3, maxTile);
        this.dNetBacking = ctx.buffer(3, maxTile);
        this.dRgbBacking = ctx.buffer(3, maxTile);
        long coreFloats = 1;
        for (String l : tileLayers) {
            coreFloats = Math.max(coreFloats, network.channels(l) * Math.max(1, maxCore.getOrDefault(l, 0L)));
        }
        this.coreBacking = ctx.buffer(Math.toIntExact(coreFloats));
        this.coreGradBacking = ctx.buffer(Math.toIntExact(coreFloats));
        this.vgg = new DeviceNetwork(ctx, network, Vgg.parameters(weights), tuning);
        if (this.wholeAfter != null) {
            this.tail = new DeviceNetwork(ctx, network.after(this.wholeAfter), Vgg.parameters(weights), tuning);
            long most = 1;
            for (TileGrid g : grids) {
                int[] s = boundaryShape(g);
                most = Math.max(most, (long) s[0] * s[1] * s[2]);
            }
            this.boundaryBacking = ctx.buffer(Math.toIntExact(most));
            this.dBoundary = ctx.buffer(boundaryShape(grid));
        } else {
            this.tail = null;
            this.boundaryBacking = null;
            this.dBoundary = null;
        }
        keepAfter(keepAfter);
        checkpoint(checkpoints);
        this.results = ctx.buffer(recipe.content().layers().size() + recipe.style().layers().size() + 1);
        this.tileResults = ctx.buffer(grid.tiles().size() + 1, Math.max(1, recipe.content().layers().size()));

        // Style targets: each style image tile by tile (pass 1 only), Grams blended into one target per layer.
        if (withStyle) {
            for (String l : recipe.style().layers().keySet()) {
                int c = network.channels(l);
                StyleTerm s = new StyleTerm(l, recipe.style().loss() == Recipe.LossKind.L1 ? Distance.Kind.L1 : Distance.Kind.MSE,
                        (float) (recipe.style().weight() * recipe.style().layers().get(l)),
                        ctx.buffer(c, c), ctx.buffer(c, c), ctx.buffer(c, c), ctx.buffer(c, c));
                vectors.fill(s.target(), 0f);
                style.add(s);
            }
            for (int k = 0; k < styleRgb.size(); k++) {
                TileGrid g = styleGrids.get(k);
                Map<String, int[]> shapes = network.shapes(g.height(), g.width(), network.deepest(styleTaps));
                try (ClBuffer rgb = ctx.buffer(styleRgb.get(k), 3, g.height(), g.width())) {
                    float b = (float) blend[k];
                    java.util.function.BiConsumer<String, ClBuffer> toTarget = (l, x) -> {
                        for (StyleTerm s : style) {
                            if (s.layer().equals(l)) {
                                gram.forward(x, s.tileGram(), gramN(shapes.get(l)));
                                vectors.axpy(b, s.tileGram(), s.target());
                            }
                        }
                    };
                    for (TileGrid.Tile t : g.tiles()) {
                        forwardTile(t, g, rgb, upToWhole(styleTaps), null, toTarget);
                    }
                    forwardWhole(g, afterWhole(styleTaps), toTarget);
                    ctx.finish();
                }
            }
            forwarded = null;
        }
        if (owns != null) {
            own(owns);
        }
    }

    /**
     * Sets the tiles this instance evaluates (those whose index {@code owns} accepts; once, for a shard
     * made without) and builds their content targets.
     */
    void own(IntPredicate owns) {
        if (owned != null) {
            throw new IllegalStateException("TiledLossFunction.own: the tiles are already chosen");
        }
        owned = grid.tiles().stream().filter(t -> owns.test(t.index())).toList();
        // Content targets: each tile's core of each content layer.
        if (withContent) {
            int nt = grid.tiles().size();
            for (String l : recipe.content().layers().keySet()) {
                int[] fs = fullShape.get(l);
                double factor = recipe.content().loss() == Recipe.LossKind.SSE_HALF ? 0.5
                        : 1.0 / ((double) fs[0] * fs[1] * fs[2]);
                content.add(new ContentTerm(l, recipe.content().loss() == Recipe.LossKind.L1 ? Distance.Kind.L1 : Distance.Kind.MSE,
                        factor, (float) (recipe.content().weight() * recipe.content().layers().get(l)), new ClBuffer[nt]));
            }
            try (ClBuffer rgb = ctx.buffer(contentRgb, 3, h, w)) {
                for (TileGrid.Tile t : owned) {
                    forwardTile(t, grid, rgb, tileLayers, null, (l, core) -> keepTarget(t.index(), l, core));
                }
                forwardWhole(grid, wholeTaps, (l, x) -> keepTarget(0, l, x)); // a whole layer's target in slot 0
                ctx.finish();
            }
            forwarded = null;
        }
        contentRgb = null;
    }

    /** A copy of {@code x} as content layer l's target in slot {@code k} (a tile's index, or 0 for a whole layer). */
    private void keepTarget(int k, String l, ClBuffer x) {
        for (ContentTerm c : content) {
            if (c.layer().equals(l)) {
                c.targets()[k] = ctx.buffer(x.shape());
                c.targets()[k].copyFrom(x);
            }
        }
    }

    /** {@link #tileLayers(Network, List, String)} for this loss's wholeAfter. */
    private List<String> upToWhole(List<String> layers) {
        return tileLayers(network, layers, wholeAfter);
    }

    /** {@link #wholeLayers(Network, List, String)} for this loss's wholeAfter. */
    private List<String> afterWhole(List<String> layers) {
        return wholeLayers(network, layers, wholeAfter);
    }

    /**
     * Of {@code layers} (forward order), those the tiles run to when the layers after the pool {@code wholeAfter}
     * run whole: all when it is null or no layer lies after it, else those before it and it.
     */
    static List<String> tileLayers(Network network, List<String> layers, String wholeAfter) {
        if (wholeAfter == null || layers.isEmpty() || network.indexOf(network.deepest(layers)) <= network.indexOf(wholeAfter)) {
            return layers;
        }
        List<String> out = new ArrayList<>();
        for (String l : layers) {
            if (network.indexOf(l) < network.indexOf(wholeAfter)) {
                out.add(l);
            }
        }
        out.add(wholeAfter);
        return List.copyOf(out);
    }

    /** Of {@code layers}, those after {@code wholeAfter} (run on the whole image; empty for null). */
    static List<String> wholeLayers(Network network, List<String> layers, String wholeAfter) {
        if (wholeAfter == null) {
            return List.of();
        }
        return layers.stream().filter(l -> network.indexOf(l) > network.indexOf(wholeAfter)).toList();
    }

    /**
     * With wholeAfter: the network after it on the whole output the tiles of {@code g} assembled (the
     * boundary, which this views for g's image), each of {@code layers} handed to {@code onLayer} as it is
     * ready. Nothing when {@code layers} is empty.
     */
    private void forwardWhole(TileGrid g, List<String> layers, java.util.function.BiConsumer<String, ClBuffer> onLayer) {
        if (layers.isEmpty()) {
            return;
        }
        tail.forward(boundaryFor(g), layers, l -> onLayer.accept(l, tail.activation(l)));
    }

    /** The shape [C, H_k, W_k] of wholeAfter's output for {@code g}'s image. */
    private int[] boundaryShape(TileGrid g) {
        return network.shapes(g.height(), g.width(), wholeAfter).get(wholeAfter);
    }

    /** The whole output of wholeAfter for {@code g}'s image, viewed in its backing buffer. */
    private ClBuffer boundaryFor(TileGrid g) {
        return boundaryBacking.view(boundaryShape(g));
    }

    /** Tile t's core of wholeAfter ({@code core}, [C, ch, cw]) placed into the whole output of {@code g}'s image. */
    private void placeCore(TileGrid.Tile t, TileGrid g, ClBuffer core) {
        int j = strideOf.get(wholeAfter);
        boundaryFor(g).copyRegionFrom(core, 0, 0, t.coreY0() / j, t.coreX0() / j, core.shape()[1], core.shape()[2]);
    }

    /**
     * Seconds of one forward of the grid's largest tile region of {@code image} ([3, H, W] on this
     * context; its values do not matter) to the deepest layer read: the least of {@code runs} timed
     * forwards after an untimed one, the queue finished before and after each; how fast this device
     * runs the loss. 0 when the loss reads no network layer.
     */
    double forwardSeconds(ClBuffer image, int runs) {
        if (taps.isEmpty()) {
            return 0;
        }
        TileGrid.Tile largest = grid.tiles().get(0);
        for (TileGrid.Tile t : grid.tiles()) {
            if ((long) t.h() * t.w() > (long) largest.h() * largest.w()) {
                largest = t;
            }
        }
        forwardTile(largest, grid, image, taps, null, null);
        ctx.finish();
        long best = Long.MAX_VALUE;
        for (int i = 0; i < runs; i++) {
            long t0 = System.nanoTime();
            forwardTile(largest, grid, image, taps, null, null);
            ctx.finish();
            best = Math.min(best, System.nanoTime() - t0);
        }
        forwarded = null;
        return best / 1e9;
    }

    private TileGrid gridFor(List<String> layers, int h, int w, int tile, int halo) {
        if (layers.isEmpty()) {
            return new TileGrid(h, w, tile, 0, 1);
        }
        if (halo < 0) {
            return TileGrid.forLayers(network, layers, h, w, tile);
        }
        return new TileGrid(h, w, tile, halo, ReceptiveField.of(network, network.deepest(layers)).stride());
    }

    /** The grid this loss evaluates on. */
    public TileGrid grid() { return grid; }

    /**
     * Pass 1 keeps each tile's network outputs after {@code node} (null: none, the default) on the device,
     * so that pass 2 recomputes only the nodes up to it ({@link DeviceNetwork#keepAfter}): less work for
     * the memory of those outputs once per tile ({@link MemoryEstimate#kept}). The values are the same.
     * {@link LossFactory} chooses the node that fits the device memory budget.
     */
    public void keepAfter(String node) {
        if (node != null && wholeAfter != null) {
            throw new IllegalStateException("keepAfter: the loss runs the layers after " + wholeAfter + " whole; the two do not combine");
        }
        if (node != null && checkpointed()) {
            throw new IllegalStateException("keepAfter: the loss runs from checkpoints; the two do not combine");
        }
        if (node != null && network.indexOf(node) < 0) {
            throw new IllegalArgumentException("keepAfter: " + network.unknownNodeMessage(node));
        }
        boolean deeperThanTaps = node != null && !taps.isEmpty() && network.indexOf(node) >= network.indexOf(network.deepest(taps));
        keptAfter = deeperThanTaps ? null : node;
        vgg.keepAfter(keptAfter);
        forwarded = null;
    }

    /** The network's buffer set for the k-th of this instance's tiles: its own when pass 1 keeps outputs or checkpoints, else one for all. */
    private int slot(int k) {
        return keptAfter == null && !checkpointed() ? 0 : k;
    }

    /** Whether the network runs in segments from each tile's checkpoints ({@link #checkpoint}). */
    private boolean checkpointed() {
        return !checkpointsAfter.isEmpty();
    }

    /** The pools {@link #keepAfter} and {@link #checkpoint} accept: those before the deepest layer read. */
    List<String> pools() {
        return taps.isEmpty() ? List.of() : MemoryEstimate.poolsBeforeDeepest(network, taps);
    }

    /**
     * The network runs in segments ending at the pools {@code after} (before the deepest layer read; empty:
     * none) ({@link DeviceNetwork#checkpointAfter}): pass 1 keeps each tile's segment outputs (the pools'), and
     * pass 2 recomputes each segment from them just before walking back through it. The device then
     * holds one segment's activations for the largest tile, not the whole network's, plus every tile's
     * checkpoints ({@link MemoryEstimate#checkpointed}); the work is pass 2's forward, which runs anyway,
     * but now also for the last tile. The values are the same. {@link LossFactory} chooses it when it
     * lets larger tiles fit the budget.
     */
    public void checkpoint(List<String> after) {
        boolean on = after != null && !after.isEmpty();
        if (on && wholeAfter != null) {
            throw new IllegalStateException("checkpoint: the loss runs the layers after " + wholeAfter + " whole; the two do not combine");
        }
        if (on && keptAfter != null) {
            throw new IllegalStateException("checkpoint: the loss keeps outputs after " + keptAfter + "; the two do not combine");
        }
        if (on && !pools().containsAll(after)) {
            throw new IllegalArgumentException("checkpoint: " + after + " are not all pools before " + network.deepest(taps));
        }
        checkpointsAfter = on && !taps.isEmpty() ? List.copyOf(after) : List.of();
        vgg.checkpointAfter(checkpointsAfter);
        forwarded = null;
    }

    @Override
    public Recipe recipe() { return recipe; }

    @Override
    public int height() { return h; }

    @Override
    public int width() { return w; }

    /** n of the Gram normalisation for a whole layer of shape [C, H_l, W_l]. */
    private double gramN(int[] s) {
        return recipe.style().gram().n(s[0], s[1], s[2]);
    }

    /** The style distance's factor for the whole image's layer (as StyleLoss's). */
    private double styleFactor(int[] s) {
        double c = s[0];
        if (recipe.style().gram() == Recipe.GramNorm.GATYS) {
            double m = (double) s[1] * s[2];
            return 1.0 / (4 * c * c * m * m);
        }
        return recipe.style().loss() == Recipe.LossKind.SSE_HALF ? 0.5 : 1.0 / (c * c);
    }

    /**
     * Tile {@code t} of {@code g}'s image {@code rgb} ([3, H, W]): cut out, preprocessed, forward to the
     * deepest of {@code layers} (only up to {@code upTo} when not null: the later outputs are the tile's
     * kept ones), and each layer's core (where not empty) copied out and handed to {@code onCore} (null:
     * none) at once: the core buffer is shared by the layers.
     */
    private void forwardTile(TileGrid.Tile t, TileGrid g, ClBuffer rgb, List<String> layers, String upTo,
            java.util.function.BiConsumer<String, ClBuffer> onCore) {
        ClBuffer net = tileInput(t, g, rgb);
        java.util.function.Consumer<String> ready = onCore == null ? null : l -> {
            ClBuffer core = copyCore(t, g, l); // while its layer is readable (with checkpoints, only until the next segment)
            if (core != null) {
                onCore.accept(l, core);
                if (l.equals(wholeAfter)) {
                    placeCore(t, g, core);
                }
            }
        };
        if (upTo == null) {
            vgg.forward(net, layers, ready);
        } else {
            vgg.forwardUpTo(net, layers, upTo);
            if (ready != null) {
                layers.forEach(ready);
            }
        }
        forwarded = t;
    }

    /** Tile t of {@code g}'s image {@code rgb} cut out and preprocessed into the network input buffer, which it returns. */
    private ClBuffer tileInput(TileGrid.Tile t, TileGrid g, ClBuffer rgb) {
        ClBuffer tileRgb = rgbBacking.view(3, t.h(), t.w());
        ClBuffer net = netBacking.view(3, t.h(), t.w());
        tileRgb.copyRegionFrom(rgb, t.y0(), t.x0(), 0, 0, t.h(), t.w());
        preprocess.forward(tileRgb, net);
        return net;
    }

    /** Layer l's core of tile t (of grid g) copied out of the network's activation into the shared core buffer; null when empty. */
    private ClBuffer copyCore(TileGrid.Tile t, TileGrid g, String l) {
        int j = strideOf.get(l);
        int[] r = t.coreRows(j, g.height()), c = t.coreCols(j, g.width());
        int ch = r[1] - r[0], cw = c[1] - c[0];
        if (ch <= 0 || cw <= 0) {
            return null;
        }
        ClBuffer core = coreBacking.view(network.channels(l), ch, cw);
        core.copyRegionFrom(vgg.activation(l), r[0], c[0], 0, 0, ch, cw);
        return core;
    }

    @Override
    public LossValues evaluate(ClBuffer image, ClBuffer gradOut) {
        ImageLoss.checkShapes("TiledLossFunction.evaluate", image, gradOut, h, w);
        int nc = content.size(), ns = style.size();
        int tvIndex = recipe.content().layers().size() + recipe.style().layers().size();
        double[] contentSum = new double[nc];
        if (gradOut != null) {
            vectors.fill(gradOut, 0f);
        }
        if (!taps.isEmpty()) {
            if (ns > 0 || gradOut == null || wholeAfter != null) {
                contentSum = forwardPass(image);
                styleTerms(gradOut != null);
                if (gradOut != null) {
                    backwardPass(image, gradOut);
                }
            } else {
                vgg.useSlot(0);
                boolean[][] present = new boolean[grid.tiles().size() + 1][content.size()];
                for (TileGrid.Tile t : owned) { // content only: one pass
                    forwardTile(t, grid, image, taps, null, (l, core) -> contentParts(t.index(), t.index(), l, core, present));
                    backwardTile(t, gradOut);
                }
                contentSum = contentValues(present);
            }
        }
        tv.forward(image, results, tvIndex);
        if (gradOut != null) {
            float tvScale = (float) recipe.tv().weight();
            if (tvScale != 0) {
                tv.backward(image, tvScale, gradOut, true);
            }
        }
        float[] raw = results.read();
        return values(contentSum, raw, raw[tvIndex]);
    }

    /** The weighted total and the raw terms: content from {@code contentSum}, style from {@code raw}, tv given. */
    LossValues values(double[] contentSum, float[] raw, double tvRaw) {
        int nc = content.size(), ns = style.size();
        Map<String, Double> contentTerms = new LinkedHashMap<>();
        Map<String, Double> styleTerms = new LinkedHashMap<>();
        for (int i = 0; i < nc; i++) {
            contentTerms.put(content.get(i).layer(), (double) (float) contentSum[i]); // float, as the untiled loss reports it
        }
        for (int i = 0; i < ns; i++) {
            styleTerms.put(style.get(i).layer(), (double) raw[nc + i]);
        }
        return LossFunction.values(recipe, contentTerms, styleTerms, tvRaw);
    }

    /**
     * Pass 1 over this instance's tiles: every tile forward, its content parts added up (returned, per
     * content term, after one read) and its cores' Gram parts added into the Gram buffers (which start from zero).
     */
    double[] forwardPass(ClBuffer image) {
        for (StyleTerm s : style) {
            vectors.fill(s.g(), 0f);
        }
        boolean[][] present = new boolean[grid.tiles().size() + 1][content.size()];
        for (int k = 0; k < owned.size(); k++) {
            TileGrid.Tile t = owned.get(k);
            vgg.useSlot(slot(k));
            forwardTile(t, grid, image, tileLayers, null, (l, core) -> forwardParts(t.index(), t.index(), l, core, present));
        }
        int whole = grid.tiles().size();
        forwardWhole(grid, wholeTaps, (l, x) -> forwardParts(0, whole, l, x, present));
        return contentValues(present);
    }

    /**
     * Pass 1's terms at layer l ({@code x}: a tile's core, or a whole layer): the content parts (targets in
     * slot {@code k}) into row {@code row} of the tile results, marked present, and the Gram parts added into
     * the Grams.
     */
    private void forwardParts(int k, int row, String l, ClBuffer x, boolean[][] present) {
        contentParts(k, row, l, x, present);
        for (StyleTerm s : style) {
            if (s.layer().equals(l)) {
                gram.forward(x, s.tileGram(), gramN(fullShape.get(l)));
                vectors.axpy(1f, s.tileGram(), s.g());
            }
        }
    }

    /** The Gram buffers, style term after style term ([C, C] each, row-major): this instance's sum over its tiles. */
    float[] grams() {
        int n = 0;
        for (StyleTerm s : style) {
            n += s.g().size();
        }
        float[] all = new float[n];
        int at = 0;
        for (StyleTerm s : style) {
            float[] g = s.g().read();
            System.arraycopy(g, 0, all, at, g.length);
            at += g.length;
        }
        return all;
    }

    /** Overwrites the Gram buffers with {@code all} (as {@link #grams} lays them out): the global Grams after a reduction. */
    void setGrams(float[] all) {
        int at = 0;
        for (StyleTerm s : style) {
            float[] g = Arrays.copyOfRange(all, at, at + s.g().size());
            s.g().write(g);
            at += g.length;
        }
    }

    /** Each style term's value (into the result buffer) from the Grams, and with {@code gradient} its d style / d G. */
    void styleTerms(boolean gradient) {
        int nc = content.size();
        for (int i = 0; i < style.size(); i++) {
            StyleTerm s = style.get(i);
            double factor = styleFactor(fullShape.get(s.layer()));
            distance.forward(s.kind(), s.g(), s.target(), factor, results, nc + i);
            if (gradient) {
                distance.backward(s.kind(), s.g(), s.target(), factor, s.scale(), s.dg(), false);
            }
        }
    }

    /** The raw terms' buffer (style values after {@link #styleTerms}). */
    float[] results() {
        return results.read();
    }

    /**
     * Pass 2 over this instance's tiles, last first (the last forward of pass 1 is reused): each tile's
     * image gradient added into {@code gradOut} ([3, H, W], not cleared here).
     */
    void backwardPass(ClBuffer image, ClBuffer gradOut) {
        if (taps.isEmpty()) {
            return;
        }
        if (wholeAfter != null) {
            // The whole layers first: their gradient at wholeAfter's output, which the tiles' backward reads.
            Map<String, DeviceNetwork.NodeGradient> sources = new LinkedHashMap<>();
            for (String l : wholeTaps) {
                if (weighted(l)) {
                    ClBuffer x = tail.activation(l);
                    sources.put(l, (g, accumulate) -> termGradients(0, l, x, g, accumulate));
                }
            }
            if (sources.isEmpty()) {
                vectors.fill(dBoundary, 0f);
            } else {
                tail.backwardFrom(sources, dBoundary);
            }
        }
        for (int k = owned.size() - 1; k >= 0; k--) {
            TileGrid.Tile t = owned.get(k);
            vgg.useSlot(slot(k));
            if (checkpointed()) {
                if (forwarded != t) {
                    tileInput(t, grid, image); // the backward recomputes each segment from the tile's checkpoints
                }
            } else if (forwarded != t) {
                forwardTile(t, grid, image, tileLayers, keptAfter, null); // the cores are copied while the walk is at them
            }
            backwardTile(t, gradOut);
        }
    }

    /** Fills {@code b} (on this loss's context) with zeros. */
    void clear(ClBuffer b) {
        vectors.fill(b, 0f);
    }

    /** Whether the loss reads any network layer (else only total variation). */
    boolean readsNetwork() {
        return !taps.isEmpty();
    }

    /**
     * The part of each content term at layer l of {@code x} (targets in slot k) into row {@code row} of the
     * tile results; marks them present.
     */
    private void contentParts(int k, int row, String l, ClBuffer x, boolean[][] present) {
        for (int i = 0; i < content.size(); i++) {
            ContentTerm c = content.get(i);
            if (c.layer().equals(l)) {
                distance.forward(c.kind(), x, c.targets()[k], c.factor(), tileResults, row * content.size() + i);
                present[row][i] = true;
            }
        }
    }

    /**
     * Each content term's value: its present parts summed row by row (tiles in grid order, then the whole
     * part), after one read of every row: the host waits on the device once for them, not once per tile.
     */
    private double[] contentValues(boolean[][] present) {
        double[] sum = new double[content.size()];
        boolean any = false;
        for (boolean[] row : present) {
            for (boolean p : row) {
                any |= p;
            }
        }
        if (!any) {
            return sum;
        }
        float[] part = tileResults.read();
        for (int r = 0; r < present.length; r++) {
            for (int i = 0; i < content.size(); i++) {
                if (present[r][i]) {
                    sum[i] += part[r * content.size() + i];
                }
            }
        }
        return sum;
    }

    /** Whether some term at layer l has a nonzero weight (else its gradient is not walked back). */
    private boolean weighted(String l) {
        for (ContentTerm c : content) {
            if (c.layer().equals(l) && c.scale() != 0) {
                return true;
            }
        }
        for (StyleTerm s : style) {
            if (s.layer().equals(l) && s.scale() != 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * The weighted terms' gradient at layer l, of {@code x} (a tile's core, or a whole layer; content targets
     * in slot k), written into {@code g} (added to it with {@code accumulate}); whether {@code g} now holds
     * a gradient (some term was weighted, or it was accumulating).
     */
    private boolean termGradients(int k, String l, ClBuffer x, ClBuffer g, boolean accumulate) {
        boolean acc = accumulate;
        for (ContentTerm c : content) {
            if (c.layer().equals(l) && c.scale() != 0) {
                distance.backward(c.kind(), x, c.targets()[k], c.factor(), c.scale(), g, acc);
                acc = true;
            }
        }
        for (StyleTerm s : style) {
            if (s.layer().equals(l) && s.scale() != 0) {
                gram.backward(s.dg(), x, g, gramN(fullShape.get(l)), acc);
                acc = true;
            }
        }
        return acc;
    }

    /**
     * The forwarded tile's backward: at each layer with a weighted term, the terms' gradient on the core
     * and zero around it; the network's backward to the tile's input; the tile's image gradient added
     * into {@code gradOut}.
     */
    private void backwardTile(TileGrid.Tile t, ClBuffer gradOut) {
        Map<String, DeviceNetwork.NodeGradient> sources = new LinkedHashMap<>();
        for (String l : tileLayers) {
            boolean fromWhole = l.equals(wholeAfter);
            if (!weighted(l) && !fromWhole) {
                continue;
            }
            int j = strideOf.get(l);
            int[] r = t.coreRows(j, h), cc = t.coreCols(j, w);
            sources.put(l, (g, accumulate) -> {
                // The core from the activation now (the walk is at l): with checkpoints no earlier copy survives.
                ClBuffer core = copyCore(t, grid, l);
                if (core == null) {
                    if (!accumulate) {
                        vectors.fill(g, 0f);
                    }
                    return;
                }
                int ch = r[1] - r[0], cw = cc[1] - cc[0];
                ClBuffer cg = coreGradBacking.view(core.shape());
                if (accumulate) {
                    cg.copyRegionFrom(g, r[0], cc[0], 0, 0, ch, cw);
                }
                boolean acc = termGradients(t.index(), l, core, cg, accumulate);
                if (fromWhole) {
                    // The whole layers' gradient at this core (the core's copy is no longer needed).
                    ClBuffer part = acc ? core : cg;
                    part.copyRegionFrom(dBoundary, t.coreY0() / j, t.coreX0() / j, 0, 0, ch, cw);
                    if (acc) {
                        vectors.axpy(1f, part, cg);
                    }
                }
                if (!accumulate) {
                    vectors.fill(g, 0f);
                }
                g.copyRegionFrom(cg, 0, 0, r[0], cc[0], ch, cw);
            });
        }
        ClBuffer dNet = dNetBacking.view(3, t.h(), t.w());
        ClBuffer dRgb = dRgbBacking.view(3, t.h(), t.w());
        ClBuffer acc = rgbBacking.view(3, t.h(), t.w()); // the tile's image is no longer needed
        if (sources.isEmpty()) {
            return; // no weighted network term: nothing to add
        }
        if (checkpointed()) {
            vgg.backwardFrom(netBacking.view(3, t.h(), t.w()), tileLayers, sources, dNet);
        } else {
            vgg.backwardFrom(sources, dNet);
        }
        forwarded = null; // the backward clobbered the activations
        preprocess.backward(dNet, dRgb);
        acc.copyRegionFrom(gradOut, t.y0(), t.x0(), 0, 0, t.h(), t.w());
        vectors.axpy(1f, dRgb, acc);
        gradOut.copyRegionFrom(acc, 0, 0, t.y0(), t.x0(), t.h(), t.w());
    }

    @Override
    public void close() {
        if (tail != null) {
            tail.close();
            boundaryBacking.close();
            dBoundary.close();
        }
        vgg.close();
        for (ContentTerm c : content) {
            for (ClBuffer b : c.targets()) {
                if (b != null) {
                    b.close();
                }
            }
        }
        for (StyleTerm s : style) {
            s.target().close();
            s.g().close();
            s.dg().close();
            s.tileGram().close();
        }
        coreBacking.close();
        coreGradBacking.close();
        rgbBacking.close();
        netBacking.close();
        dNetBacking.close();
        dRgbBacking.close();
        results.close();
        tileResults.close();
    }
}
