package org.clstyle.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import org.clstyle.vgg.VggLayers;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle visualize}: what one VGG layer captures. From noise, optimise an image against one
 * content layer alone (a reconstruction of --content) or one style layer alone (a texture of --style);
 * --grid does it for several layers and writes one labelled image (see {@link LayerGrid}).
 */
@Command(name = "visualize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Reconstruct an image from one content layer, or synthesise a texture from one style layer, "
                + "starting from noise; --grid: several layers side by side, labelled.")
final class VisualizeCommand implements Callable<Integer> {
    /** The Gatys layers (content relu4_2; style reluN_1): the default --grid. */
    static final List<String> DEFAULT_GRID = List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1");

    @Spec
    CommandSpec spec;

    static final class Source {
        @Option(names = "--content", paramLabel = "IMAGE", required = true,
                description = "Reconstruct this image from the layer's activations alone.")
        Path content;

        @Option(names = "--style", paramLabel = "IMAGE", required = true,
                description = "Synthesise from this image's Gram matrix at the layer alone.")
        Path style;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--layer", paramLabel = "LAYER", description = "The layer (e.g. relu4_2); not with --grid.")
    String layer;

    @Option(names = "--grid", description = "Every layer of --layers, side by side with labels, into one image.")
    boolean grid;

    @Option(names = "--layers", paramLabel = "L1,L2,...|all",
            description = "Layers of the grid (default: relu1_1, relu2_1, relu3_1, relu4_1, relu4_2, relu5_1; all: every VGG19 layer).")
    String layers;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "Output image (.png, .jpg).")
    Path output;

    @Option(names = "--size", paramLabel = "PX", description = "Longest side of each image (default: ${DEFAULT-VALUE}).")
    int size = 128;

    @Option(names = "--iterations", paramLabel = "N", description = "Iterations per layer (default: ${DEFAULT-VALUE}).")
    int iterations = 200;

    @Mixin
    CommonOptions.Inputs inputs;

    @Mixin
    CommonOptions.Device device;

    @Option(names = "--optimizer", paramLabel = "lbfgs|adam", description = "Optimiser (default: ${DEFAULT-VALUE}).")
    String optimizer = "lbfgs";

    @Option(names = "--lr", paramLabel = "RATE", description = "Step size (default: 1 for lbfgs, 0.02 for adam).")
    Double lr;

    @Option(names = "--tv-weight", paramLabel = "W", description = "Total-variation weight (default: ${DEFAULT-VALUE}: the layer alone).")
    double tvWeight = 0;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the noise start (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = {"-q", "--quiet"}, description = "No progress output.")
    boolean quiet;

    @Override
    public Integer call() {
        List<String> chosen = chosenLayers();
        Path weightsFile;
        try {
            weightsFile = Stylizer.resolveWeights(inputs.weights);
            Images.checkWritable(output);
        } catch (StylizeException | ImageException e) {
            throw new UserError(e.getMessage());
        }
        PrintWriter err = spec.commandLine().getErr();
        boolean content = source.content != null;
        List<FloatImage> cells = new ArrayList<>();
        Path tmpDir = null;
        try {
            tmpDir = Files.createTempDirectory("clstyle-visualize");
            for (String l : chosen) {
                if (!quiet && chosen.size() > 1) {
                    err.println((content ? "reconstructing from " : "synthesising from ") + l);
                    err.flush();
                }
                Path cellOut = grid ? tmpDir.resolve(l + ".png") : output;
                cells.add(runOne(l, weightsFile, cellOut, err));
            }
            if (grid) {
                String what = content ? "content reconstruction of " + source.content.getFileName()
                        : "style synthesis from " + source.style.getFileName();
                String title = what + " | weights " + weightsFile.getFileName() + " | " + optimizer.toLowerCase(Locale.ROOT)
                        + ", " + iterations + " iterations, from noise";
                Images.write(LayerGrid.compose(cells, chosen, title), output);
            }
        } catch (IOException e) {
            throw new UserError("cannot create a temporary folder for the grid: " + e.getMessage());
        } catch (ImageException e) {
            throw new UserError(e.getMessage());
        } finally {
            deleteTree(tmpDir);
        }
        if (!quiet) {
            spec.commandLine().getOut().println("wrote " + output);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    private FloatImage runOne(String l, Path weightsFile, Path out, PrintWriter err) {
        StylizeSettings settings;
        try {
            StylizeSettings.Builder b = StylizeSettings.builder().output(out).weights(weightsFile).device(device.device).maxPixels(inputs.maxPixels)
                    .iterations(iterations).optimizer(optimizer).lr(lr).tvWeight(tvWeight).init("noise").seed(seed)
                    .size(size).styleLayers(l).installShutdownHook(false);
            if (source.content != null) {
                // Content alone: the style term needs an image and a layer, but weighs nothing.
                b.content(source.content).styles(List.of(source.content)).contentLayers(l).styleWeight(0.0);
            } else {
                b.styles(List.of(source.style)).textureSize(size, size).contentWeight(0.0);
            }
            settings = b.build();
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        ProgressBar bar = new ProgressBar(err, ProgressBar.stderrIsTerminal(), 50, quiet);
        try {
            Stylizer.Result r = new Stylizer(settings, bar).run();
            bar.endLine();
            return r.image();
        } catch (StylizeException e) {
            bar.endLine();
            throw new UserError(e.getMessage());
        }
    }

    private List<String> chosenLayers() {
        if (grid == (layer != null)) {
            throw new UserError(grid ? "--layer and --grid: give one (--grid takes --layers)" : "--layer or --grid is required");
        }
        if (!grid) {
            if (layers != null) {
                throw new UserError("--layers goes with --grid; for one layer use --layer");
            }
            return List.of(checkLayer("--layer", layer));
        }
        if (layers == null) {
            return DEFAULT_GRID;
        }
        if (layers.trim().equalsIgnoreCase("all")) {
            return VggLayers.ALL;
        }
        Map<String, Boolean> seen = new LinkedHashMap<>();
        for (String part : layers.split(",")) {
            seen.put(checkLayer("--layers", part.trim()), true);
        }
        return List.copyOf(seen.keySet());
    }

    private static String checkLayer(String option, String name) {
        if (!VggLayers.isLayer(name)) {
            throw new UserError(VggLayers.unknownLayerMessage(option, name));
        }
        return name;
    }

    static void deleteTree(Path dir) {
        if (dir == null) {
            return;
        }
        try (var s = Files.list(dir)) {
            for (Path p : s.toList()) {
                Files.deleteIfExists(p);
            }
            Files.deleteIfExists(dir);
        } catch (IOException ignored) {
            // a leftover temporary folder is harmless
        }
    }
}
