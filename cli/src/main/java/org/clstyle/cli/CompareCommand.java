package org.clstyle.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Preset;
import org.clstyle.loss.Recipe;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import org.clstyle.weights.VggWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle compare}: the same content and style images through several recipes (presets and
 * recipe files, in the order given), one stylization each with the same size, iterations and seed,
 * and one contact sheet: each result labelled with its recipe and its final weighted loss terms.
 */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Run several recipes on the same inputs and write a contact sheet with the final loss terms under each result.")
final class CompareCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--content", paramLabel = "IMAGE", required = true, description = "Content image.")
    Path content;

    @Option(names = "--style", paramLabel = "IMAGE", required = true, split = ",", description = "Style image; repeat (or a comma list) to blend several.")
    List<Path> styles;

    @Option(names = "--preset", paramLabel = "NAME", description = "A recipe to compare by preset name (`clstyle presets`); repeatable.")
    List<String> presets = new ArrayList<>();

    @Option(names = "--recipe", paramLabel = "FILE", description = "A recipe file to compare; repeatable.")
    List<Path> recipes = new ArrayList<>();

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "FILE", description = "The contact sheet (.png, .jpg).")
    Path output;

    @Option(names = "--size", paramLabel = "PX", description = "Longest side of each result (default: ${DEFAULT-VALUE}).")
    int size = 256;

    @Option(names = "--iterations", paramLabel = "N", description = "Iterations per recipe (default: ${DEFAULT-VALUE}).")
    int iterations = 200;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of noise starts and augmentation, the same for every recipe (default: ${DEFAULT-VALUE}).")
    long seed;

    @Mixin
    CommonOptions.Inputs inputs;

    @Mixin
    CommonOptions.Device device;

    @Option(names = {"-q", "--quiet"}, description = "No progress output.")
    boolean quiet;

    /** One entry of the sheet: a preset or a recipe file. */
    private record Entry(String label, Preset preset, Path recipe) {}

    @Override
    public Integer call() {
        List<Entry> entries = new ArrayList<>();
        for (String p : presets) {
            try {
                entries.add(new Entry(p, Preset.parse("--preset", p), null));
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        }
        for (Path r : recipes) {
            entries.add(new Entry(String.valueOf(r.getFileName()), null, r));
        }
        if (entries.size() < 2) {
            throw new UserError("--preset/--recipe: give at least two recipes to compare, got " + entries.size());
        }
        try {
            Images.checkWritable(output);
        } catch (ImageException e) {
            throw new UserError(e.getMessage());
        }
        PrintWriter err = spec.commandLine().getErr();
        List<FloatImage> cells = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        String weightsName = null;
        Path tmp = null;
        try {
            tmp = Files.createTempDirectory("clstyle-compare");
            for (int k = 0; k < entries.size(); k++) {
                Entry e = entries.get(k);
                if (!quiet) {
                    err.println("recipe " + (k + 1) + " of " + entries.size() + ": " + e.label());
                    err.flush();
                }
                StylizeSettings s;
                try {
                    s = StylizeSettings.builder().content(content).styles(styles).output(tmp.resolve(k + ".png"))
                            .weights(inputs.weights).device(device.device).maxPixels(inputs.maxPixels).recipe(e.recipe()).preset(e.preset()).size(size)
                            .iterations(iterations).seed(seed).installShutdownHook(false).build();
                } catch (IllegalArgumentException ex) {
                    throw new UserError(ex.getMessage());
                }
                Path weightsFile = Stylizer.resolveWeights(s.weights(), s.preset() == null ? null : s.preset().network());
                weightsName = String.valueOf(weightsFile.getFileName());
                Recipe recipe;
                try {
                    VggWeights w = Stylizer.loadWeights(weightsFile);
                    recipe = Stylizer.resolveRecipe(s, w);
                } catch (IllegalArgumentException ex) {
                    throw new UserError(ex.getMessage());
                }
                ProgressBar bar = new ProgressBar(err, ProgressBar.stderrIsTerminal(), 50, quiet);
                Stylizer.Result r = new Stylizer(s, bar).run();
                bar.endLine();
                if (r.image() == null) {
                    throw new UserError("compare stopped before " + e.label() + " finished its first iteration; nothing written");
                }
                cells.add(r.image());
                labels.add(e.label() + "\n" + terms(recipe, r.loss()));
            }
            String title = content.getFileName() + " + " + styles.get(0).getFileName() + (styles.size() > 1 ? " ..." : "")
                    + " | " + weightsName + " | " + iterations + " it";
            Images.write(LayerGrid.compose(cells, labels, title), output);
        } catch (StylizeException | ImageException e) {
            throw new UserError(e.getMessage());
        } catch (IOException e) {
            throw new UserError("cannot create a temporary folder for the results: " + e.getMessage());
        } finally {
            VisualizeCommand.deleteTree(tmp);
        }
        if (!quiet) {
            spec.commandLine().getOut().println("wrote " + output);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    /** "c 1.2e+03 s 4.5e+02 tv 31": the final weighted content, style and TV terms. */
    static String terms(Recipe recipe, LossValues v) {
        if (v == null) {
            return "no loss";
        }
        double c = 0, st = 0;
        for (var e : v.content().entrySet()) {
            c += recipe.content().weight() * recipe.content().layers().getOrDefault(e.getKey(), 1.0) * e.getValue();
        }
        for (var e : v.style().entrySet()) {
            st += recipe.style().weight() * recipe.style().layers().getOrDefault(e.getKey(), 1.0) * e.getValue();
        }
        return String.format(Locale.ROOT, "c %.2g s %.2g tv %.2g", c, st, recipe.tv().weight() * v.tv());
    }
}
