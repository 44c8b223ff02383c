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

    @Option(names = "--normalize-gradients",
            description = "L1-normalise each loss term's gradient per layer (jcjohnson/neural-style).")
    boolean normalizeGradients;

    /** Options stylize and texture share. */
    static final class Shared {
        @Option(names = "--style", required = true, paramLabel = "IMAGE",
                description = "Style image; repeat for several (blended, see --style-blend).")
        List<Path> styles = new ArrayList<>();

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "Output image (.png, .jpg).")
        Path output;

        @Option(names = "--weights", paramLabel = "FILE",
                description = "Converted VGG19 weights (.safetensors); default: the cached file from `clstyle weights fetch`.")
        Path weights;

        @Option(names = "--device", paramLabel = "DEV", description = "OpenCL device: index or name fragment (see `clstyle devices`).")
        String device;

        @Option(names = "--recipe", paramLabel = "JSON", description = "Loss recipe file; flags below override its fields.")
        Path recipe;

        @Option(names = "--style-weight", paramLabel = "W", description = "Weight of the style term (default: the recipe's).")
        Double styleWeight;

        @Option(names = "--tv-weight", paramLabel = "W", description = "Weight of the total-variation term (default: the recipe's).")
        Double tvWeight;

        @Option(names = "--style-layers", paramLabel = "LAYERS",
                description = "Style layers, comma separated, each NAME or NAME:WEIGHT (e.g. relu1_1,relu2_1:0.5).")
        String styleLayers;

        @Option(names = "--loss", paramLabel = "mse|l1", description = "Distance for the content and style terms.")
        String loss;

        @Option(names = "--gram", paramLabel = "chw|hw", description = "Gram normaliser: C*H*W or H*W.")
        String gram;

        @Option(names = "--iterations", paramLabel = "N", description = "Iterations per scale (default: ${DEFAULT-VALUE}).")
        int iterations = StylizeSettings.DEFAULT_ITERATIONS;

        @Option(names = "--optimizer", paramLabel = "lbfgs|adam", description = "Optimiser (default: ${DEFAULT-VALUE}).")
        String optimizer = "lbfgs";

        @Option(names = "--lr", paramLabel = "RATE", description = "Step size (default: 1 for lbfgs, 0.02 for adam).")
        Double lr;

        @Option(names = "--line-search", description = "L-BFGS with a strong-Wolfe line search instead of fixed steps.")
        boolean lineSearch;

        @Option(names = "--style-scale", paramLabel = "S", description = "Style images' longest side as a multiple of the output's (default: ${DEFAULT-VALUE}).")
        double styleScale = 1.0;

        @Option(names = "--init", paramLabel = "content|noise|IMAGE", description = "Starting image (default: content; noise for texture).")
        String init;

        @Option(names = "--seed", paramLabel = "N", description = "Seed of the noise start (default: ${DEFAULT-VALUE}).")
        long seed;

        @Option(names = "--pooling", paramLabel = "max|avg", description = "VGG19 pooling (default: the recipe's).")
        String pooling;

        @Option(names = "--style-blend", paramLabel = "W1,W2,...", description = "Relative weights of the style images.")
        String styleBlend;

        @Option(names = "--scales", paramLabel = "N", description = "Coarse-to-fine scales, doubling the size each (default: ${DEFAULT-VALUE}).")
        int scales = 1;

        @Option(names = "--save-every", paramLabel = "N", description = "Also write OUTPUT_<iteration> every N iterations (0: off).")
        int saveEvery;

        @Option(names = "--print-every", paramLabel = "N", description = "Progress line every N iterations when stderr is not a terminal (default: ${DEFAULT-VALUE}).")
        int printEvery = 10;

        @Option(names = {"-q", "--quiet"}, description = "No progress output.")
        boolean quiet;

        /** The builder with these options; IllegalArgumentException names the bad option. */
        StylizeSettings.Builder builder() {
            if (printEvery < 0) {
                throw new IllegalArgumentException("--print-every must be 0 (off) or positive, got " + printEvery);
            }
            return StylizeSettings.builder()
                    .styles(styles).output(output).weights(weights).device(device).recipe(recipe)
                    .styleWeight(styleWeight).tvWeight(tvWeight).styleLayers(styleLayers).loss(loss).gram(gram)
                    .iterations(iterations).optimizer(optimizer).lr(lr).lineSearch(lineSearch).styleScale(styleScale)
                    .init(init).seed(seed).pooling(pooling).styleBlend(blend(styleBlend)).scales(scales)
                    .saveEvery(saveEvery);
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
            settings = shared.builder().content(content).size(size).contentWeight(contentWeight)
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
        if (!shared.quiet) {
            spec.commandLine().getOut().println(String.format(Locale.ROOT, "wrote %s (%dx%d, %d iterations%s)",
                    r.output(), r.image().width(), r.image().height(), r.iterations(),
                    r.loss() == null ? "" : String.format(Locale.ROOT, ", loss %.4g", r.loss().total())));
            spec.commandLine().getOut().flush();
        }
        return r.interrupted() ? 130 : 0;
    }
}
