package org.clstyle.transfer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClException;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.VectorOps;
import org.clstyle.optim.Adam;
import org.clstyle.optim.Lbfgs;
import org.clstyle.optim.Objective;
import org.clstyle.optim.Projection;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;
import org.clstyle.weights.WeightsFetcher;

/**
 * The style-transfer loop: reads the images and weights, resolves the recipe (weights' defaults, then
 * --recipe, then the single-value flags), and optimises the image on the device scale by scale.
 *
 * <p>Scales (--scales N): the image goes from the final size / 2^(N-1) up to the final size, doubling
 * each scale, and every scale runs --iterations iterations; each finer scale starts from the coarser
 * result upsampled bilinearly (jcjohnson's multi-resolution recipe; crowsonkb's sqrt(2) steps would
 * need twice as many scales for the same range, and the coarse scales are cheap either way). The
 * content image is resized from the original for each scale; style images are resized so that their
 * longest side is --style-scale times the current scale's longest side.
 *
 * <p>Every device buffer (loss network, optimiser state, the image and a copy of the last good image)
 * is allocated once per scale, before its iterations; the loop itself allocates nothing on the device.
 *
 * <p>Stopping: {@link #requestStop()} (also called by a shutdown hook on Ctrl-C, which then waits for
 * the run to finish writing) ends the loop after the current iteration and the last good image is
 * written. A non-finite loss also stops the run, keeping the image from before that step.
 */
public final class Stylizer {
    /** The outcome of a run. */
    public record Result(FloatImage image, Path output, int iterations, LossValues loss, String stopReason,
            boolean interrupted) {}

    private final StylizeSettings s;
    private final ProgressListener listener;
    private volatile boolean stopRequested;
    private boolean halted; // the loss went non-finite: no further scales
    private final CountDownLatch finished = new CountDownLatch(1);
    private Augmentation augmentation = Augmentation.NONE; // resolved per run: the flags, else the recipe's
    private SplittableRandom augmentRng;                    // one stream of views over all scales
    private IterationLog log;                               // --log-json, or null

    public Stylizer(StylizeSettings settings, ProgressListener listener) {
        this.s = settings;
        this.listener = listener == null ? ProgressListener.NONE : listener;
    }

    /** Asks the loop to stop after the current iteration; the last good image is still written. */
    public void requestStop() {
        stopRequested = true;
    }

    /** Runs to the end (or a stop) and writes the output file. */
    public Result run() throws StylizeException {
        Thread hook = null;
        if (s.installShutdownHook()) {
            hook = new Thread(() -> {
                requestStop();
                try {
                    finished.await(120, TimeUnit.SECONDS); // let the loop write the last good image
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }, "clstyle-stop");
            Runtime.getRuntime().addShutdownHook(hook);
        }
        try {
            return runInner();
        } finally {
            finished.countDown();
            if (hook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // the JVM is shutting down: the hook is running and has just been released
                }
            }
        }
    }

    /** The weights file in effect: --weights, else the cached converted default. */
    public static Path resolveWeights(Path given) throws StylizeException {
        if (given != null) {
            return given;
        }
        Path cache = WeightsFetcher.defaultCacheDir();
        Optional<Path> p = WeightsFetcher.cachedDefault(cache);
        if (p.isEmpty()) {
            throw new StylizeException(WeightsFetcher.missingWeightsMessage(cache));
        }
        return p.get();
    }

    /** The recipe in effect for these weights: defaults, then --recipe, then the single-value flags. */
    public static Recipe resolveRecipe(StylizeSettings s, VggWeights weights) {
        Recipe r = Recipe.defaultsFor(weights.preprocessing());
        if (s.recipe() != null) {
            r = Recipe.load(s.recipe(), r);
        }
        Recipe.Builder b = r.toBuilder();
        if (s.contentWeight() != null) b.contentWeight(s.contentWeight());
        if (s.styleWeight() != null) b.styleWeight(s.styleWeight());
        if (s.tvWeight() != null) b.tvWeight(s.tvWeight());
        if (s.contentLayers() != null) b.contentLayers(s.contentLayers());
        if (s.styleLayers() != null) b.styleLayers(s.styleLayers());
        if (s.loss() != null) {
            b.contentLoss(s.loss());
            b.styleLoss(s.loss());
        }
        if (s.gram() != null) b.gram(s.gram());
        if (s.pooling() != null) b.pooling(s.pooling());
        if (s.styleBlend() != null) b.styleBlend(s.styleBlend());
        return b.build();
    }

    private Result runInner() throws StylizeException {
        try {
            Images.checkWritable(s.output());
        } catch (ImageException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        FloatImage content = null;
        List<FloatImage> styles = new ArrayList<>();
        FloatImage initImage = null;
        String init = s.effectiveInit();
        try {
            if (s.content() != null) {
                content = Images.read(s.content(), listener::onNote);
            }
            for (Path p : s.styles()) {
                styles.add(Images.read(p, listener::onNote));
            }
            if (!init.equals("content") && !init.equals("noise")) {
                initImage = Images.read(Path.of(init), listener::onNote);
            }
        } catch (ImageException e) {
            throw new StylizeException(e.getMessage(), e);
        }

        Path weightsFile = resolveWeights(s.weights());
        VggWeights weights;
        try {
            weights = VggWeights.load(weightsFile);
        } catch (WeightsException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        Recipe recipe;
        try {
            recipe = resolveRecipe(s, weights);
        } catch (IllegalArgumentException e) {
            throw new StylizeException(e.getMessage(), e);
        }

        // Final size, and the sizes of the scales (coarse to fine).
        int finalW, finalH;
        if (content != null) {
            int[] wh = Images.scaledSize(content.width(), content.height(), s.size());
            finalW = wh[0];
            finalH = wh[1];
        } else if (s.width() > 0) {
            finalW = s.width();
            finalH = s.height();
        } else {
            finalW = s.size();
            finalH = s.size();
        }
        int scales = s.scales();
        int[][] sizes = new int[scales][];
        for (int k = 0; k < scales; k++) {
            double f = Math.pow(2, scales - 1 - k);
            sizes[k] = new int[] {Math.max(1, (int) Math.round(finalW / f)), Math.max(1, (int) Math.round(finalH / f))};
            if (Math.min(sizes[k][0], sizes[k][1]) < StylizeSettings.MIN_SIDE) {
                throw new StylizeException("--size " + s.size() + (scales > 1 ? " with --scales " + scales : "")
                        + ": a " + sizes[k][0] + "x" + sizes[k][1] + " image is too small (sides of at least "
                        + StylizeSettings.MIN_SIDE + " px; the content's aspect ratio decides the short side)");
            }
        }

        try {
            augmentation = resolveAugmentation(s);
        } catch (IllegalArgumentException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        augmentRng = new SplittableRandom(augmentation.seed());
        if (augmentation.enabled()) {
            listener.onNote("augmenting every step: " + augmentation.describe(finalW, finalH)
                    + (s.optimizer() == StylizeSettings.Optimizer.LBFGS ? "; " + LBFGS_AUGMENT_NOTE : ""));
        }
        log = s.logJson() == null ? null : IterationLog.open(s.logJson(), recipe);

        ClDevice device;
        try {
            device = ClDevice.select(s.device());
        } catch (IllegalArgumentException | ClException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        int viewPad = augmentation.enabled() ? augmentation.pad(finalW, finalH) : 0;
        checkMemory(device, weights, finalW + 2 * viewPad, finalH + 2 * viewPad);

        long t0 = System.nanoTime();
        int total = scales * s.iterations();
        int done = 0;
        FloatImage current = null;
        LossValues last = null;
        String stopReason = null;
        try (ClContext ctx = new ClContext(device, false)) {
            for (int k = 0; k < scales && !stopRequested && !halted; k++) {
                int w = sizes[k][0], h = sizes[k][1];
                listener.onScaleStart(k + 1, scales, w, h, s.iterations());
                FloatImage contentK = content == null ? null : Images.resize(content, w, h);
                List<float[]> styleData = new ArrayList<>();
                List<int[]> styleHW = new ArrayList<>();
                int styleSide = Math.max(StylizeSettings.MIN_SIDE, (int) Math.round(Math.max(w, h) * s.styleScale()));
                for (FloatImage st : styles) {
                    FloatImage r = Images.fitLongestSide(st, styleSide);
                    if (Math.min(r.width(), r.height()) < StylizeSettings.MIN_SIDE) {
                        r = Images.resize(r, Math.max(r.width(), StylizeSettings.MIN_SIDE),
                                Math.max(r.height(), StylizeSettings.MIN_SIDE));
                    }
                    styleData.add(r.data());
                    styleHW.add(new int[] {r.height(), r.width()});
                }
                FloatImage start;
                if (k > 0) {
                    start = Images.resize(current, w, h);
                } else if (init.equals("content")) {
                    start = contentK;
                } else if (init.equals("noise")) {
                    start = noise(w, h, s.seed());
                } else {
                    start = Images.resize(initImage, w, h);
                }
                ScaleOutcome o = runScale(ctx, weights, recipe, contentK, styleData, styleHW, start, k, sizes, done,
                        total, t0);
                done = o.done;
                current = o.image;
                last = o.loss == null ? last : o.loss;
                stopReason = o.stopReason;
            }
        } catch (ClException e) {
            if (e.isOutOfMemory()) {
                throw new StylizeException("not enough memory on " + device.label() + " for a " + finalW + "x" + finalH
                        + " image (" + e.call() + ": " + e.errorName() + "); try a smaller --size", e);
            }
            throw new StylizeException(e.getMessage(), e);
        } catch (OutOfMemoryError e) {
            throw new StylizeException("out of Java heap memory for a " + finalW + "x" + finalH
                    + " image; try a smaller --size (or raise -Xmx through CLSTYLE_JAVA_OPTS)", e);
        } finally {
            if (log != null) {
                log.writeOrNote(listener);
            }
        }
        boolean interrupted = stopRequested;
        if (current == null) {
            throw new StylizeException("stopped before the first iteration; no image written");
        }
        FloatImage out = finish(current, content);
        try {
            Images.write(out, s.output());
        } catch (ImageException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        if (interrupted) {
            listener.onNote("stopped at iteration " + done + " of " + total + "; wrote the last image to " + s.output());
        }
        return new Result(out, s.output(), done, last, stopReason, interrupted);
    }

    private FloatImage finish(FloatImage img, FloatImage content) {
        return s.originalColors() && content != null ? Images.transferLuminance(img, content) : img;
    }

    private record ScaleOutcome(FloatImage image, int done, LossValues loss, String stopReason) {}

    private ScaleOutcome runScale(ClContext ctx, VggWeights weights, Recipe recipe, FloatImage contentK,
            List<float[]> styleData, List<int[]> styleHW, FloatImage start, int k, int[][] sizes, int doneBefore,
            int total, long t0) throws StylizeException {
        int w = sizes[k][0], h = sizes[k][1];
        int done = doneBefore;
        LossValues[] last = new LossValues[1];
        String stopReason = null;
        ImageOps imageOps = new ImageOps(ctx);
        VectorOps vectors = new VectorOps(ctx);
        Projection clamp = x -> imageOps.clamp(x, 0f, 1f);
        int[] shape = {3, h, w};
        int finalW = sizes[sizes.length - 1][0], finalH = sizes[sizes.length - 1][1];
        int pad = (int) Math.round(augmentation.pad(finalW, finalH) * (double) w / finalW);
        AugmentedView view = augmentation.enabled()
                ? new AugmentedView(ctx, augmentation, w, h, pad, augmentation.shift() * w / finalW, augmentRng) : null;
        if (view == null) {
            pad = 0;
        }
        // The network sees the image through each step's view, padded by P pixels of its own reflection;
        // the content target is reflected into the same border. The optimised image stays [3, H, W].
        FloatImage lossContent = contentK == null || pad == 0 ? contentK : AugmentedView.padReflect(contentK, pad);
        try (AugmentedView augmented = view;
                LossFunction loss = new LossFunction(ctx, weights, recipe, lossContent == null ? null : lossContent.data(),
                        h + 2 * pad, w + 2 * pad,
                        styleData, styleHW, s.normalizeGradients());
                ClBuffer x = ctx.buffer(start.data(), shape);          // [3, H, W] the image being optimised
                ClBuffer lastGood = ctx.buffer(shape);                  // [3, H, W] the last image with a finite loss
                Lbfgs lbfgs = s.optimizer() == StylizeSettings.Optimizer.LBFGS
                        ? new Lbfgs(ctx, shape, Lbfgs.Options.defaults().withLr(s.effectiveLr())
                                .withLineSearch(s.lineSearch() ? Lbfgs.LineSearch.STRONG_WOLFE : Lbfgs.LineSearch.NONE),
                                s.iterations(), clamp)
                        : null;
                Adam adam = s.optimizer() == StylizeSettings.Optimizer.ADAM
                        ? new Adam(ctx, shape, Adam.Options.withLr(s.effectiveLr()), clamp) : null;
                ClBuffer stepDiff = log == null ? null : ctx.buffer(shape)) {
            Objective lossObjective = (xb, gb) -> {
                LossValues v = loss.evaluate(xb, gb);
                last[0] = v;
                return v.total();
            };
            double[] gradNorm = {Double.NaN};
            Objective warped = augmented == null ? lossObjective : augmented.wrap(lossObjective);
            Objective objective = log == null ? warped : (xb, gb) -> {
                double v = warped.evaluate(xb, gb);
                gradNorm[0] = Math.sqrt(vectors.dot(gb, gb));
                return v;
            };
            clamp.apply(x);
            vectors.copy(x, lastGood);
            long scaleStart = System.nanoTime();
            for (int i = 1; i <= s.iterations(); i++) {
                if (stopRequested) {
                    break;
                }
                double value;
                String converged = null;
                if (augmented != null) {
                    augmented.next();
                }
                if (lbfgs != null) {
                    Lbfgs.Step st = lbfgs.step(x, objective);
                    value = st.loss();
                    converged = st.stopReason();
                } else {
                    value = adam.step(x, objective);
                }
                if (!Double.isFinite(value)) {
                    stopReason = "the loss became " + value + " at iteration " + (done + 1);
                    listener.onNote(stopReason + "; keeping the image from before that step");
                    halted = true;
                    break;
                }
                double stepNorm = Double.NaN;
                if (log != null) {
                    vectors.copy(x, stepDiff);
                    vectors.axpy(-1f, lastGood, stepDiff);
                    stepNorm = Math.sqrt(vectors.dot(stepDiff, stepDiff));
                }
                vectors.copy(x, lastGood);
                done++;
                long now = System.nanoTime();
                double perIter = (now - scaleStart) / 1e9 / i;
                double eta = perIter * (s.iterations() - i);
                for (int j = k + 1; j < sizes.length; j++) {
                    eta += perIter * s.iterations() * ((double) sizes[j][0] * sizes[j][1]) / ((double) w * h);
                }
                listener.onIteration(new ProgressListener.Progress(k + 1, sizes.length, w, h, done, total, last[0],
                        Duration.ofNanos(now - t0), Duration.ofMillis((long) (eta * 1000))));
                if (log != null) {
                    log.add(k + 1, w, h, done, (now - t0) / 1e9, last[0], gradNorm[0], stepNorm, s.effectiveLr(),
                            augmented == null ? null : augmented.drawn());
                }
                if (s.saveEvery() > 0 && done % s.saveEvery() == 0 && done < total) {
                    FloatImage snap = finish(new FloatImage(w, h, lastGood.read()), contentK);
                    Path file = numbered(s.output(), done);
                    try {
                        Images.write(snap, file);
                    } catch (ImageException e) {
                        throw new StylizeException(e.getMessage(), e);
                    }
                    listener.onImageSaved(done, snap, file);
                }
                if (converged != null) {
                    stopReason = converged;
                    listener.onNote("L-BFGS stopped at iteration " + done + ": " + converged);
                    break;
                }
            }
            return new ScaleOutcome(new FloatImage(w, h, lastGood.read()), done, last[0], stopReason);
        }
    }

    /**
     * How L-BFGS copes with a stochastic objective: it does not. Its history pairs y = g(x_k+1) - g(x_k)
     * come from two different views, so the curvature is noise; resetting the history each step leaves
     * only its tiny first step (lr * min(1, 1/|g|_1)), and holding a view for 10 or 50 steps measured
     * worse than Adam (README, Augmentation). So the run goes on, with this warning.
     */
    static final String LBFGS_AUGMENT_NOTE = "L-BFGS's curvature pairs mix two different views every step, so its "
            + "loss swings by orders of magnitude (measured, see README); use --optimizer adam with --augment";

    /** The augmentation in effect: the flags' (StylizeSettings.augmentation), else the recipe file's, else none. */
    static Augmentation resolveAugmentation(StylizeSettings s) {
        if (s.augmentation() != null) {
            return s.augmentation();
        }
        Augmentation fromRecipe = s.recipe() == null ? null : Augmentation.fromRecipe(s.recipe());
        return fromRecipe == null ? Augmentation.NONE : fromRecipe;
    }

    /** out.png -> out_120.png: the intermediate image of iteration 120. */
    static Path numbered(Path output, int iteration) {
        String name = output.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String numbered = name.substring(0, dot) + "_" + iteration + name.substring(dot);
        return output.resolveSibling(numbered);
    }

    /** Uniform noise in [0,1) from {@code seed}: the same seed gives the same start on any device. */
    static FloatImage noise(int w, int h, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] d = new float[3 * w * h];
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) r.nextDouble();
        }
        return new FloatImage(w, h, d);
    }

    /**
     * Fails early, naming the size, when the largest buffer (the first convolution's output, Cout x H x W
     * floats) exceeds the device's per-allocation limit or a rough total exceeds its memory.
     */
    private void checkMemory(ClDevice device, VggWeights weights, int w, int h) throws StylizeException {
        long pixels = (long) w * h;
        long c1 = weights.outChannels("conv1_1");
        long largest = c1 * pixels * Float.BYTES;
        long maxAlloc = device.maxAllocBytes();
        long global = device.globalMemBytes();
        if (s.deviceMemoryLimit() > 0) {
            maxAlloc = Math.min(maxAlloc, s.deviceMemoryLimit());
            global = Math.min(global, s.deviceMemoryLimit());
        }
        // Activations and their gradients down the network are about 4x conv1_1's output; the optimiser
        // keeps 3 (Adam) or 3 + 2 min(100, iterations) image-sized vectors.
        long optimiserVectors = s.optimizer() == StylizeSettings.Optimizer.ADAM ? 3 : 3 + 2L * Math.min(100, s.iterations());
        long estimate = 4 * largest + (optimiserVectors + 4) * 3 * pixels * Float.BYTES;
        if (3 * pixels > Integer.MAX_VALUE / 2 || largest > maxAlloc || estimate > global) {
            throw new StylizeException(String.format(
                    "--size %d: a %dx%d image needs about %s of device memory (%s in one buffer) but %s has %s (%s per buffer); try a smaller --size",
                    s.texture() && s.width() > 0 ? Math.max(s.width(), s.height()) : s.size(), w, h, human(estimate),
                    human(largest), device.name().trim(), human(global), human(maxAlloc)));
        }
    }

    private static String human(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format("%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format("%.0f MiB", bytes / (double) (1L << 20));
    }
}
