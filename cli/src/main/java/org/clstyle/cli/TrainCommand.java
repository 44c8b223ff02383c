package org.clstyle.cli;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClException;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.Preset;
import org.clstyle.loss.Recipe;
import org.clstyle.nn.Generators;
import org.clstyle.nn.Layer;
import org.clstyle.train.CropSource;
import org.clstyle.train.GeneratorModel;
import org.clstyle.train.GeneratorSpec;
import org.clstyle.train.TrainSettings;
import org.clstyle.train.Trainer;
import org.clstyle.transfer.OutputGuard;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.Stylizer;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code clstyle train}: train a feed-forward generator (Texture Networks pyramid or Johnson's network) for one style. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a feed-forward generator for a style (Ulyanov et al., Texture Networks; Johnson et al.): "
                + "texture mode without --content-dir, stylization with it. Then `clstyle generate --model M`.")
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--style", required = true, paramLabel = "IMAGE", split = ",", description = "Style image(s) (PNG or JPEG).")
    List<Path> styles = new ArrayList<>();

    @Option(names = "--content-dir", paramLabel = "DIR",
            description = "Folder of JPEG/PNG photos (stylization: random --size crops, shuffled, repeated as needed); leave out for a texture.")
    Path contentDir;

    @Option(names = "--arch", paramLabel = "pyramid|johnson", description = "Generator (default: ${DEFAULT-VALUE}).")
    String arch = "pyramid";

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "MODEL", description = "Model file to write (.safetensors).")
    Path output;

    @Mixin
    CommonOptions.Inputs inputs;

    @Mixin
    CommonOptions.Device device;

    @Option(names = "--recipe", paramLabel = "JSON", description = "Loss recipe file; flags override its fields.")
    Path recipe;

    @Option(names = "--preset", paramLabel = "NAME", description = "A published recipe for the loss (`clstyle presets`).")
    String preset;

    @Option(names = "--style-weight", paramLabel = "W", description = "Style term weight (default: the recipe's).")
    Double styleWeight;

    @Option(names = "--content-weight", paramLabel = "W", description = "Content term weight (default: the recipe's).")
    Double contentWeight;

    @Option(names = "--tv-weight", paramLabel = "W", description = "Total-variation weight (default: 0, the authors').")
    Double tvWeight;

    @Option(names = "--steps", paramLabel = "N",
            description = "Training steps (default: pyramid 50,000 stylization / 1,500 texture, the authors'; johnson 40,000 stylization / 1,500 texture).")
    Integer steps;

    @Option(names = "--batch", paramLabel = "N", description = "Images per step (default: pyramid 1, the authors'; johnson 4, Johnson's).")
    Integer batch;

    @Option(names = "--learning-rate", paramLabel = "RATE", description = "Adam's learning rate (default: 1e-3, the authors').")
    Double learningRate;

    @Option(names = "--lr-decay", paramLabel = "F", description = "Learning rate multiplied by F ... (default: 0.8, the authors')")
    Double lrDecay;

    @Option(names = "--lr-decay-every", paramLabel = "N", description = "... every N steps (default: 2000, the authors').")
    Integer lrDecayEvery;

    @Option(names = "--size", paramLabel = "PX", description = "Training crop / texture side (default: 256).")
    Integer size;

    @Option(names = "--style-size", paramLabel = "PX", description = "Style images' longest side (default: 256, the authors').")
    int styleSize = 256;

    @Option(names = "--norm", paramLabel = "instance|batch", description = "Pyramid normalisation (default: instance, the authors' current code; batch: the paper's).")
    String norm;

    @Option(names = "--activation", paramLabel = "relu|leaky-relu", description = "Pyramid activation (default: relu; leaky-relu 0.01: the paper's).")
    String activation;

    @Option(names = "--padding", paramLabel = "replicate|circular|reflect|zero", description = "Pyramid padding (default: replicate; circular: the paper's).")
    String padding;

    @Option(names = "--noise", description = "Pyramid stylization: add 3 noise channels to the photo at every scale (the paper's).")
    boolean noise;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the initial parameters, the data order and the noise (default: 0).")
    Long seed;

    @Option(names = "--preview-every", paramLabel = "N", description = "Write MODEL.preview-<step>.png (the first image of the batch) every N steps.")
    int previewEvery;

    @Option(names = "--checkpoint-every", paramLabel = "N", description = "Write MODEL.ckpt.safetensors (with the optimiser's state) every N steps.")
    int checkpointEvery;

    @Option(names = "--log-json", paramLabel = "FILE", description = "One JSON object per step: step, seconds, learning rate, every loss term.")
    Path logJson;

    @Option(names = "--resume", paramLabel = "CKPT", description = "Continue from a checkpoint exactly (its generator, recipe, seed, batch, size and optimiser state).")
    Path resume;

    @Option(names = "--print-every", paramLabel = "N", description = "Progress line every N steps when stderr is not a terminal (default: ${DEFAULT-VALUE}).")
    int printEvery = 10;

    @Option(names = {"-q", "--quiet"}, description = "No progress output.")
    boolean quiet;

    @Override
    public Integer call() throws Exception {
        if (inputs.maxPixels < 1) {
            throw new UserError("--max-pixels must be a positive number of pixels, got " + inputs.maxPixels);
        }
        if (styleSize < 16 || styleSize > 4096) {
            throw new UserError("--style-size must be 16 to 4096 pixels, got " + styleSize);
        }
        if (printEvery < 0) {
            throw new UserError("--print-every must be 0 (off) or positive, got " + printEvery);
        }
        checkOutput("-o", output);
        if (logJson != null) {
            checkOutput("--log-json", logJson);
        }
        GeneratorModel from = null;
        if (resume != null) {
            try {
                from = GeneratorModel.load(resume);
            } catch (WeightsException e) {
                throw new UserError("--resume " + e.getMessage());
            }
            if (from.optimizer() == null) {
                throw new UserError("--resume " + resume + " is a finished model without the optimiser's state, not a checkpoint"
                        + " (checkpoints are written by --checkpoint-every and Ctrl-C as MODEL.ckpt.safetensors)");
            }
            for (String[] o : new String[][] {{"--recipe", str(recipe)}, {"--preset", preset}, {"--style-weight", str(styleWeight)},
                    {"--content-weight", str(contentWeight)}, {"--tv-weight", str(tvWeight)}, {"--norm", norm},
                    {"--activation", activation}, {"--padding", padding}}) {
                if (o[1] != null) {
                    throw new UserError(o[0] + " cannot change a resumed run: it continues with the checkpoint's settings");
                }
            }
        }
        Map<String, String> ck = from == null ? Map.of() : from.training();

        TrainSettings settings;
        GeneratorSpec gs;
        try {
            boolean texture = contentDir == null;
            if (from != null) {
                gs = from.spec();
                if (!arch.equals(gs.arch()) && spec.commandLine().getParseResult().hasMatchedOption("--arch")) {
                    throw new UserError("--arch " + arch + " differs from the checkpoint's " + gs.arch());
                }
                if (texture == gs.stylization()) {
                    throw new UserError(gs.stylization() ? "--resume " + resume + " trains a stylization model: pass its --content-dir"
                            : "--resume " + resume + " trains a texture model: it takes no --content-dir");
                }
            } else {
                String a = arch.trim().toLowerCase(Locale.ROOT);
                if (!a.equals(GeneratorSpec.PYRAMID) && !a.equals(GeneratorSpec.JOHNSON)) {
                    throw new UserError("--arch must be pyramid or johnson, got '" + Messages.value(arch) + "'");
                }
                gs = a.equals(GeneratorSpec.PYRAMID) ? GeneratorSpec.pyramid(!texture) : GeneratorSpec.johnson(!texture);
                if (gs.isPyramid()) {
                    gs = gs.withPyramidOptions(texture || noise,
                            norm == null ? gs.norm() : parseEnum(Generators.Norm.class, "--norm", norm),
                            activation == null ? gs.activation() : parseEnum(Generators.Activation.class, "--activation", activation),
                            padding == null ? gs.padding() : parseEnum(Layer.PadMode.class, "--padding", padding));
                } else if (norm != null || activation != null || padding != null || noise) {
                    throw new UserError("--norm, --activation, --padding and --noise are pyramid options; johnson has one form");
                }
            }
            settings = new TrainSettings(gs,
                    steps != null ? steps : ckInt(ck, "train.steps", TrainSettings.defaultSteps(gs.arch(), texture)),
                    pick("--batch", batch, ck, "train.batch", TrainSettings.defaultBatch(gs.arch())),
                    pick("--size", size, ck, "train.size", TrainSettings.DEFAULT_SIZE),
                    pickD("--learning-rate", learningRate, ck, "train.learning_rate", TrainSettings.DEFAULT_LEARNING_RATE),
                    pickD("--lr-decay", lrDecay, ck, "train.lr_decay", TrainSettings.DEFAULT_LR_DECAY),
                    pick("--lr-decay-every", lrDecayEvery, ck, "train.lr_decay_every", TrainSettings.DEFAULT_LR_DECAY_EVERY),
                    seed != null ? pickL(seed, ck) : ck.containsKey("train.seed") ? Long.parseLong(ck.get("train.seed")) : 0L,
                    output, contentDir, previewEvery, checkpointEvery, logJson, inputs.maxPixels);
            if (from != null && from.step() >= settings.steps()) {
                throw new UserError("--resume " + resume + " is at step " + from.step() + " of " + settings.steps()
                        + ": nothing left to train (raise --steps)");
            }
            if (contentDir != null) {
                CropSource.listImages(contentDir); // one line naming the folder
            }
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }

        // Inputs never overwritten; outputs that would be are refused before any work.
        Map<String, Path> in = new LinkedHashMap<>();
        for (Path s : styles) in.put("--style", s);
        if (recipe != null) in.put("--recipe", recipe);
        if (inputs.weights != null) in.put("--weights", inputs.weights);
        if (resume != null) in.put("--resume", resume);
        if (logJson != null) in.put("--log-json", logJson);
        try {
            OutputGuard.refuseInputs("-o", output, in);
            in.put("-o", output);
            if (logJson != null) {
                in.remove("--log-json");
                OutputGuard.refuseInputs("--log-json", logJson, in);
            }
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        }

        List<FloatImage> styleImages = new ArrayList<>();
        try {
            for (Path s : styles) {
                styleImages.add(Images.fitLongestSide(Images.read(s, inputs.maxPixels, n -> { }), styleSize));
            }
        } catch (ImageException e) {
            throw new UserError(e.getMessage());
        }

        Preset p;
        VggWeights w;
        Path weightsFile;
        try {
            p = preset != null ? Preset.parse("--preset", preset) : recipe != null ? Recipe.presetIn(recipe) : null;
            String network = p != null ? p.network() : ck.get("train.loss_network");
            weightsFile = Stylizer.resolveWeights(inputs.weights, network);
            w = Stylizer.loadWeights(weightsFile);
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        Recipe r;
        try {
            r = resolveRecipe(p, w, weightsFile, ck);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        if (r.style().layers().isEmpty()) {
            throw new UserError("the recipe has no style layers: a generator would learn nothing of the style");
        }
        Map<String, String> info = new LinkedHashMap<>();
        info.put("train.loss_network", w.architecture().id());
        info.put("train.weights", weightsFile.getFileName().toString());
        info.put("train.style", String.join(",", styles.stream().map(s -> s.getFileName().toString()).toList()));
        info.put("train.style_size", Integer.toString(styleSize));
        if (contentDir != null) info.put("train.content_dir", contentDir.getFileName() == null ? contentDir.toString()
                : contentDir.getFileName().toString());
        info.put("train.output_mapping", gs.isPyramid() ? "image = output" : "image = output / 255 + 0.5");

        List<ClDevice> devs = device.devices(); // several: the batch's losses shared by them
        ClDevice dev = devs.get(0);
        PrintWriter err = spec.commandLine().getErr();
        ProgressBar bar = new ProgressBar(err, ProgressBar.stderrIsTerminal(), printEvery, quiet);
        Trainer.Result result;
        List<ClContext> others = new java.util.ArrayList<>(); // the second and later devices' contexts
        try (OutputGuard guard = OutputGuard.lock("-o", output);
                ClContext ctx = new ClContext(dev, false);
                Trainer t = new Trainer(withOthers(ctx, devs, others), w, r, styleImages, info, settings, from, bar)) {
            try {
                result = t.run(true);
            } catch (IllegalStateException e) { // non-finite loss: one line, nothing written
                bar.endLine();
                throw new UserError(e.getMessage());
            } catch (ImageException | WeightsException e) {
                bar.endLine();
                throw new UserError(e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new UserError("interrupted", 130);
            }
            bar.endLine();
            if (result.interrupted()) {
                if (result.written() != null) {
                    err.println("clstyle: stopped at step " + result.step() + "; wrote checkpoint " + result.written()
                            + " (continue with --resume " + result.written() + ")");
                } else {
                    err.println("clstyle: stopped before the first step finished; nothing written");
                }
                err.flush();
                return 130;
            }
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        } catch (ClException e) {
            if (e.isOutOfMemory()) {
                throw new UserError("not enough memory on " + (devs.size() > 1 ? "a device" : dev.label()) + " to train at --size "
                        + settings.size() + " with --batch " + settings.batch() + " (" + e.call() + ": " + e.errorName() + "); lower them");
            }
            throw e;
        } finally {
            others.forEach(ClContext::close);
        }
        if (!quiet) {
            spec.commandLine().getOut().println(String.format(Locale.ROOT, "wrote %s (%s %s, %d steps)", output, gs.arch(),
                    gs.stylization() ? "stylization" : "texture", result.step()));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }

    /** {@code first} and a new context for each of the other devices (added to {@code others}, which the caller closes). */
    private static List<ClContext> withOthers(ClContext first, List<ClDevice> devs, List<ClContext> others) {
        List<ClContext> all = new ArrayList<>(List.of(first));
        for (ClDevice d : devs.subList(1, devs.size())) {
            ClContext c = new ClContext(d, false);
            others.add(c);
            all.add(c);
        }
        return all;
    }

    /** Defaults for training: the weights' recipe with the authors' layers (style relu1_1..relu4_1, content relu4_2) and tv 0. */
    private Recipe resolveRecipe(Preset p, VggWeights w, Path weightsFile, Map<String, String> ck) {
        Recipe base = Recipe.defaultsFor(w.preprocessing()).toBuilder()
                .styleLayers(Recipe.layerList("style", "relu1_1,relu2_1,relu3_1,relu4_1"))
                .contentLayers(Recipe.layerList("content", "relu4_2")).tvWeight(0).build();
        if (ck.containsKey("train.recipe")) {
            return Recipe.parse(ck.get("train.recipe"), base, false);
        }
        Recipe r = base;
        if (p != null) {
            String mismatch = p.networkMismatch(w.architecture().id(), inputs.weights != null ? inputs.weights : "the cached weights file");
            if (mismatch != null) {
                throw new IllegalArgumentException(mismatch);
            }
            r = p.recipe(r);
        }
        if (recipe != null) {
            r = Recipe.load(recipe, r, false);
        }
        Recipe.Builder b = r.toBuilder();
        if (styleWeight != null) b.styleWeight(check("--style-weight", styleWeight));
        if (contentWeight != null) b.contentWeight(check("--content-weight", contentWeight));
        if (tvWeight != null) b.tvWeight(check("--tv-weight", tvWeight));
        return b.build();
    }

    private static double check(String option, double v) {
        if (!(v >= 0) || !Double.isFinite(v)) {
            throw new IllegalArgumentException(option + " must be a finite number >= 0, got " + v);
        }
        return v;
    }

    /** -o / --log-json: not a folder, in a folder that exists. */
    static void checkOutput(String option, Path file) {
        Path abs = file.toAbsolutePath();
        if (Files.isDirectory(abs)) {
            throw new UserError(option + " " + file + ": is a directory");
        }
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new UserError(option + " " + file + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new UserError(option + " " + file + ": directory " + dir + " is not writable");
        }
    }

    private static String str(Object o) {
        return o == null ? null : o.toString();
    }

    private int ckInt(Map<String, String> ck, String key, int dflt) {
        return ck.containsKey(key) ? Integer.parseInt(ck.get(key)) : dflt;
    }

    /** An option's value, else the checkpoint's, else the default; a resume refuses a different value. */
    private int pick(String option, Integer given, Map<String, String> ck, String key, int dflt) {
        if (ck.containsKey(key)) {
            int v = Integer.parseInt(ck.get(key));
            if (given != null && given != v) {
                throw new UserError(option + " " + given + " differs from the checkpoint's " + v + "; a resume continues the same run");
            }
            return v;
        }
        return given != null ? given : dflt;
    }

    private double pickD(String option, Double given, Map<String, String> ck, String key, double dflt) {
        if (ck.containsKey(key)) {
            double v = Double.parseDouble(ck.get(key));
            if (given != null && given != v) {
                throw new UserError(option + " " + given + " differs from the checkpoint's " + v + "; a resume continues the same run");
            }
            return v;
        }
        return given != null ? given : dflt;
    }

    private long pickL(long given, Map<String, String> ck) {
        if (ck.containsKey("train.seed") && Long.parseLong(ck.get("train.seed")) != given) {
            throw new UserError("--seed " + given + " differs from the checkpoint's " + ck.get("train.seed")
                    + "; a resume continues the same run");
        }
        return given;
    }

    static <E extends Enum<E>> E parseEnum(Class<E> type, String option, String v) {
        String k = v.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        try {
            return Enum.valueOf(type, k);
        } catch (IllegalArgumentException e) {
            List<String> names = new ArrayList<>();
            for (E x : type.getEnumConstants()) names.add(x.name().toLowerCase(Locale.ROOT).replace('_', '-'));
            throw new UserError(option + " must be one of " + String.join(", ", names) + ", got '" + Messages.value(v) + "'");
        }
    }
}
