package org.clstyle.loss;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClContext;
import org.clstyle.nn.DeviceNetwork;
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
     * that fits; both 0: untiled. {@code devices}: how many devices share the tiles (the budget is each
     * one's); with several, every tile runs the whole network (the shards have no whole-image part).
     */
    public record Tiling(int tile, long maxDeviceBytes, int devices) {
        public static final Tiling NONE = new Tiling(0, 0);

        public Tiling {
            if (tile < 0 || maxDeviceBytes < 0 || devices < 1) {
                throw new IllegalArgumentException("tiling: tile " + tile + ", budget " + maxDeviceBytes + ", devices " + devices);
            }
        }

        public Tiling(int tile, long maxDeviceBytes) {
            this(tile, maxDeviceBytes, 1);
        }

        /** The same on {@code n} devices. */
        public Tiling onDevices(int n) {
            return new Tiling(tile, maxDeviceBytes, n);
        }
    }

    /**
     * The decision: tile core (0: untiled), the estimated device bytes of the loss, one line saying so, and
     * the node after which pass 1 keeps every tile's outputs (null: none; {@link TiledLossFunction#keepAfter}),
     * the pools after which the network keeps every tile's checkpoints and runs in segments (empty:
     * none; {@link TiledLossFunction#checkpoint}), and the pool up to which the tiles run, the later layers on
     * the whole image (null: none; the {@link TiledLossFunction} constructor's wholeAfter).
     */
    public record Plan(int tile, long estimateBytes, String description, String keepAfter, List<String> checkpoints,
            String wholeAfter) {
        public Plan(int tile, long estimateBytes, String description) {
            this(tile, estimateBytes, description, null, List.of(), null);
        }

        public boolean tiled() {
            return tile > 0;
        }
    }

    /**
     * The share of an iteration's work that is the network's forward (the rest: the backward to the image,
     * as many multiply-adds). Only the ratio of modelled costs matters: which plan does less work.
     */
    private static final double FORWARD_SHARE = 0.5;

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
            Mode mode = Mode.PLAIN;
            if (tiling.maxDeviceBytes() > 0 && !taps.isEmpty()) {
                // A budget beside --tile: of the ways to run these tiles that fit it, the least work; when the plain
                // way does not fit, the smallest estimate.
                double best = Double.MAX_VALUE;
                long smallest = Long.MAX_VALUE;
                for (Mode m : modes(network, taps, styleLayers, tiling.devices())) {
                    long e = estimate(network, taps, contentLayers, styleLayers, h, w, styleHW, tiling.tile(), m) + otherBytes;
                    double cost = work(network, taps, m.grid(network, taps, h, w, tiling.tile()), m);
                    boolean fits = e <= tiling.maxDeviceBytes();
                    if (fits ? cost < best : best == Double.MAX_VALUE && e < smallest) {
                        if (fits) {
                            best = cost;
                        }
                        smallest = Math.min(smallest, e);
                        mode = m;
                        est = e - otherBytes;
                    }
                }
            }
            return new Plan(tiling.tile(), est + otherBytes, "tiled: " + describe(network, taps, h, w, tiling.tile(), mode) + mode.text()
                    + ", about " + MemoryEstimate.format(est + otherBytes) + " of device memory (estimate)", mode.keepAfter(),
                    mode.checkpoints(), mode.wholeAfter());
        }
        // Untiled: the image (every tap) or a style image (style layers only) sets the network's plan.
        long untiled = taps.isEmpty() ? 0 : MemoryEstimate.untiled(network, taps, contentLayers, styleLayers, h, w, styleHW);
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
        // (Kept outputs and checkpoints add per tile: with the smallest cores the plain way takes the least.)
        long smallest = estimate(network, taps, contentLayers, styleLayers, h, w, styleHW, align, Mode.PLAIN) + otherBytes;
        if (smallest > budget) {
            throw new TilingException("--max-device-memory " + MemoryEstimate.format(budget) + " is too small for " + w + "x" + h
                    + ": even tiles of " + align + " px need about " + MemoryEstimate.format(smallest)
                    + (otherBytes > 0 ? " (" + MemoryEstimate.format(otherBytes) + " of it the optimiser's state)" : ""));
        }
        // Of every mode (modes()) and core size whose estimate fits, the plan with the least modelled work.
        int tile = 0;
        Mode mode = Mode.PLAIN;
        long est = 0;
        double best = Double.MAX_VALUE;
        // Every core size (in alignment units, largest first: among equal work the larger core wins) whose
        // grid differs from the last one tried; the estimate with kept outputs is not monotone in the core
        // (small cores multiply the halos kept), so each is checked.
        int side = Math.max(h, w); // the longest side of the image and the style images (each is tiled on its own grid)
        for (int[] s : styleHW) {
            side = Math.max(side, Math.max(s[0], s[1]));
        }
        int units = (side + align - 1) / align;
        List<Mode> modes = modes(network, taps, styleLayers, tiling.devices());
        Map<Mode, String> lastGrid = new HashMap<>();
        for (int u = units; u >= 1; u--) {
            long base = -1; // the plain estimate of this core size, made when a mode needs it
            for (Mode k : modes) {
                TileGrid grid = k.grid(network, taps, h, w, u * align);
                String shape = grid.toString();
                if (shape.equals(lastGrid.put(k, shape))) {
                    continue;
                }
                double cost = work(network, taps, grid, k);
                if (cost >= best) {
                    continue;
                }
                long e;
                if (k.wholeAfter() != null) {
                    e = estimate(network, taps, contentLayers, styleLayers, h, w, styleHW, u * align, k) + otherBytes;
                } else {
                    if (base < 0) {
                        base = tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, u * align);
                    }
                    e = base + delta(network, taps, grid, k) + otherBytes;
                }
                if (e <= budget) {
                    best = cost;
                    tile = u * align;
                    mode = k;
                    est = e;
                }
            }
        }
        return new Plan(tile, est, "tiled to fit --max-device-memory " + MemoryEstimate.format(budget) + " (untiled about "
                + MemoryEstimate.format(untiled + otherBytes) + "): " + describe(network, taps, h, w, tile, mode) + mode.text() + ", about "
                + MemoryEstimate.format(est) + " (estimate)", mode.keepAfter(), mode.checkpoints(), mode.wholeAfter());
    }

    /**
     * How a tiled loss runs its tiles: plainly (pass 2 recomputes each tile's forward), keeping each
     * tile's outputs after a node between the passes, the network in segments from each tile's
     * checkpoints, or the tiles only up to a pool and the later layers on the whole image.
     */
    record Mode(String keepAfter, List<String> checkpoints, String wholeAfter) {
        static final Mode PLAIN = new Mode(null, List.of(), null);

        Mode(String keepAfter, List<String> checkpoints) {
            this(keepAfter, checkpoints, null);
        }

        /** The grid of an h x w image's tiles in this mode: the halo rule for the deepest layer the tiles run to. */
        TileGrid grid(Network network, List<String> taps, int h, int w, int tile) {
            return TileGrid.forLayers(network, tileLayers(network, taps), h, w, tile);
        }

        /** Of {@code layers}, those the tiles run to ({@link TiledLossFunction#tileLayers(Network, List, String)}). */
        List<String> tileLayers(Network network, List<String> layers) {
            return TiledLossFunction.tileLayers(network, layers, wholeAfter);
        }

        String text() {
            if (wholeAfter != null) {
                return ", the tiles only up to " + wholeAfter + " and the layers after it on the whole image";
            }
            if (!checkpoints.isEmpty()) {
                return ", the network run in segments from each tile's checkpoints after " + String.join(", ", checkpoints);
            }
            return keepAfter == null ? "" : ", keeping each tile's outputs after " + keepAfter + " between the passes";
        }
    }

    /**
     * The modes to consider: plain; with style terms (two passes), keeping the outputs after each pool
     * before the deepest layer, or the tiles only up to each of those pools (the rest whole); and running from
     * checkpoints after any set of those pools. The system properties {@code clstyle.tile.keep=none},
     * {@code clstyle.tile.whole=none} and {@code clstyle.tile.checkpoint=none} leave those out (to compare with
     * the plain way, e.g. in benches).
     */
    private static List<Mode> modes(Network network, List<String> taps, List<String> styleLayers, int devices) {
        List<Mode> out = new ArrayList<>();
        out.add(Mode.PLAIN);
        if (taps.isEmpty()) {
            return out;
        }
        List<String> pools = MemoryEstimate.poolsBeforeDeepest(network, taps);
        if (!styleLayers.isEmpty() && !"none".equals(System.getProperty("clstyle.tile.keep"))) {
            for (String k : pools) {
                out.add(new Mode(k, List.of()));
            }
        }
        if (!styleLayers.isEmpty() && devices == 1 && !"none".equals(System.getProperty("clstyle.tile.whole"))) {
            for (String k : pools) {
                out.add(new Mode(null, List.of(), k));
            }
        }
        if (!"none".equals(System.getProperty("clstyle.tile.checkpoint"))) {
            for (int subset = 1; subset < 1 << pools.size(); subset++) { // every nonempty set of pools, in forward order
                List<String> b = new ArrayList<>();
                for (int k = 0; k < pools.size(); k++) {
                    if ((subset & 1 << k) != 0) {
                        b.add(pools.get(k));
                    }
                }
                out.add(new Mode(null, List.copyOf(b)));
            }
        }
        return out;
    }

    /** The tiled estimate in {@code mode}. */
    private static long estimate(Network network, List<String> taps, List<String> contentLayers, List<String> styleLayers,
            int h, int w, List<int[]> styleHW, int tile, Mode mode) {
        if (mode.wholeAfter() != null) {
            int[] r = mode.grid(network, taps, h, w, tile).largestRegion();
            for (int[] s : styleLayers.isEmpty() ? List.<int[]>of() : styleHW) {
                int[] sr = mode.grid(network, styleLayers, s[0], s[1], tile).largestRegion();
                r = (long) sr[0] * sr[1] > (long) r[0] * r[1] ? sr : r;
            }
            return MemoryEstimate.whole(network, taps, contentLayers, styleLayers, h, w, r[0], r[1], styleHW, mode.wholeAfter());
        }
        return tiledEstimate(network, taps, contentLayers, styleLayers, h, w, styleHW, tile)
                + delta(network, taps, TileGrid.forLayers(network, taps, h, w, tile), mode);
    }

    /**
     * What {@code mode} adds to the plain estimate on {@code grid} (negative: saves). The style images' grids
     * run in the same mode in one slot: the image's estimate bounds them.
     */
    private static long delta(Network network, List<String> taps, TileGrid grid, Mode mode) {
        if (!mode.checkpoints().isEmpty()) {
            return MemoryEstimate.checkpointed(network, taps, grid, mode.checkpoints());
        }
        return mode.keepAfter() == null ? 0 : MemoryEstimate.kept(network, taps, grid, mode.keepAfter());
    }

    /**
     * Modelled work of one tiled evaluation (in pixel-iterations: an untiled image of n pixels is n): every
     * tile region forward and backward, plus pass 2's recomputed forward for every tile but the last, of
     * only the part up to the kept node when the rest is kept (its share of the forward's work); from
     * checkpoints, the last tile's forward too. With the tiles only up to a pool, they do that share of the
     * work ({@code grid} is then the tiles' grid), and the whole image the rest once.
     */
    static double work(Network network, List<String> taps, TileGrid grid, Mode mode) {
        if (mode.wholeAfter() != null) {
            double share = forwardShare(network, taps, mode.wholeAfter());
            List<TileGrid.Tile> tiles = grid.tiles();
            double sum = 0;
            for (int i = 0; i < tiles.size(); i++) {
                double area = (double) tiles.get(i).h() * tiles.get(i).w();
                sum += area * share * (1 + (i == tiles.size() - 1 ? 0 : FORWARD_SHARE));
            }
            return sum + (double) grid.height() * grid.width() * (1 - share);
        }
        double recompute = mode.keepAfter() == null ? 1 : forwardShare(network, taps, mode.keepAfter());
        List<TileGrid.Tile> tiles = grid.tiles();
        double sum = 0;
        for (int i = 0; i < tiles.size(); i++) {
            double area = (double) tiles.get(i).h() * tiles.get(i).w();
            boolean reused = i == tiles.size() - 1 && mode.checkpoints().isEmpty();
            sum += area * (1 + (reused ? 0 : FORWARD_SHARE * recompute));
        }
        return sum;
    }

    /**
     * Multiply-adds that one activation element written costs as much as, in the work model: memory-bound
     * stages (ReLU, pool, the shallow layers' wide transforms) cost more than their arithmetic. Fitted to
     * the per-layer times of {@code clstyle bench} at 1024 px on PoCL (the forward to pool1, pool2, pool3,
     * pool4 measured 22%, 42%, 72%, 98% of the network's forward; this model gives 24%, 42%, 73%, 98%;
     * multiply-adds alone 11%, 26%, 62%, 97%). GPUs have more arithmetic per byte, so there the model
     * undervalues keeping shallow outputs a little; the plan only compares candidates.
     */
    private static final double ELEMENT_COST = 400;

    /** The share of the forward's work (to the deepest tap) in the nodes up to {@code node}: multiply-adds and elements written. */
    static double forwardShare(Network network, List<String> taps, String node) {
        int end = network.indexOf(network.deepest(taps)), upTo = network.indexOf(node);
        double area = 1, all = 0, part = 0; // per input pixel
        int channels = network.inputChannels();
        for (int i = 0; i <= end; i++) {
            org.clstyle.nn.Layer l = network.nodes().get(i).layer();
            double cost = 0;
            if (l instanceof org.clstyle.nn.Layer.Conv2d c) {
                area /= (double) c.stride() * c.stride();
                cost = (double) c.inChannels() * c.outChannels() * c.kernel() * c.kernel() * area;
                channels = c.outChannels();
            } else if (l instanceof org.clstyle.nn.Layer.Pool2d p) {
                area /= (double) p.size() * p.size();
            }
            cost += ELEMENT_COST * channels * area;
            all += cost;
            if (i <= upTo) {
                part += cost;
            }
        }
        return all == 0 ? 1 : part / all;
    }

    private static String describe(Network network, List<String> taps, int h, int w, int tile, Mode mode) {
        return taps.isEmpty() ? "no network layer read" : mode.grid(network, taps, h, w, tile).toString();
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
     * that there are at least as many tiles as devices), dealt by the devices' speed. One context:
     * {@link #create(Plan, ClContext, VggWeights, Recipe, float[], int, int, List, List, boolean)}.
     */
    public static ImageLoss create(Plan plan, List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb,
            int h, int w, List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients) {
        return create(plan, contexts, weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients,
                DeviceNetwork.Storage.FLOAT);
    }

    /** As above with the loss network's activations stored as {@code storage} (half: one device, untiled). */
    public static ImageLoss create(Plan plan, List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb,
            int h, int w, List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients, DeviceNetwork.Storage storage) {
        checkStorage(storage, plan.tiled(), contexts.size());
        if (contexts.size() == 1) {
            return create(plan, contexts.get(0), weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients, storage);
        }
        if (normalizeGradients) {
            throw new TilingException("--normalize-gradients cannot be combined with several devices (they evaluate the loss in tiles)");
        }
        if (plan.wholeAfter() != null) {
            throw new IllegalArgumentException("LossFactory.create: a plan with the layers after " + plan.wholeAfter()
                    + " whole runs on one device; plan for " + contexts.size() + " devices (Tiling.onDevices)");
        }
        int tile = plan.tiled() ? plan.tile() : (Math.max(h, w) + contexts.size() - 1) / contexts.size();
        return new ShardedTiledLoss(contexts, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, plan.keepAfter(),
                plan.checkpoints());
    }

    /** The loss the plan says: {@link LossFunction} or {@link TiledLossFunction}. */
    public static ImageLoss create(Plan plan, ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients) {
        return create(plan, ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients, DeviceNetwork.Storage.FLOAT);
    }

    /**
     * As above with the loss network's activations stored as {@code storage}; {@link DeviceNetwork.Storage#HALF}
     * only untiled (the tiled loss's boundary and kept copies are float only).
     */
    public static ImageLoss create(Plan plan, ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients, DeviceNetwork.Storage storage) {
        checkStorage(storage, plan.tiled(), 1);
        if (plan.tiled()) {
            if (normalizeGradients) {
                throw new TilingException("--normalize-gradients cannot be combined with tiled evaluation");
            }
            if (plan.wholeAfter() != null) {
                return new TiledLossFunction(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, plan.tile(), plan.wholeAfter());
            }
            return new TiledLossFunction(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, plan.tile(), plan.keepAfter(),
                    plan.checkpoints());
        }
        return new LossFunction(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients, storage);
    }

    /**
     * Refuses half storage for a loss that is evaluated in tiles ({@code tiled}) or shared by several devices
     * (their shards are tiles too): the tiled loss's boundary and kept copies are float only. The one check
     * behind every command's refusal; a TilingException with {@link #HALF_TILED}.
     */
    public static void checkStorage(DeviceNetwork.Storage storage, boolean tiled, int devices) {
        if (storage == DeviceNetwork.Storage.HALF && (tiled || devices > 1)) {
            throw new TilingException(HALF_TILED);
        }
    }

    /** Why half storage is refused with tiles. */
    private static final String HALF_TILED = "--storage half cannot be combined with tiled evaluation yet (--tile, --max-device-memory"
            + " when it tiles, or several devices)";
}
