package org.clstyle.transfer;

import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clstyle.loss.Preset;
import org.clstyle.loss.Recipe;
import org.clstyle.nn.DeviceNetwork;
import org.clstyle.vgg.Pooling;

/**
 * Everything a {@link Stylizer} run needs, validated on {@link Builder#build()} with one-line messages
 * that name the command-line option. Null recipe fields mean "the recipe's value" (the weights'
 * defaults, or the --recipe file over them). {@code content == null} is texture synthesis: no content
 * term, the output {@code width} x {@code height} (or {@code size} square). {@code preset} is the one in
 * effect (--preset, else the recipe file's "preset", else null); its optimiser and start image apply
 * where --optimizer and --init are not given.
 */
public record StylizeSettings(
        Path content,
        List<Path> styles,
        Path output,
        Path weights,
        String device,
        Path recipe,
        Preset preset,
        Double contentWeight,
        Double styleWeight,
        Double tvWeight,
        Map<String, Double> contentLayers,
        Map<String, Double> styleLayers,
        Recipe.LossKind loss,
        Recipe.GramNorm gram,
        Pooling pooling,
        List<Double> styleBlend,
        int iterations,
        Optimizer optimizer,
        Double lr,
        boolean lineSearch,
        int size,
        int width,
        int height,
        double styleScale,
        String init,
        long seed,
        boolean originalColors,
        int scales,
        boolean normalizeGradients,
        int saveEvery,
        boolean installShutdownHook,
        long deviceMemoryLimit,
        int tile,
        long maxDeviceMemory,
        long maxPixels,
        int lbfgsHistory,
        Augmentation augmentation,
        Path logJson,
        DeviceNetwork.Storage storage) {

    /** The optimiser: L-BFGS (PyTorch's, fixed step 1 unless line search) or Adam. */
    public enum Optimizer {
        LBFGS, ADAM;

        public static Optimizer parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "lbfgs", "l-bfgs" -> LBFGS;
                case "adam" -> ADAM;
                default -> throw new IllegalArgumentException("--optimizer: '" + s + "' is not lbfgs or adam");
            };
        }
    }

    public static final int DEFAULT_SIZE = 512;
    public static final int DEFAULT_ITERATIONS = 500;
    /** Adam's default step on the [0,1] image (jcjohnson's 10 on 0-255 is ~0.04; 0.02 is steadier). */
    public static final double DEFAULT_ADAM_LR = 0.02;
    /** Smallest side a scale may have: VGG19 pools five times. */
    public static final int MIN_SIDE = 16;
    /** L-BFGS history (PyTorch's history_size, jcjohnson's -lbfgs_num_correction). */
    public static final int DEFAULT_LBFGS_HISTORY = 100;

    public boolean texture() { return content == null; }

    /** The learning rate in effect: --lr, else 1 for L-BFGS (PyTorch's and Torch's) and 0.02 for Adam. */
    public double effectiveLr() {
        return lr != null ? lr : optimizer == Optimizer.LBFGS ? 1.0 : DEFAULT_ADAM_LR;
    }

    /** "content", "noise", or an image path. */
    public String effectiveInit() {
        return init != null ? init : texture() ? "noise" : "content";
    }

    public static Builder builder() { return new Builder(); }

    public Builder toBuilder() { return new Builder(this); }

    /** Mutable settings; {@link #build()} validates. */
    public static final class Builder {
        private Path content;
        private List<Path> styles = List.of();
        private Path output;
        private Path weights;
        private String device;
        private Path recipe;
        private Preset preset;
        private Double contentWeight, styleWeight, tvWeight;
        private Map<String, Double> contentLayers, styleLayers;
        private Recipe.LossKind loss;
        private Recipe.GramNorm gram;
        private Pooling pooling;
        private List<Double> styleBlend;
        private int iterations = DEFAULT_ITERATIONS;
        private Optimizer optimizer; // null: the preset's, else L-BFGS
        private Double lr;
        private boolean lineSearch;
        private int size = DEFAULT_SIZE;
        private int width, height;
        private double styleScale = 1.0;
        private String init;
        private long seed;
        private boolean originalColors;
        private int scales = 1;
        private boolean normalizeGradients;
        private int saveEvery;
        private boolean installShutdownHook = true;
        private long deviceMemoryLimit;
        private int tile;               // --tile: core side of the tiled evaluation; 0 untiled
        private long maxDeviceMemory;   // --max-device-memory in bytes; 0 none
        private long maxPixels = org.clstyle.image.Images.DEFAULT_MAX_PIXELS;
        private int lbfgsHistory = DEFAULT_LBFGS_HISTORY;
        private Augmentation augmentation; // null: the recipe file's "augment", else none
        private Path logJson;
        private DeviceNetwork.Storage storage = DeviceNetwork.Storage.FLOAT;

        Builder() { }

        Builder(StylizeSettings s) {
            content = s.content; styles = s.styles; output = s.output; weights = s.weights; device = s.device;
            recipe = s.recipe; preset = s.preset; contentWeight = s.contentWeight; styleWeight = s.styleWeight; tvWeight = s.tvWeight;
            contentLayers = s.contentLayers; styleLayers = s.styleLayers; loss = s.loss; gram = s.gram;
            pooling = s.pooling; styleBlend = s.styleBlend; iterations = s.iterations; optimizer = s.optimizer;
            lr = s.lr; lineSearch = s.lineSearch; size = s.size; width = s.width; height = s.height;
            styleScale = s.styleScale; init = s.init; seed = s.seed; originalColors = s.originalColors;
            scales = s.scales; normalizeGradients = s.normalizeGradients; saveEvery = s.saveEvery;
            installShutdownHook = s.installShutdownHook; deviceMemoryLimit = s.deviceMemoryLimit;
            tile = s.tile; maxDeviceMemory = s.maxDeviceMemory;
            maxPixels = s.maxPixels; lbfgsHistory = s.lbfgsHistory;
            augmentation = s.augmentation; logJson = s.logJson; storage = s.storage;
        }

        public Builder content(Path v) { content = v; return this; }
        /** --storage: how the loss network stores its activations (FLOAT, or HALF: untiled, one device). */
        public Builder storage(DeviceNetwork.Storage v) { storage = v; return this; }
        public Builder styles(List<Path> v) { styles = v == null ? List.of() : List.copyOf(v); return this; }
        public Builder output(Path v) { output = v; return this; }
        public Builder weights(Path v) { weights = v; return this; }
        public Builder device(String v) { device = v; return this; }
        public Builder recipe(Path v) { recipe = v; return this; }
        /** --preset NAME (null: the recipe file's "preset", if any). */
        public Builder preset(String v) { preset = v == null ? null : Preset.parse("--preset", v); return this; }
        public Builder preset(Preset v) { preset = v; return this; }
        public Builder contentWeight(Double v) { contentWeight = v; return this; }
        public Builder styleWeight(Double v) { styleWeight = v; return this; }
        public Builder tvWeight(Double v) { tvWeight = v; return this; }
        /** "relu4_2" or "relu3_1,relu4_1:0.5"; checked against VGG19's layer names. */
        public Builder contentLayers(String v) {
            contentLayers = v == null ? null : Recipe.layerList("--content-layers", v);
            return this;
        }
        public Builder styleLayers(String v) {
            styleLayers = v == null ? null : Recipe.layerList("--style-layers", v);
            return this;
        }
        public Builder loss(String v) { loss = v == null ? null : Recipe.lossKind("--loss", v); return this; }
        public Builder gram(String v) { gram = v == null ? null : Recipe.gramNorm("--gram", v); return this; }
        public Builder pooling(String v) { pooling = v == null ? null : Recipe.pooling("--pooling", v); return this; }
        public Builder styleBlend(List<Double> v) { styleBlend = v == null ? null : List.copyOf(v); return this; }
        public Builder iterations(int v) { iterations = v; return this; }
        public Builder optimizer(Optimizer v) { optimizer = v; return this; }
        public Builder optimizer(String v) { optimizer = v == null ? null : Optimizer.parse(v); return this; }
        public Builder lr(Double v) { lr = v; return this; }
        public Builder lineSearch(boolean v) { lineSearch = v; return this; }
        public Builder size(int v) { size = v; return this; }
        /** Texture output size; 0 x 0 means --size square. */
        public Builder textureSize(int w, int h) { width = w; height = h; return this; }
        public Builder styleScale(double v) { styleScale = v; return this; }
        public Builder init(String v) { init = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder originalColors(boolean v) { originalColors = v; return this; }
        public Builder scales(int v) { scales = v; return this; }
        public Builder normalizeGradients(boolean v) { normalizeGradients = v; return this; }
        public Builder saveEvery(int v) { saveEvery = v; return this; }
        public Builder installShutdownHook(boolean v) { installShutdownHook = v; return this; }
        /** Testing hook: treat the device as having only this many bytes (0: its own figures). */
        public Builder deviceMemoryLimit(long v) { deviceMemoryLimit = v; return this; }
        /** --tile: evaluate the loss in tiles with cores of about N px (0: untiled unless --max-device-memory says so). */
        public Builder tile(int v) { tile = v; return this; }
        /** --max-device-memory in bytes: tile when the untiled loss and the optimiser's state would exceed it (0: no budget). */
        public Builder maxDeviceMemory(long v) { maxDeviceMemory = v; return this; }
        /** Largest input image in pixels, checked from its header before decoding (--max-pixels). */
        public Builder maxPixels(long v) { maxPixels = v; return this; }
        /** L-BFGS history size (--lbfgs-history). */
        public Builder lbfgsHistory(int v) { lbfgsHistory = v; return this; }
        /** Per-step augmentation (--augment, --augment-seed, --pad-edges); null: the recipe's, else none. */
        public Builder augmentation(Augmentation v) { augmentation = v; return this; }
        /** --log-json: one JSON object per iteration into this file (null: no log). */
        public Builder logJson(Path v) { logJson = v; return this; }
        /** Applies {@code f} to this builder (lets a caller's option group set its fields in a chain). */
        public Builder apply(java.util.function.UnaryOperator<Builder> f) { return f.apply(this); }

        /** Validated settings; IllegalArgumentException with one line naming the option otherwise. */
        public StylizeSettings build() {
            Preset effectivePreset = preset != null ? preset : recipe != null ? Recipe.presetIn(recipe) : null;
            Optimizer opt = optimizer != null ? optimizer
                    : effectivePreset != null ? Optimizer.parse(effectivePreset.optimizer()) : Optimizer.LBFGS;
            String start = init != null || content == null || effectivePreset == null ? init : effectivePreset.init();
            if (styles.isEmpty()) {
                throw new IllegalArgumentException("--style: at least one style image is required");
            }
            if (output == null) {
                throw new IllegalArgumentException("-o/--output: the output file is required");
            }
            if (iterations < 1) {
                throw new IllegalArgumentException("--iterations must be at least 1, got " + iterations);
            }
            if (size < 1) {
                throw new IllegalArgumentException("--size must be a positive number of pixels, got " + size);
            }
            if (width < 0 || height < 0 || (width == 0) != (height == 0)) {
                throw new IllegalArgumentException("--size: texture size must be WxH with both positive, got "
                        + width + "x" + height);
            }
            int shortest = content == null && width > 0 ? Math.min(width, height) : size;
            if (shortest < MIN_SIDE && content == null) {
                throw new IllegalArgumentException("--size: texture sides must be at least " + MIN_SIDE
                        + " pixels (VGG19 pools five times), got " + (width > 0 ? width + "x" + height : size));
            }
            if (size < MIN_SIDE && content != null) {
                throw new IllegalArgumentException("--size must be at least " + MIN_SIDE
                        + " pixels (VGG19 pools five times), got " + size);
            }
            if (!(styleScale > 0) || !Double.isFinite(styleScale)) {
                throw new IllegalArgumentException("--style-scale must be a positive number, got " + styleScale);
            }
            if (lr != null && (!(lr > 0) || !Double.isFinite(lr))) {
                throw new IllegalArgumentException("--lr must be a positive number, got " + lr);
            }
            checkWeight("--content-weight", contentWeight);
            checkWeight("--style-weight", styleWeight);
            checkWeight("--tv-weight", tvWeight);
            if (scales < 1) {
                throw new IllegalArgumentException("--scales must be at least 1, got " + scales);
            }
            int longest = content == null && width > 0 ? Math.max(width, height) : size;
            int coarsest = coarseSide(shortest, scales);
            if (coarsest < MIN_SIDE) {
                throw new IllegalArgumentException("--scales " + scales + " is too many for size " + longest
                        + ": the coarsest scale would be " + coarsest + " px (minimum " + MIN_SIDE + ")");
            }
            if (maxPixels < 1) {
                throw new IllegalArgumentException("--max-pixels must be a positive number of pixels, got " + maxPixels);
            }
            if (lbfgsHistory < 1) {
                throw new IllegalArgumentException("--lbfgs-history must be at least 1, got " + lbfgsHistory);
            }
            if (lbfgsHistory != DEFAULT_LBFGS_HISTORY && opt != Optimizer.LBFGS) {
                throw new IllegalArgumentException("--lbfgs-history applies to --optimizer lbfgs only");
            }
            if (saveEvery < 0) {
                throw new IllegalArgumentException("--save-every must be 0 (off) or positive, got " + saveEvery);
            }
            if (styleBlend != null) {
                if (styleBlend.size() != styles.size()) {
                    throw new IllegalArgumentException("--style-blend has " + styleBlend.size() + " weights for "
                            + styles.size() + " style image" + (styles.size() == 1 ? "" : "s"));
                }
                double sum = 0;
                for (double b : styleBlend) {
                    if (!(b >= 0) || !Double.isFinite(b)) {
                        throw new IllegalArgumentException("--style-blend weights must be non-negative numbers, got " + b);
                    }
                    sum += b;
                }
                if (!(sum > 0)) {
                    throw new IllegalArgumentException("--style-blend weights must not all be zero");
                }
            }
            String in = start != null ? start : content == null ? "noise" : "content";
            if (content == null && in.equals("content")) {
                throw new IllegalArgumentException("--init content needs a content image (texture mode has none)");
            }
            if (in.isBlank()) {
                throw new IllegalArgumentException("--init must be content, noise or an image file");
            }
            if (originalColors && content == null) {
                throw new IllegalArgumentException("--original-colors needs a content image (texture mode has none)");
            }
            if (tile < 0) {
                throw new IllegalArgumentException("--tile must be a positive number of pixels, got " + tile);
            }
            if (maxDeviceMemory < 0) {
                throw new IllegalArgumentException("--max-device-memory must be a positive size, got " + maxDeviceMemory);
            }
            if (normalizeGradients && tile > 0) {
                throw new IllegalArgumentException("--normalize-gradients cannot be combined with --tile: it divides each term's"
                        + " gradient by its L1 norm over the whole layer, which no tile sees");
            }
            org.clstyle.loss.LossFactory.checkStorage(storage, tile > 0, 1); // --tile: refused with the option's check
            if (lineSearch && opt != Optimizer.LBFGS) {
                throw new IllegalArgumentException("--line-search applies to --optimizer lbfgs only");
            }
            return new StylizeSettings(content, styles, output, weights, device, recipe, effectivePreset, contentWeight,
                    styleWeight, tvWeight, contentLayers, styleLayers, loss, gram, pooling, styleBlend, iterations, opt, lr,
                    lineSearch, size, width, height, styleScale, start, seed, originalColors, scales, normalizeGradients,
                    saveEvery, installShutdownHook, deviceMemoryLimit, tile, maxDeviceMemory, maxPixels, lbfgsHistory, augmentation, logJson,
                    storage);
        }

        private static void checkWeight(String option, Double w) {
            if (w != null && (!(w >= 0) || !Double.isFinite(w))) {
                throw new IllegalArgumentException(option + " must be a non-negative number, got " + w);
            }
        }
    }

    /** Side of the coarsest of {@code scales} scales for a finest side {@code side} (halving per scale). */
    static int coarseSide(int side, int scales) {
        return (int) Math.round(side / Math.pow(2, scales - 1));
    }
}
