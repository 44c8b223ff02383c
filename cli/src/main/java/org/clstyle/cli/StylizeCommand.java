package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code clstyle stylize}: paint a content image in the style of one or more style images. */
@Command(name = "stylize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Neural style transfer (Gatys et al.): optimise an image so that its VGG19 features match "
                + "the content image's and its feature correlations (Gram matrices) match the style images'.")
final class StylizeCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--content", required = true, paramLabel = "IMAGE", description = "Content image (PNG or JPEG).")
    Path content;

    @Mixin
    Shared shared;

    @Mixin
    AugmentOptions extra;

    @Option(names = "--size", paramLabel = "PX", description = "Longest side of the output in pixels (default: ${DEFAULT-VALUE}).")
    int size = StylizeSettings.DEFAULT_SIZE;

    @Option(names = "--content-weight", paramLabel = "W", description = "Weight of the content term (default: the recipe's).")
    Double contentWeight;

    @Option(names = "--content-layers", paramLabel = "LAYERS",
            description = "Content layers, comma separated, each NAME or NAME:WEIGHT (e.g. relu4_2).")
    String contentLayers;

    @Option(names = "--original-colors", description = "Keep the content image's colours: luminance from the result, chroma from the content.")
    boolean originalColors;

    @Option(names = "--init", paramLabel = "content|noise|IMAGE", description = "Starting image (default: the preset's, else content).")
    String init;

    @Option(names = "--normalize-gradients",
            description = "L1-normalise each loss term's gradient per layer (jcjohnson/neural-style).")
    boolean normalizeGradients;

    /** Options stylize and texture share. */
    static final class Shared {
        @Option(names = "--style", required = true, paramLabel = "IMAGE", split = ",",
                description = "Style image; repeat or give a comma list (a,b.png) for several (blended, see --style-blend).")
        List<Path> styles = new ArrayList<>();

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "Output image (.png, .jpg).")
        Path output;

        @Mixin
        CommonOptions.Inputs inputs;

        @Mixin
        CommonOptions.Device device;

        @Mixin
        CommonOptions.Tiling tiling;

        @Mixin
        CommonOptions.Storage storage;

        @Option(names = "--recipe", paramLabel = "JSON", description = "Loss recipe file; flags below override its fields.")
        Path recipe;

        @Option(names = "--preset", paramLabel = "NAME",
                description = "A published recipe (tutorial, gatys, jcjohnson, practical, vgg16; `clstyle presets` lists them): "
                        + "its loss, optimiser and start image; --recipe keys and the flags override it.")
        String preset;

        @Option(names = "--style-weight", paramLabel = "W", description = "Weight of the style term (default: the recipe's).")
        Double styleWeight;

        @Option(names = "--tv-weight", paramLabel = "W", description = "Weight of the total-variation term (default: the recipe's).")
        Double tvWeight;

        @Option(names = "--style-layers", paramLabel = "LAYERS",
                description = "Style layers, comma separated, each NAME or NAME:WEIGHT (e.g. relu1_1,relu2_1:0.5).")
        String styleLayers;

        @Option(names = "--loss", paramLabel = "mse|l1|sse_half", description = "Distance for the content and style terms.")
        String loss;

        @Option(names = "--gram", paramLabel = "chw|hw|gatys",
                description = "Gram normaliser: C*H*W, H*W, or gatys (unnormalised, the paper's 1/(4 N^2 M^2) in the style MSE).")
        String gram;

        @Option(names = "--iterations", paramLabel = "N", description = "Iterations per scale (default: ${DEFAULT-VALUE}).")
        int iterations = StylizeSettings.DEFAULT_ITERATIONS;

        @Option(names = "--optimizer", paramLabel = "lbfgs|adam", description = "Optimiser (default: the preset's, else lbfgs).")
        String optimizer;

        @Option(names = "--lr", paramLabel = "RATE", description = "Step size (default: 1 for lbfgs, 0.02 for adam).")
        Double lr;

        @Option(names = "--line-search", description = "L-BFGS with a strong-Wolfe line search instead of fixed steps.")
        boolean lineSearch;

        @Option(names = "--lbfgs-history", paramLabel = "N",
                description = "L-BFGS history size (jcjohnson's -lbfgs_num_correction; default: ${DEFAULT-VALUE}); less uses less device memory.")
        int lbfgsHistory = StylizeSettings.DEFAULT_LBFGS_HISTORY;

        @Option(names = "--style-scale", paramLabel = "S", description = "Style images' longest side as a multiple of the output's (default: ${DEFAULT-VALUE}).")
        double styleScale = 1.0;

        @Option(names = "--seed", paramLabel = "N", description = "Seed of the noise start; -1 picks one at random and prints it (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--pooling", paramLabel = "max|avg", description = "VGG19 pooling (default: the recipe's).")
        String pooling;

        @Option(names = "--style-blend", paramLabel = "W1,W2,...", description = "Relative weights of the style images.")
        String styleBlend;

        @Option(names = "--scales", paramLabel = "N", description = "Coarse-to-fine scales, doubling the size each (default: ${DEFAULT-VALUE}).")
        int scales = 1;

        @Option(names = "--save-every", paramLabel = "N",
                description = "Also write OUTPUT_<iteration> every N iterations, zero-padded so that they sort (0: off).")
        int saveEvery;

        @Option(names = "--print-every", paramLabel = "N", description = "Progress line every N iterations when stderr is not a terminal (default: ${DEFAULT-VALUE}).")
        int printEvery = 10;

        @Option(names = {"-q", "--quiet"}, description = "No progress output.")
        boolean quiet;

        /** The builder with these options and the command's --init; IllegalArgumentException names the bad option. */
        StylizeSettings.Builder builder(String init) {
            if (printEvery < 0) {
                throw new IllegalArgumentException("--print-every must be 0 (off) or positive, got " + printEvery);
            }
            if (seed < -1) {
                throw new IllegalArgumentException("--seed must be -1 (random) or a non-negative number, got " + seed);
            }
            return StylizeSettings.builder()
                    .styles(styles).output(output).weights(inputs.weights).device(device.device).recipe(recipe).preset(preset)
                    .styleWeight(styleWeight).tvWeight(tvWeight).styleLayers(styleLayers).loss(loss).gram(gram)
                    .iterations(iterations).optimizer(optimizer).lr(lr).lineSearch(lineSearch).styleScale(styleScale)
                    .init(init).seed(effectiveSeed()).pooling(pooling).styleBlend(blend(styleBlend)).scales(scales)
                    .saveEvery(saveEvery).maxPixels(inputs.maxPixels).lbfgsHistory(lbfgsHistory)
                    .tile(tiling.tile()).maxDeviceMemory(tiling.budget()).storage(storage.storage());
        }

        private Long randomSeed;

        /** --seed, or for -1 a random seed, chosen once per run. */
        long effectiveSeed() {
            if (seed != -1) {
                return seed;
            }
            if (randomSeed == null) {
                randomSeed = new java.security.SecureRandom().nextLong() & ((1L << 53) - 1);
            }
            return randomSeed;
        }

        static List<Double> blend(String s) {
            if (s == null) {
                return null;
            }
            List<Double> out = new ArrayList<>();
            for (String part : s.split(",")) {
                try {
                    out.add(Double.parseDouble(part.trim()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--style-blend: '" + part.trim() + "' is not a number");
                }
            }
            return out;
        }
    }

    @Override
    public Integer call() {
        StylizeSettings settings;
        try {
            settings = shared.builder(init).content(content).size(size).contentWeight(contentWeight)
                    .contentLayers(contentLayers).originalColors(originalColors)
                    .normalizeGradients(normalizeGradients).apply(extra::apply).build();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        return run(spec, shared, settings);
    }

    /** Runs a stylize or texture job with a progress bar; failures become one-line user errors. */
    static int run(CommandSpec spec, Shared shared, StylizeSettings settings) {
        PrintWriter err = spec.commandLine().getErr();
        ProgressBar bar = new ProgressBar(err, ProgressBar.stderrIsTerminal(), shared.printEvery, shared.quiet);
        if (shared.seed == -1 && settings.effectiveInit().equals("noise")) {
            // Printed even with --quiet: without it the run cannot be repeated.
            err.println("clstyle: --seed -1: using seed " + settings.seed() + " (pass --seed " + settings.seed() + " to repeat this run)");
            err.flush();
        }
        Stylizer stylizer = new Stylizer(settings, bar);
        Stylizer.Result r;
        try {
            r = stylizer.run();
        } catch (StylizeException e) {
            bar.endLine();
            throw new UserError(e.getMessage());
        } catch (RuntimeException e) {
            bar.endLine();
            throw e;
        }
        bar.endLine();
        if (r.output() == null) {
            return 130; // stopped before the first iteration: nothing written (the note said so)
        }
        if (!shared.quiet) {
            spec.commandLine().getOut().println(String.format(Locale.ROOT, "wrote %s (%dx%d, %d iterations%s)",
                    r.output(), r.image().width(), r.image().height(), r.iterations(),
                    r.loss() == null ? "" : String.format(Locale.ROOT, ", loss %.4g", r.loss().total())));
            spec.commandLine().getOut().flush();
        }
        return r.interrupted() ? 130 : 0;
    }
}
