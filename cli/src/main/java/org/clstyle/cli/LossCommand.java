package org.clstyle.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.image.FloatImage;
import org.clstyle.io.AtomicFile;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.ImageLoss;
import org.clstyle.loss.LossFactory;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Preset;
import org.clstyle.loss.Recipe;
import org.clstyle.transfer.OutputGuard;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.Stylizer;
import org.clstyle.weights.VggWeights;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle loss}: the loss of one image against content and style images, as one JSON object of
 * raw terms and the weighted total, and optionally d total / d image as a float32 .npy [3, H, W].
 */
@Command(name = "loss", mixinStandardHelpOptions = true,
        description = "Evaluate the style-transfer loss of an image: prints {\"total\", \"content\", \"style\", \"tv\"} "
                + "as one JSON object (raw terms per layer) and can write d total / d image.")
final class LossCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--content", paramLabel = "FILE", description = "Content image (PNG/JPEG); leave out for texture synthesis.")
    Path content;

    @Option(names = "--style", paramLabel = "FILE", required = true, split = ",",
            description = "Style image; repeat or give a comma list to blend several.")
    List<Path> styles;

    @Option(names = "--image", paramLabel = "FILE", required = true, description = "The image whose loss is evaluated.")
    Path image;

    @Option(names = "--recipe", paramLabel = "FILE", description = "Recipe JSON; what it leaves out keeps the defaults for the weights (or the preset's).")
    Path recipe;

    @Option(names = "--preset", paramLabel = "NAME",
            description = "A published recipe (`clstyle presets`); overrides the recipe file's \"preset\", its other keys override the preset.")
    String preset;

    @Mixin
    CommonOptions.Inputs inputs;

    @Mixin
    CommonOptions.Device device;

    @Mixin
    CommonOptions.Tiling tiling;

    @Option(names = "--size", paramLabel = "N", description = "Resize every image so its longest side is N; default: their own sizes.")
    Integer size;

    @picocli.CommandLine.Mixin
    CommonOptions.Storage storage;

    @Option(names = "--grad-out", paramLabel = "FILE", description = "Write d total / d image as float32 .npy [3, H, W].")
    Path gradOut;

    @Override
    public Integer call() throws Exception {
        if (size != null && size < 1) {
            throw new UserError("--size must be a positive number of pixels, got " + size);
        }
        if (inputs.maxPixels < 1) {
            throw new UserError("--max-pixels must be a positive number of pixels, got " + inputs.maxPixels);
        }
        org.clstyle.nn.DeviceNetwork.Storage storageChoice = storage.storage(); // a bad --storage fails before any work
        LossFactory.Tiling tiles = tiling.tiling();
        if (gradOut != null) {
            checkGradOut();
        }
        Preset p;
        try {
            p = preset != null ? Preset.parse("--preset", preset) : recipe != null ? Recipe.presetIn(recipe) : null;
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        Path weightsFile;
        VggWeights w;
        try {
            weightsFile = Stylizer.resolveWeights(inputs.weights, p == null ? null : p.network());
            w = Stylizer.loadWeights(weightsFile);
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        }
        Recipe r = Recipe.defaultsFor(w.preprocessing());
        try {
            if (p != null) {
                String mismatch = p.networkMismatch(w.architecture().id(), weightsFile);
                if (mismatch != null) {
                    throw new UserError(mismatch);
                }
                r = p.recipe(r);
            }
            if (recipe != null) {
                r = Recipe.load(recipe, r, false); // one-line IllegalArgumentException naming the file
            }
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }

        FloatImage x = readImage("--image", image);
        FloatImage c = content == null ? null : readImage("--content", content);
        if (c != null && (c.height() != x.height() || c.width() != x.width())) {
            throw new UserError("--content " + content + " is " + c.width() + "x" + c.height() + " but --image " + image + " is "
                    + x.width() + "x" + x.height() + " (width x height); give images of one size or pass --size");
        }
        List<float[]> styleRgb = new ArrayList<>();
        List<int[]> styleHW = new ArrayList<>();
        for (Path s : styles) {
            FloatImage si = readImage("--style", s);
            styleRgb.add(si.data());
            styleHW.add(new int[] {si.height(), si.width()});
        }
        if (r.styleBlend().size() > 0 && r.styleBlend().size() != styles.size()) {
            throw new UserError((recipe != null ? recipe + ": " : "") + "style_blend has " + r.styleBlend().size()
                    + " weights for " + styles.size() + " --style image" + (styles.size() == 1 ? "" : "s"));
        }

        List<ClDevice> devs = device.devices();
        ClDevice dev = devs.get(0);
        LossFactory.Plan plan;
        try {
            plan = LossFactory.plan(w, r, c != null, x.height(), x.width(), styleHW, false, tiles.onDevices(devs.size()), 0);
        } catch (IllegalArgumentException e) {
            throw new UserError(tooSmall(e.getMessage()));
        }
        try {
            LossFactory.checkStorage(storageChoice, plan.tiled(), devs.size()); // before the plan's note
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        if (tiles.tile() > 0 || tiles.maxDeviceBytes() > 0) {
            spec.commandLine().getErr().println("clstyle: note: " + plan.description());
            spec.commandLine().getErr().flush();
        }
        LossValues v;
        float[] grad = null;
        List<ClContext> others = new ArrayList<>(); // the second and later devices' contexts
        try (ClContext ctx = new ClContext(dev, false)) {
            List<ClContext> contexts = new ArrayList<>(List.of(ctx));
            for (ClDevice d : devs.subList(1, devs.size())) {
                ClContext o = new ClContext(d, false);
                others.add(o);
                contexts.add(o);
            }
            try (ImageLoss loss = LossFactory.create(plan, contexts, w, r, c == null ? null : c.data(), x.height(), x.width(),
                    styleRgb, styleHW, false, storageChoice)) {
                if (loss instanceof org.clstyle.loss.ShardedTiledLoss sharded) {
                    spec.commandLine().getErr().println("clstyle: note: " + sharded.split());
                    spec.commandLine().getErr().flush();
                }
                ClBuffer xb = ctx.buffer(x.data(), 3, x.height(), x.width());
                ClBuffer gb = gradOut == null ? null : ctx.buffer(3, x.height(), x.width());
                v = loss.evaluate(xb, gb);
                if (gb != null) {
                    grad = gb.read();
                }
            }
        } catch (IllegalArgumentException e) {
            throw new UserError(tooSmall(e.getMessage()));
        } catch (org.clstyle.cl.ClException e) {
            if (e.isOutOfMemory()) {
                throw new UserError("not enough memory on " + dev.label() + " for a " + x.width() + "x" + x.height()
                        + " image (" + e.call() + ": " + e.errorName() + "); pass a smaller --size");
            }
            throw e;
        } finally {
            others.forEach(ClContext::close);
        }
        if (grad != null) {
            writeNpy(gradOut, grad, 3, x.height(), x.width());
        }
        ObjectMapper json = new ObjectMapper();
        ObjectNode out = json.createObjectNode();
        out.put("total", v.total());
        ObjectNode cn = out.putObject("content");
        v.content().forEach(cn::put);
        ObjectNode sn = out.putObject("style");
        v.style().forEach(sn::put);
        out.put("tv", v.tv());
        spec.commandLine().getOut().println(json.writeValueAsString(out));
        spec.commandLine().getOut().flush();
        return 0;
    }

    /**
     * The network's "image HxW is too small for LAYER" (the image must survive the poolings up to the
     * deepest layer the recipe reads) naming the option and file: --image, or --style for "style image k: ...".
     */
    private String tooSmall(String message) {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^style image (\\d+): (image .*)$").matcher(message);
        if (m.matches()) {
            int k = Integer.parseInt(m.group(1));
            return "--style " + (k >= 1 && k <= styles.size() ? styles.get(k - 1) : "#" + k) + ": " + m.group(2)
                    + "; pass a larger --size or use shallower layers";
        }
        if (message.startsWith("image ") && message.contains(" is too small for ")) {
            return "--image " + image + ": " + message + "; pass a larger --size or use shallower layers";
        }
        return message;
    }

    /** --grad-out: a writable .npy path that is none of the inputs, checked before any work. */
    private void checkGradOut() {
        Path abs = gradOut.toAbsolutePath();
        Path dir = abs.getParent();
        if (Files.isDirectory(abs)) {
            throw new UserError("--grad-out " + gradOut + ": is a directory");
        }
        if (dir == null || !Files.isDirectory(dir)) {
            throw new UserError("--grad-out " + gradOut + ": directory " + dir + " does not exist");
        }
        Map<String, Path> in = new LinkedHashMap<>();
        in.put("--image", image);
        if (content != null) {
            in.put("--content", content);
        }
        for (Path st : styles) {
            in.put("--style", st);
        }
        if (recipe != null) {
            in.put("--recipe", recipe);
        }
        if (inputs.weights != null) {
            in.put("--weights", inputs.weights);
        }
        try {
            OutputGuard.refuseInputs("--grad-out", gradOut, in);
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        }
    }

    /** A little-endian float32 .npy (format 1.0), written to a temporary name and renamed. */
    static void writeNpy(Path file, float[] data, int... shape) {
        StringBuilder dims = new StringBuilder();
        for (int s : shape) {
            dims.append(s).append(", ");
        }
        String shapeText = shape.length == 1 ? dims.toString().trim() : dims.substring(0, dims.length() - 2);
        String dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shapeText + "), }";
        int total = 10 + dict.length() + 1;
        String header = dict + " ".repeat((64 - total % 64) % 64) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length());
        ByteBuffer body = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        body.asFloatBuffer().put(data);
        try {
            AtomicFile.write(file, os -> {
                os.write(head.array());
                os.write(header.getBytes(StandardCharsets.US_ASCII));
                os.write(body.array());
            });
        } catch (java.nio.file.AccessDeniedException e) {
            throw new UserError("--grad-out " + file + ": permission denied");
        } catch (java.nio.file.FileSystemException e) {
            // Its file is our hidden temporary name: report the reason against the user's file.
            throw new UserError("--grad-out " + file + ": cannot write" + (e.getReason() == null ? "" : " (" + e.getReason() + ")"));
        } catch (IOException e) {
            throw new UserError("--grad-out " + file + ": cannot write");
        }
    }

    /** Reads an image for {@code option}, resized to the longest side --size when given. */
    private FloatImage readImage(String option, Path file) {
        try {
            FloatImage img = Images.read(file, inputs.maxPixels, note -> spec.commandLine().getErr().println("clstyle: note: " + note));
            return size == null ? img : Images.fitLongestSide(img, size);
        } catch (ImageException e) {
            throw new UserError(option + " " + e.getMessage());
        }
    }
}
