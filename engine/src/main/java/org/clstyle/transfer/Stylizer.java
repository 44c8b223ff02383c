package org.clstyle.transfer;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
import org.clstyle.loss.ImageLoss;
import org.clstyle.loss.LossFactory;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;
import org.clstyle.loss.ShardedTiledLoss;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.VectorOps;
import org.clstyle.optim.Adam;
import org.clstyle.optim.Lbfgs;
import org.clstyle.optim.Objective;
import org.clstyle.optim.Projection;
import org.clstyle.weights.VggArchitecture;
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
    private volatile boolean paused;
    private final Object pauseLock = new Object();
    private String nonFinite; // the loss went non-finite: what happened and what to lower; no further scales
    private final CountDownLatch finished = new CountDownLatch(1);
    private Augmentation augmentation = Augmentation.NONE; // resolved per run: the flags, else the recipe's
    private SplittableRandom augmentRng;                    // one stream of views over all scales
    private IterationLog log;                               // --log-json, or null
    private int deviceCount = 1;                            // devices sharing the loss's tiles (--device A,B)

    public Stylizer(StylizeSettings settings, ProgressListener listener) {
        this.s = settings;
        this.listener = listener == null ? ProgressListener.NONE : listener;
    }

    /** Asks the loop to stop after the current iteration; the last good image is still written. */
    public void requestStop() {
        stopRequested = true;
        synchronized (pauseLock) {
            pauseLock.notifyAll();
        }
    }

    /**
     * Pauses ({@code true}) or resumes the loop: a paused run waits before its next iteration, keeping
     * its device buffers, until resumed or stopped.
     */
    public void setPaused(boolean pause) {
        synchronized (pauseLock) {
            paused = pause;
            pauseLock.notifyAll();
        }
    }

    private void awaitResume() {
        synchronized (pauseLock) {
            while (paused && !stopRequested) {
                try {
                    pauseLock.wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    stopRequested = true; // an interrupted run stops like a requested stop
                }
            }
        }
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

    /** The weights file in effect: --weights, else the cached converted VGG19. */
    public static Path resolveWeights(Path given) throws StylizeException {
        return resolveWeights(given, null);
    }

    /**
     * The weights file in effect: --weights, else the cached converted file of {@code network} (a
     * preset's network, "vgg16" or "vgg19"; null means VGG19).
     */
    public static Path resolveWeights(Path given, String network) throws StylizeException {
        if (given != null) {
            return given;
        }
        Path cache = WeightsFetcher.defaultCacheDir();
        VggArchitecture a = network == null ? VggArchitecture.VGG19 : VggArchitecture.byId(network);
        if (a == null) {
            throw new IllegalArgumentException("unknown network " + network);
        }
        Path p = WeightsFetcher.cachedFile(a, cache);
        if (p == null) {
            throw new StylizeException(WeightsFetcher.missingWeightsMessage(a, cache));
        }
        return p;
    }

    /**
     * Loads converted weights; a file in one of the original formats (.pth, .caffemodel, .h5) gets a
     * message saying to convert it first instead of a complaint about its header.
     */
    public static VggWeights loadWeights(Path file) throws StylizeException {
        try {
            return VggWeights.load(file);
        } catch (WeightsException e) {
            String original = originalFormat(file);
            if (original != null) {
                throw new StylizeException("--weights " + file + " is " + original + ", not converted weights: convert it first"
                        + " with `clstyle weights convert " + file + " -o vgg19.safetensors` and pass --weights vgg19.safetensors", e);
            }
            throw new StylizeException(e.getMessage(), e);
        }
    }

    /** "a PyTorch .pth file" etc. when {@code file} is in an original (unconverted) weights format, else null. */
    static String originalFormat(Path file) {
        byte[] head = new byte[8];
        int n = 0;
        try (java.io.InputStream in = java.nio.file.Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (java.io.IOException | RuntimeException e) {
            return null;
        }
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (n >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4) {
            return "a PyTorch .pth file (zip format)";
        }
        if (n >= 2 && (head[0] & 0xff) == 0x80 && head[1] >= 2 && head[1] <= 5) {
            return "a PyTorch .pth file (legacy pickle format)";
        }
        if (n >= 8 && (head[0] & 0xff) == 0x89 && head[1] == 'H' && head[2] == 'D' && head[3] == 'F') {
            return "a Keras HDF5 file";
        }
        if (name.endsWith(".pth") || name.endsWith(".pt")) {
            return "a PyTorch file";
        }
        if (name.endsWith(".caffemodel")) {
            return "a Caffe model";
        }
        return null;
    }

    /**
     * The recipe in effect for these weights: defaults, then the preset, then --recipe's keys, then the
     * single-value flags. A preset for another network than the weights' is a one-line error.
     */
    public static Recipe resolveRecipe(StylizeSettings s, VggWeights weights) {
        Recipe r = Recipe.defaultsFor(weights.preprocessing());
        if (s.preset() != null) {
            String mismatch = s.preset().networkMismatch(weights.architecture().id(), s.weights() != null ? s.weights() : "the cached weights file");
            if (mismatch != null) {
                throw new IllegalArgumentException(mismatch);
            }
            r = s.preset().recipe(r);
        }
        if (s.recipe() != null) {
            r = Recipe.load(s.recipe(), r, false); // its "preset" is s.preset() unless --preset overrode it
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
        Map<String, Path> inputs = inputs();
        OutputGuard.refuseInputs("-o", s.output(), inputs);
        if (s.saveEvery() > 0) {
            int total = s.scales() * s.iterations();
            for (int n = s.saveEvery(); n < total; n += s.saveEvery()) {
                OutputGuard.refuseInputs("--save-every " + s.saveEvery() + ": snapshot", numbered(s.output(), n, total), inputs);
            }
        }
        try (OutputGuard guard = OutputGuard.lock("-o", s.output())) {
            return runLocked();
        }
    }

    /** Every file the run reads, by the option that names it (for refusing outputs that are inputs). */
    private Map<String, Path> inputs() {
        Map<String, Path> in = new LinkedHashMap<>();
        if (s.content() != null) {
            in.put("--content", s.content());
        }
        for (int i = 0; i < s.styles().size(); i++) {
            in.put(s.styles().size() == 1 ? "--style" : "--style #" + (i + 1), s.styles().get(i));
        }
        String init = s.effectiveInit();
        if (!init.equals("content") && !init.equals("noise")) {
            try {
                in.put("--init", initPath(init));
            } catch (ImageException ignored) {
                // reported when the image is read
            }
        }
        if (s.weights() != null) {
            in.put("--weights", s.weights());
        }
        if (s.recipe() != null) {
            in.put("--recipe", s.recipe());
        }
        return in;
    }

    private Result runLocked() throws StylizeException {
        FloatImage content = null;
        List<FloatImage> styles = new ArrayList<>();
        FloatImage initImage = null;
        String init = s.effectiveInit();
        try {
            if (s.content() != null) {
                content = Images.read(s.content(), s.maxPixels(), listener::onNote);
            }
            for (Path p : s.styles()) {
                styles.add(Images.read(p, s.maxPixels(), listener::onNote));
            }
            if (!init.equals("content") && !init.equals("noise")) {
                initImage = Images.read(initPath(init), s.maxPixels(), listener::onNote);
            }
        } catch (ImageException e) {
            throw new StylizeException(e.getMessage(), e);
        }

        Path weightsFile = resolveWeights(s.weights(), s.preset() == null ? null : s.preset().network());
        VggWeights weights = loadWeights(weightsFile);
        Recipe recipe;
        try {
            recipe = resolveRecipe(s, weights);
        } catch (IllegalArgumentException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        if (!recipe.styleBlend().isEmpty() && recipe.styleBlend().size() != s.styles().size()) {
            String from = s.styleBlend() != null ? "--style-blend" : s.recipe() + ": style_blend";
            throw new StylizeException(from + " has " + recipe.styleBlend().size() + " weight"
                    + (recipe.styleBlend().size() == 1 ? "" : "s") + " for " + s.styles().size() + " --style image"
                    + (s.styles().size() == 1 ? "" : "s"));
        }
        if (recipe.style().layers().isEmpty() && (s.texture() || recipe.content().layers().isEmpty())) {
            throw new StylizeException((s.styleLayers() != null || s.recipe() == null ? "--style-layers" : s.recipe() + ": style.layers")
                    + " is empty" + (s.texture() ? "" : " and so is the content's") + ": the run would only smooth the image"
                    + " (total variation); name at least one layer, e.g. relu1_1,relu2_1,relu3_1,relu4_1,relu5_1");
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

        List<ClDevice> devices;
        try {
            devices = ClDevice.selectList(s.device());
            deviceCount = devices.size();
            if (devices.size() > 1) {
                org.clstyle.loss.TileDealer.forcedSpeeds(devices.size()); // a bad -Dclstyle.device.speeds refused here
            }
            LossFactory.checkStorage(s.storage(), false, devices.size()); // several devices: refused before any work
        } catch (IllegalArgumentException | ClException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        if (devices.size() > 1 && s.normalizeGradients()) {
            throw new StylizeException("--normalize-gradients cannot be combined with several devices (they evaluate the"
                    + " loss in tiles, and it divides each term's gradient by its L1 norm over the whole layer)");
        }
        ClDevice device = devices.get(0); // holds the image and the optimiser; every device evaluates tiles
        long[] styleWh = largestStyle(styles, finalW, finalH);
        int viewPad = augmentation.enabled() ? augmentation.pad(finalW, finalH) : 0; // the network sees the padded view
        if (tilingRequested()) {
            // The loss is planned against the budget (or tiled as asked) at the final size; the plan throws
            // when even the smallest tiles do not fit.
            lossPlan(weights, recipe, content != null, finalW + 2 * viewPad, finalH + 2 * viewPad,
                    List.of(new int[] {(int) styleWh[1], (int) styleWh[0]}), finalW, finalH);
        } else if (devices.size() == 1) {
            checkMemory(device, weights, finalW + 2 * viewPad, finalH + 2 * viewPad, styleWh);
        } // several devices: the loss runs in tiles, one tile's network per device


        long t0 = System.nanoTime();
        int total = scales * s.iterations();
        int done = 0;
        int imageIteration = 0; // iterations behind the image in current (0: no result yet)
        FloatImage current = null;
        LossValues last = null;
        String stopReason = null;
        List<ClContext> contexts = new ArrayList<>();
        try (ClContext ctx = new ClContext(device, false)) {
            contexts.add(ctx);
            for (ClDevice d : devices.subList(1, devices.size())) {
                contexts.add(new ClContext(d, false));
            }
            for (int k = 0; k < scales && !stopRequested && nonFinite == null; k++) {
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
                ScaleOutcome o = runScale(contexts, weights, recipe, contentK, styleData, styleHW, start, k, sizes, done,
                        total, t0);
                done = o.done;
                current = o.image;
                imageIteration = o.imageIteration;
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
            for (int i = contexts.size() - 1; i >= 1; i--) { // the other devices' contexts, in reverse order
                contexts.get(i).close();
            }
            if (log != null) {
                log.writeOrNote(listener);
            }
        }
        boolean interrupted = stopRequested;
        if (imageIteration == 0 || current == null) {
            // Nothing was optimised: the start image (the resized content, or noise) is no result.
            if (nonFinite != null) {
                throw new StylizeException(nonFinite + "; nothing written");
            }
            listener.onNote("stopped before the first iteration finished; nothing written");
            return new Result(null, null, 0, null, "stopped before the first iteration", true);
        }
        FloatImage out = finish(current, content);
        try {
            Images.write(out, s.output());
        } catch (ImageException e) {
            throw new StylizeException(nonFinite != null ? nonFinite + "; the last finite image could not be written: "
                    + e.getMessage() : e.getMessage(), e);
        }
        if (nonFinite != null) {
            throw new StylizeException(nonFinite + "; wrote the last finite image (iteration " + imageIteration + ") to "
                    + s.output());
        }
        if (interrupted) {
            listener.onNote("stopped at iteration " + imageIteration + " of " + total + "; wrote the last image to " + s.output());
        }
        return new Result(out, s.output(), imageIteration, last, stopReason, interrupted);
    }

    private FloatImage finish(FloatImage img, FloatImage content) {
        return s.originalColors() && content != null ? Images.transferLuminance(img, content) : img;
    }

    /**
     * A scale's result: {@code image} is the last image known to be finite, the result of
     * {@code imageIteration} iterations over all scales (0: the start image of the first scale, no result).
     */
    private record ScaleOutcome(FloatImage image, int done, LossValues loss, String stopReason, int imageIteration) {}

    private ScaleOutcome runScale(List<ClContext> contexts, VggWeights weights, Recipe recipe, FloatImage contentK,
            List<float[]> styleData, List<int[]> styleHW, FloatImage start, int k, int[][] sizes, int doneBefore,
            int total, long t0) throws StylizeException {
        int w = sizes[k][0], h = sizes[k][1];
        ClContext ctx = contexts.get(0);
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
        LossFactory.Plan plan = tilingRequested()
                ? lossPlan(weights, recipe, contentK != null, w + 2 * pad, h + 2 * pad, styleHW, w, h)
                : new LossFactory.Plan(0, 0, "untiled");
        if (tilingRequested()) {
            listener.onNote("scale " + (k + 1) + " (" + w + "x" + h + "): " + plan.description());
        }
        if (contexts.size() > 1 && k == 0) {
            listener.onNote("the loss's tiles shared by " + contexts.size() + " devices: "
                    + contexts.stream().map(c -> c.device().label()).collect(java.util.stream.Collectors.joining(", ")));
        }
        try (AugmentedView augmented = view;
                ImageLoss loss = LossFactory.create(plan, contexts, weights, recipe,
                        lossContent == null ? null : lossContent.data(), h + 2 * pad, w + 2 * pad,
                        styleData, styleHW, s.normalizeGradients(), s.storage());
                ClBuffer x = ctx.buffer(start.data(), shape);          // [3, H, W] the image being optimised
                ClBuffer lastGood = ctx.buffer(shape);                  // [3, H, W] the last image with a finite loss
                ClBuffer preStep = ctx.buffer(shape);                   // [3, H, W] Adam: x before its step
                Lbfgs lbfgs = s.optimizer() == StylizeSettings.Optimizer.LBFGS
                        ? new Lbfgs(ctx, shape, Lbfgs.Options.defaults().withLr(s.effectiveLr()).withHistory(s.lbfgsHistory())
                                .withLineSearch(s.lineSearch() ? Lbfgs.LineSearch.STRONG_WOLFE : Lbfgs.LineSearch.NONE),
                                s.iterations(), clamp)
                        : null;
                Adam adam = s.optimizer() == StylizeSettings.Optimizer.ADAM
                        ? new Adam(ctx, shape, Adam.Options.withLr(s.effectiveLr()), clamp) : null;
                ClBuffer stepDiff = log == null ? null : ctx.buffer(shape)) {
            if (loss instanceof ShardedTiledLoss sharded) {
                listener.onNote("scale " + (k + 1) + " (" + w + "x" + h + "): " + sharded.split());
            }
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
            int goodIteration = doneBefore; // lastGood is the result of this many iterations (the start image: 0 at scale 1)
            long scaleStart = System.nanoTime();
            long iterationStart = scaleStart;
            for (int i = 1; i <= s.iterations(); i++) {
                awaitResume();
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
                    vectors.copy(x, preStep);
                    value = adam.step(x, objective); // the loss of the image before the step
                }
                if (!Double.isFinite(value)) {
                    nonFinite = "the loss became " + value + " at iteration " + (done + 1) + "; " + whatToLower(recipe, weights);
                    stopReason = nonFinite;
                    break;
                }
                double stepNorm = Double.NaN;
                if (log != null) {
                    vectors.copy(x, stepDiff);
                    vectors.axpy(-1f, lbfgs != null ? lastGood : preStep, stepDiff); // the image before this step
                    stepNorm = Math.sqrt(vectors.dot(stepDiff, stepDiff));
                }
                if (lbfgs != null) {
                    vectors.copy(x, lastGood); // L-BFGS reports the loss after its step
                    goodIteration = done + 1;
                } else {
                    vectors.copy(preStep, lastGood); // Adam's finite loss vouches for the image it started from
                    goodIteration = done;
                }
                done++;
                long now = System.nanoTime();
                double perIter = (now - scaleStart) / 1e9 / i;
                double eta = perIter * (s.iterations() - i);
                for (int j = k + 1; j < sizes.length; j++) {
                    eta += perIter * s.iterations() * ((double) sizes[j][0] * sizes[j][1]) / ((double) w * h);
                }
                listener.onIteration(new ProgressListener.Progress(k + 1, sizes.length, w, h, done, total, last[0],
                        weighted(recipe, last[0]), Duration.ofNanos(now - t0), Duration.ofMillis((long) (eta * 1000))));
                if (log != null) {
                    log.add(k + 1, w, h, done, (now - t0) / 1e9, last[0], gradNorm[0], stepNorm, s.effectiveLr(),
                            augmented == null ? null : augmented.drawn());
                }
                if (done == 2 && i == 2) {
                    // The estimate from the second iteration alone: the first also builds kernels (once).
                    double second = (now - iterationStart) / 1e9;
                    double est = second * (s.iterations() - i);
                    for (int j = k + 1; j < sizes.length; j++) {
                        est += second * s.iterations() * ((double) sizes[j][0] * sizes[j][1]) / ((double) w * h);
                    }
                    if (est > LONG_RUN_SECONDS) {
                        listener.onNote(longRunNote(est, second, w, h));
                    }
                }
                iterationStart = now;
                int previewEvery = listener.previewEvery();
                if (previewEvery > 0 && done % previewEvery == 0 && done < total) {
                    listener.onPreview(done, finish(new FloatImage(w, h, lastGood.read()), contentK));
                }
                if (s.saveEvery() > 0 && done % s.saveEvery() == 0 && done < total) {
                    FloatImage snap = finish(new FloatImage(w, h, lastGood.read()), contentK);
                    Path file = numbered(s.output(), done, total);
                    OutputGuard.refuseInputs("--save-every", file, inputs());
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
            if (adam != null && nonFinite == null && done > goodIteration) {
                // Adam's last step has no loss yet: keep its image if it is finite, else the one before.
                float[] after = x.read();
                if (allFinite(after)) {
                    return new ScaleOutcome(new FloatImage(w, h, after), done, last[0], stopReason, done);
                }
            }
            return new ScaleOutcome(new FloatImage(w, h, lastGood.read()), done, last[0], stopReason, goodIteration);
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

    /**
     * The augmentation in effect: the flags' (StylizeSettings.augmentation), else the recipe file's, else
     * the practical preset's (medium: the article's scaled-down Feature Visualization strengths), else none.
     */
    static Augmentation resolveAugmentation(StylizeSettings s) {
        if (s.augmentation() != null) {
            return s.augmentation();
        }
        Augmentation fromRecipe = s.recipe() == null ? null : Augmentation.fromRecipe(s.recipe());
        if (fromRecipe != null) {
            return fromRecipe;
        }
        return s.preset() == org.clstyle.loss.Preset.PRACTICAL ? Augmentation.parse("--preset practical", "medium")
                : Augmentation.NONE;
    }

    private static boolean allFinite(float[] v) {
        for (float f : v) {
            if (!Float.isFinite(f)) {
                return false;
            }
        }
        return true;
    }

    /** The terms of {@code v} as they enter the total (see {@link ProgressListener.Progress}). */
    static ProgressListener.Weighted weighted(Recipe r, LossValues v) {
        if (v == null) {
            return null;
        }
        double c = 0, st = 0;
        for (Map.Entry<String, Double> e : v.content().entrySet()) {
            c += r.content().layers().getOrDefault(e.getKey(), 0.0) * e.getValue();
        }
        for (Map.Entry<String, Double> e : v.style().entrySet()) {
            st += r.style().layers().getOrDefault(e.getKey(), 0.0) * e.getValue();
        }
        return new ProgressListener.Weighted(r.content().weight() * c, r.style().weight() * st, r.tv().weight() * v.tv());
    }

    /** The --init image's path; a name this system cannot represent is a one-line error. */
    static Path initPath(String init) throws ImageException {
        try {
            return Path.of(init);
        } catch (java.nio.file.InvalidPathException e) {
            throw new ImageException("--init: '" + init + "' is not a file name this system can represent (" + e.getReason() + ")");
        }
    }

    /**
     * out.png -> out_0120.png: the intermediate image of iteration 120 of {@code total}, zero-padded to
     * the digits of the total so that the snapshots sort in iteration order.
     */
    static Path numbered(Path output, int iteration, int total) {
        String name = output.getFileName().toString();
        int dot = name.lastIndexOf('.');
        int digits = String.valueOf(Math.max(1, total)).length();
        String n = String.format(Locale.ROOT, "%0" + digits + "d", iteration);
        return output.resolveSibling(name.substring(0, dot) + "_" + n + name.substring(dot));
    }

    /** Estimated runs longer than this get a note with the estimate after the second iteration (the first also builds kernels). */
    static final double LONG_RUN_SECONDS = 120;

    /** "this run will take about 18 min ...; --size 256 would take about 4 min". */
    String longRunNote(double etaSeconds, double perIteration, int w, int h) {
        String note = String.format(Locale.ROOT, "this run will take about %s more (%.2f s per iteration at %dx%d, measured"
                + " on the second iteration)", duration(etaSeconds), perIteration, w, h);
        int half = (s.texture() && s.width() > 0 ? Math.max(s.width(), s.height()) : s.size()) / 2;
        boolean halfFits = s.texture() && s.width() > 0
                ? Math.min(s.width(), s.height()) / 2 >= StylizeSettings.MIN_SIDE
                : Math.min(w, h) / 2 >= StylizeSettings.MIN_SIDE;
        if (halfFits) {
            // The time per iteration is about proportional to the pixel count.
            String smaller = s.texture() && s.width() > 0 ? s.width() / 2 + "x" + s.height() / 2 : String.valueOf(half);
            note += "; --size " + smaller + " would take about " + duration(etaSeconds / 4) + ", fewer --iterations less";
        }
        return note;
    }

    private static String duration(double seconds) {
        long sec = Math.round(seconds);
        if (sec < 90) {
            return sec + " s";
        }
        if (sec < 5400) {
            return Math.round(sec / 60.0) + " min";
        }
        return String.format(Locale.ROOT, "%.1f h", sec / 3600.0);
    }

    /**
     * What to lower after a non-finite loss: the weight furthest above its default for these weights
     * (a weight that large overflows float32), else the step size.
     */
    private String whatToLower(Recipe recipe, VggWeights weights) {
        Recipe d = Recipe.defaultsFor(weights.preprocessing());
        double[] ratio = {
            recipe.content().weight() / d.content().weight(),
            recipe.style().weight() / d.style().weight(),
            recipe.tv().weight() / d.tv().weight()};
        String[] flag = {"--content-weight", "--style-weight", "--tv-weight"};
        double[] value = {recipe.content().weight(), recipe.style().weight(), recipe.tv().weight()};
        int worst = 0;
        for (int i = 1; i < 3; i++) {
            if (ratio[i] > ratio[worst]) {
                worst = i;
            }
        }
        if (ratio[worst] > 1e3) {
            return String.format(Locale.ROOT, "%s %.3g is too large for float32 arithmetic: lower %s (default %.4g)",
                    flag[worst], value[worst], flag[worst], value[worst] / ratio[worst]);
        }
        return String.format(Locale.ROOT, "lower --lr (now %.3g) or the weights (--style-weight, --content-weight)", s.effectiveLr());
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

    /** Whether --tile or --max-device-memory asks for a tiling plan. */
    private boolean tilingRequested() {
        return s.tile() > 0 || s.maxDeviceMemory() > 0;
    }

    /**
     * The loss plan for a lw x lh loss (the network's view, padded when augmenting) of a w x h image:
     * --tile, or the largest tiles that fit --max-device-memory together with the optimiser's state.
     */
    private LossFactory.Plan lossPlan(VggWeights weights, Recipe recipe, boolean withContent, int lw, int lh,
            List<int[]> styleHW, int w, int h) throws StylizeException {
        long pixels = (long) w * h;
        // The optimiser's vectors and the loop's own (x, the last good x, Adam's pre-step x, the log's step), [3, H, W] each.
        long vectors = (s.optimizer() == StylizeSettings.Optimizer.ADAM ? 3 : 3 + 2L * Math.min(s.lbfgsHistory(), s.iterations())
                + (s.lineSearch() ? 2 : 0)) + 4;
        LossFactory.Plan plan;
        try {
            plan = LossFactory.plan(weights, recipe, withContent, lh, lw, styleHW, s.normalizeGradients(),
                    new LossFactory.Tiling(s.tile(), s.maxDeviceMemory(), deviceCount), vectors * 3 * pixels * Float.BYTES);
        } catch (IllegalArgumentException e) {
            String hint = s.optimizer() == StylizeSettings.Optimizer.LBFGS && e instanceof LossFactory.TilingException
                    && e.getMessage().startsWith("--max-device-memory")
                    ? "; L-BFGS keeps " + vectors + " image-sized vectors (" + human(vectors * 12.0 * pixels)
                            + "): try a smaller --lbfgs-history or --optimizer adam" : "";
            throw new StylizeException(e.getMessage() + hint, e);
        }
        try {
            LossFactory.checkStorage(s.storage(), plan.tiled(), 1); // (several devices were refused at the start)
        } catch (LossFactory.TilingException e) {
            throw new StylizeException(e.getMessage() + ": --max-device-memory " + human(s.maxDeviceMemory())
                    + " needs tiles at " + lw + "x" + lh, e);
        }
        return plan;
    }

    /** The option that sets the output size, as the user gave it: "--size 512" or "--size 16x100000". */
    private String sizeOption() {
        return "--size " + (s.texture() && s.width() > 0 ? s.width() + "x" + s.height() : String.valueOf(s.size()));
    }

    /**
     * The largest style image after resizing (its longest side --style-scale times the output's), in
     * 64-bit arithmetic; a size no array can hold is refused naming --style-scale, or --size when the
     * scale is 1 (the output's size is then what made it large).
     */
    private long[] largestStyle(List<FloatImage> styles, int finalW, int finalH) throws StylizeException {
        double sideD = Math.max(StylizeSettings.MIN_SIDE, Math.rint(Math.max(finalW, finalH) * s.styleScale()));
        long[] largest = {0, 0};
        for (FloatImage st : styles) {
            long sw, sh;
            if (st.width() >= st.height()) {
                sw = (long) sideD;
                sh = Math.max(1, Math.round((double) st.height() * sideD / st.width()));
            } else {
                sh = (long) sideD;
                sw = Math.max(1, Math.round((double) st.width() * sideD / st.height()));
            }
            sw = Math.max(sw, StylizeSettings.MIN_SIDE);
            sh = Math.max(sh, StylizeSettings.MIN_SIDE);
            if (sideD > Integer.MAX_VALUE || (double) sw * sh > Images.HARD_MAX_PIXELS) {
                throw new StylizeException(String.format(Locale.ROOT,
                        "%s: the style images would be resized to %.0fx%.0f (%.3g megapixels; their longest side is"
                                + " --style-scale %s times the output's), more than any device can hold; %s",
                        blameForStyle(), (double) sw, (double) sh, (double) sw * sh / 1e6, fmt(s.styleScale()),
                        s.styleScale() != 1 ? "try a smaller --style-scale" : "try a smaller --size (or a --style-scale below 1)"));
            }
            if (sw * sh > largest[0] * largest[1]) {
                largest = new long[] {sw, sh};
            }
        }
        return largest;
    }

    private String blameForStyle() {
        return s.styleScale() != 1 ? "--style-scale " + fmt(s.styleScale()) : sizeOption();
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? String.valueOf((long) v) : String.valueOf(v);
    }

    /**
     * Fails early, naming the option at fault, when the largest buffer (the first convolution's output,
     * Cout x H x W floats, of the output image or of the largest resized style image) exceeds the device's
     * per-allocation limit or a rough total exceeds its memory. All in 64-bit arithmetic.
     */
    private void checkMemory(ClDevice device, VggWeights weights, int w, int h, long[] styleWh) throws StylizeException {
        long pixels = (long) w * h;
        long stylePixels = styleWh[0] * styleWh[1];
        long c1 = weights.outChannels("conv1_1");
        long maxAlloc = device.maxAllocBytes();
        long global = device.globalMemBytes();
        if (s.deviceMemoryLimit() > 0) {
            maxAlloc = Math.min(maxAlloc, s.deviceMemoryLimit());
            global = Math.min(global, s.deviceMemoryLimit());
        }
        // Activations and their gradients down the network are about 4x conv1_1's output; the optimiser
        // keeps 3 (Adam) or 3 + 2 min(history, iterations) image-sized vectors. Each style image runs the
        // network forward once, at its own size.
        long optimiserVectors = s.optimizer() == StylizeSettings.Optimizer.ADAM ? 3 : 3 + 2L * Math.min(s.lbfgsHistory(), s.iterations());
        double largestD = (double) c1 * Math.max(pixels, stylePixels) * Float.BYTES;
        double imageEstimate = 4.0 * c1 * pixels * Float.BYTES + (optimiserVectors + 4.0) * 3 * pixels * Float.BYTES;
        double styleEstimate = 2.0 * c1 * stylePixels * Float.BYTES;
        double estimate = Math.max(imageEstimate, styleEstimate);
        if (largestD > maxAlloc || estimate > global || 3 * pixels > Integer.MAX_VALUE / 2) {
            boolean styleAtFault = styleEstimate > imageEstimate || (double) c1 * stylePixels * Float.BYTES > maxAlloc;
            String what = styleAtFault
                    ? String.format(Locale.ROOT, "%s: the style images resized to %dx%d need", blameForStyle(), styleWh[0], styleWh[1])
                    : String.format(Locale.ROOT, "%s: a %dx%d image needs", sizeOption(), w, h);
            throw new StylizeException(String.format(Locale.ROOT,
                    "%s about %s of device memory (%s in one buffer) but %s has %s (%s per buffer); try a smaller %s",
                    what, human(estimate), human(largestD), device.name().trim(), human(global), human(maxAlloc),
                    styleAtFault && s.styleScale() != 1 ? "--style-scale" : "--size"));
        }
    }

    private static String human(double bytes) {
        if (bytes >= 1L << 40) {
            return String.format(Locale.ROOT, "%.1f TiB", bytes / (double) (1L << 40));
        }
        if (bytes >= 1L << 30) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1L << 20));
    }
}
