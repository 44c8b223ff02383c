package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.weights.VggWeights;

/**
 * The tiled loss ({@link TiledLossFunction}) with its tiles dealt to several contexts (one per device)
 * in proportion to their speed, each with its own network, buffers and content targets for its tiles,
 * running at once on its own thread; the Grams and the image gradient are reduced on the host. The
 * image and its gradient live on the first context (the optimiser's). Per evaluate: the image is copied
 * to the other devices; pass 1 on every device; the Gram parts summed on the host and written back to
 * every device, where each computes the same style values and d style / d G; pass 2 on every device;
 * the gradients summed on the host into the first device's buffer, which then adds total variation. A
 * device waits on another only at the two reductions.
 *
 * <p><b>The split.</b> Once, when the loss is made: every shard builds its network and style targets
 * (at once), then each device in turn times a forward of the grid's largest tile region
 * ({@link TiledLossFunction#forwardSeconds}: the least of three, after an untimed one), its speed that
 * region's area over the time (the backward is taken to scale alike); {@link TileDealer#deal} gives each tile to a device so that the predicted finishing times
 * (area over speed) are as even as the tiles allow (a slow device may get none, and then only copies
 * the image and takes part in the reductions); then each device builds the content targets of its
 * tiles. The system property {@value TileDealer#SPEEDS_PROPERTY} forces the speeds instead of timing
 * them. {@link #split()} says which tiles went where.
 *
 * <p>The values and gradient equal the one-device tiled loss's up to float rounding, and the rounding
 * depends on the split: each device sums its tiles' Gram parts and gradients in float on the device,
 * the host sums the devices' parts (in double), so another split sums in another order.
 */
public final class ShardedTiledLoss implements ImageLoss {
    private final List<ClContext> contexts;
    private final List<TiledLossFunction> shards = new ArrayList<>();
    private final List<ClBuffer> images = new ArrayList<>();   // [3, H, W] per shard (the first: null, the caller's)
    private final List<ClBuffer> grads = new ArrayList<>();    // [3, H, W] per shard
    private TotalVariationLoss tv;
    private ClBuffer tvResult;                                  // [1] on the first context
    private final Recipe recipe;
    private final int h, w;
    private final ExecutorService pool;
    private String split = "";
    private int[] owner;                                        // per tile of the grid: the shard that evaluates it
    private int[] active;                                       // the shards that take part in evaluate: the first and those with tiles

    /**
     * As {@link TiledLossFunction}'s constructor, one shard per context; the first context holds the
     * image. The tiles are dealt by the speeds {@value TileDealer#SPEEDS_PROPERTY} gives, else by the
     * measured ones.
     */
    public ShardedTiledLoss(List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile) {
        this(contexts, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, null, List.of());
    }

    /**
     * As above, every device keeping its own tiles' outputs after {@code keepAfter} between the passes
     * (null: none) or running the network from each tile's checkpoints, as {@link
     * TiledLossFunction#TiledLossFunction(ClContext, VggWeights, Recipe, float[], int, int, List, List, int, String, List)}.
     */
    public ShardedTiledLoss(List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, String keepAfter, List<String> checkpoints) {
        this(contexts, weights, recipe, contentRgb, h, w, styleRgb, styleHW, tile, keepAfter, checkpoints,
                TileDealer.forcedSpeeds(contexts.size())); // a bad value refused before anything is made
    }

    /** As above with the devices' speeds given (one per context, relative), or null to measure them. */
    ShardedTiledLoss(List<ClContext> contexts, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, int tile, String keepAfter, List<String> checkpoints, double[] forced) {
        if (contexts.isEmpty()) {
            throw new IllegalArgumentException("ShardedTiledLoss needs at least one context");
        }
        if (forced != null && forced.length != contexts.size()) {
            throw new IllegalArgumentException(forced.length + " speeds for " + contexts.size() + " contexts");
        }
        this.contexts = List.copyOf(contexts);
        this.recipe = recipe;
        this.h = h;
        this.w = w;
        this.pool = Executors.newFixedThreadPool(contexts.size(), r -> {
            Thread t = new Thread(r, "clstyle-shard");
            t.setDaemon(true);
            return t;
        });
        try {
            List<Future<TiledLossFunction>> made = new ArrayList<>();
            for (int k = 0; k < contexts.size(); k++) {
                int shard = k;
                made.add(pool.submit(() -> new TiledLossFunction(contexts.get(shard), weights, recipe, contentRgb, h, w,
                        styleRgb, styleHW, tile, -1, null, keepAfter, checkpoints, null)));
            }
            RuntimeException failed = null;
            for (Future<TiledLossFunction> f : made) {
                try {
                    shards.add(get(f)); // every one collected, so that close() frees the ones made
                } catch (RuntimeException e) {
                    failed = failed == null ? e : failed;
                }
            }
            if (failed != null) {
                throw failed;
            }
            for (int k = 0; k < contexts.size(); k++) {
                images.add(k == 0 ? null : contexts.get(k).buffer(3, h, w));
                grads.add(contexts.get(k).buffer(3, h, w));
            }
            List<TileGrid.Tile> tiles = shards.get(0).grid().tiles();
            long[] areas = tiles.stream().mapToLong(t -> (long) t.h() * t.w()).toArray();
            double[] speeds = forced;
            String how = "speeds forced";
            if (speeds == null) {
                speeds = measuredSpeeds(areas);
                how = shards.get(0).readsNetwork() ? "measured" : "not measured: no network layer read";
            }
            int[] owner = TileDealer.deal(areas, speeds);
            this.owner = owner;
            this.active = IntStream.range(0, contexts.size()).toArray();
            runAll(k -> {
                shards.get(k).own(i -> owner[i] == k);
                return null;
            });
            this.active = IntStream.range(0, contexts.size())
                    .filter(k -> k == 0 || Arrays.stream(owner).anyMatch(o -> o == k)).toArray();
            this.split = tiles.size() + " tile" + (tiles.size() == 1 ? "" : "s") + " dealt by speed (" + how + "): "
                    + TileDealer.describe(areas, speeds, owner);
            this.tv = new TotalVariationLoss(contexts.get(0), recipe.tv().kind());
            this.tvResult = contexts.get(0).buffer(1);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    @Override
    public LossValues evaluate(ClBuffer image, ClBuffer gradOut) {
        ImageLoss.checkShapes("ShardedTiledLoss.evaluate", image, gradOut, h, w);
        if (active.length > 1) {
            float[] x = image.read();
            for (int k : active) {
                if (k > 0) {
                    images.get(k).write(x);
                }
            }
        }
        boolean network = shards.get(0).readsNetwork();
        double[] contentSum = null;
        if (network) {
            // Pass 1 everywhere, then the Grams reduced on the host.
            List<double[]> parts = runAll(k -> shards.get(k).forwardPass(imageOf(k, image)));
            contentSum = new double[parts.get(0).length];
            for (double[] p : parts) {
                for (int i = 0; i < p.length; i++) {
                    contentSum[i] += p[i];
                }
            }
            float[] global = sum(runAll(k -> shards.get(k).grams()));
            runAll(k -> {
                TiledLossFunction s = shards.get(k);
                s.setGrams(global);
                s.styleTerms(gradOut != null);
                return null;
            });
            if (gradOut != null) {
                gradOut.write(sum(runAll(k -> {
                    ClBuffer gk = grads.get(k);
                    shards.get(k).clear(gk);
                    shards.get(k).backwardPass(imageOf(k, image), gk);
                    return gk.read();
                })));
            }
        } else if (gradOut != null) {
            gradOut.write(new float[3 * h * w]);
        }
        tv.forward(image, tvResult, 0);
        if (gradOut != null && recipe.tv().weight() != 0) {
            tv.backward(image, (float) recipe.tv().weight(), gradOut, true);
        }
        float[] raw = network ? shards.get(0).results() : new float[recipe.content().layers().size() + recipe.style().layers().size() + 1];
        return shards.get(0).values(contentSum == null ? new double[0] : contentSum, raw, tvResult.read(0));
    }

    /** The element-wise sum of the devices' parts (equal lengths), taken in double in shard order. */
    private static float[] sum(List<float[]> parts) {
        float[] out = new float[parts.get(0).length];
        for (int i = 0; i < out.length; i++) {
            double v = 0;
            for (float[] p : parts) {
                v += p[i];
            }
            out[i] = (float) v;
        }
        return out;
    }

    /**
     * Each device's speed (largest tile region's area per second of its forward), the devices timed one
     * after another so that devices sharing hardware (PoCL's CPU devices) do not slow each other's
     * timing; equal speeds when the loss reads no network layer.
     */
    private double[] measuredSpeeds(long[] areas) {
        double[] speeds = new double[shards.size()];
        long largest = Arrays.stream(areas).max().orElse(1);
        for (int k = 0; k < shards.size(); k++) {
            ClBuffer probe = grads.get(k); // [3, H, W], not yet used: zeros for the timed forward
            shards.get(k).clear(probe);
            double s = shards.get(k).forwardSeconds(probe, 3);
            speeds[k] = s > 0 ? largest / s : 1;
        }
        return speeds;
    }

    /**
     * Which tiles each device evaluates, one line: how the speeds were obtained, then per device its
     * tiles, their share of the area and its speed relative to the fastest.
     */
    public String split() {
        return split;
    }

    /** Per tile of the grid (by index), the shard (context) that evaluates it. */
    int[] owners() {
        return owner.clone();
    }

    private ClBuffer imageOf(int k, ClBuffer image) {
        return k == 0 ? image : images.get(k);
    }

    /** Runs {@code task} for every active shard, each on its own thread, and returns the results in shard order. */
    private <T> List<T> runAll(ShardTask<T> task) {
        List<Future<T>> futures = new ArrayList<>();
        for (int shard : active) {
            futures.add(pool.submit((Callable<T>) () -> task.run(shard)));
        }
        List<T> out = new ArrayList<>();
        for (Future<T> f : futures) {
            out.add(get(f));
        }
        return out;
    }

    @FunctionalInterface
    private interface ShardTask<T> {
        T run(int shard);
    }

    private static <T> T get(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the devices ran the loss", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    @Override
    public Recipe recipe() { return recipe; }

    @Override
    public int height() { return h; }

    @Override
    public int width() { return w; }

    @Override
    public void close() {
        shards.forEach(TiledLossFunction::close);
        images.forEach(b -> {
            if (b != null) {
                b.close();
            }
        });
        grads.forEach(ClBuffer::close);
        if (tvResult != null) {
            tvResult.close();
        }
        pool.shutdownNow();
    }
}
