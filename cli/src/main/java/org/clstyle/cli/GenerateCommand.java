package org.clstyle.cli;

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
import org.clstyle.train.Generator;
import org.clstyle.train.GeneratorModel;
import org.clstyle.transfer.OutputGuard;
import org.clstyle.transfer.StylizeException;
import org.clstyle.weights.WeightsException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code clstyle generate}: run a trained generator: stylize photos, or synthesise a texture of any size. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Run a model from `clstyle train`: stylize --content photos (any size) in one pass each, or "
                + "synthesise a texture of --size. Several --content images reuse the loaded network; -o is then a folder.")
final class GenerateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "MODEL", description = "Model file from `clstyle train`.")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT",
            description = "Output image (.png, .jpg); with several --content images an existing folder (each written as NAME.png).")
    Path output;

    @Option(names = "--content", paramLabel = "IMAGE", split = ",", description = "Photo(s) to stylize (stylization models).")
    List<Path> contents = new ArrayList<>();

    @Option(names = "--size", paramLabel = "PX|WxH",
            description = "Output size: N (stylization: longest side; texture: N x N) or W x H (default: the photo's own size; a texture: the training size).")
    String size;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of the noise (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--max-pixels", paramLabel = "N", description = "Refuse inputs with more pixels than this (default: ${DEFAULT-VALUE}).")
    long maxPixels = Images.DEFAULT_MAX_PIXELS;

    @Mixin
    CommonOptions.Device device;

    /** Sides up to this; a generator's memory grows with the pixels. */
    static final int MAX_SIDE = 8192;

    @Override
    public Integer call() throws Exception {
        if (seed < 0) {
            throw new UserError("--seed must be non-negative, got " + seed);
        }
        if (maxPixels < 1) {
            throw new UserError("--max-pixels must be a positive number of pixels, got " + maxPixels);
        }
        int[] wh = null;
        boolean exact = false;
        if (size != null) {
            try {
                wh = TextureCommand.parseSize(size);
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
            exact = size.toLowerCase(Locale.ROOT).contains("x");
            if (wh[0] < 1 || wh[1] < 1 || wh[0] > MAX_SIDE || wh[1] > MAX_SIDE) {
                throw new UserError("--size sides must be 1 to " + MAX_SIDE + " pixels, got " + Messages.value(size));
            }
        }
        GeneratorModel m;
        try {
            m = GeneratorModel.load(model);
        } catch (WeightsException e) {
            throw new UserError("--model " + e.getMessage());
        }
        boolean stylization = m.spec().stylization();
        if (stylization && contents.isEmpty()) {
            throw new UserError("--model " + model + " stylizes photos: pass --content IMAGE");
        }
        if (!stylization && !contents.isEmpty()) {
            throw new UserError("--model " + model + " synthesises textures: it takes no --content (use --size)");
        }
        // Outputs: one file, or a folder for several photos.
        List<Path> outs = new ArrayList<>();
        if (contents.size() > 1) {
            if (!Files.isDirectory(output)) {
                throw new UserError("-o " + output + ": with " + contents.size() + " --content images, -o must be an existing folder");
            }
            for (Path c : contents) {
                String n = c.getFileName().toString();
                int dot = n.lastIndexOf('.');
                Path o = output.resolve((dot > 0 ? n.substring(0, dot) : n) + ".png");
                if (outs.contains(o)) {
                    throw new UserError("--content " + c + ": two photos named " + o.getFileName() + " would write the same output");
                }
                outs.add(o);
            }
        } else {
            outs.add(output);
        }
        Map<String, Path> in = new LinkedHashMap<>();
        in.put("--model", model);
        for (Path c : contents) in.put("--content", c);
        try {
            for (Path o : outs) {
                OutputGuard.refuseInputs("-o", o, in);
                try {
                    Images.checkWritable(o);
                } catch (ImageException e) {
                    throw new UserError("-o " + e.getMessage());
                }
            }
        } catch (StylizeException e) {
            throw new UserError(e.getMessage());
        }
        // Every photo read (and so checked) before anything is written.
        List<FloatImage> photos = new ArrayList<>();
        try {
            for (Path c : contents) {
                FloatImage img = Images.read(c, maxPixels, n -> { });
                if (wh != null) {
                    img = exact ? Images.resize(img, wh[0], wh[1]) : Images.fitLongestSide(img, wh[0]);
                }
                if ((long) img.width() * img.height() > 64L << 20) {
                    throw new UserError("--content " + c + " is " + img.width() + "x" + img.height() + ": pass a smaller --size");
                }
                photos.add(img);
            }
        } catch (ImageException e) {
            throw new UserError(e.getMessage());
        }
        int tw = wh != null ? wh[0] : Integer.parseInt(m.training().getOrDefault("train.size", "256"));
        int th = wh != null ? wh[1] : tw;

        ClDevice dev;
        try {
            dev = ClDevice.select(device.device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        try (ClContext ctx = new ClContext(dev, false); Generator g = new Generator(ctx, m)) {
            for (int i = 0; i < outs.size(); i++) {
                long t0 = System.nanoTime();
                FloatImage img = stylization ? g.generate(photos.get(i), 0, 0, seed) : g.generate(null, tw, th, seed);
                Images.write(img, outs.get(i));
                spec.commandLine().getOut().println(String.format(Locale.ROOT, "wrote %s (%dx%d, %.0f ms)", outs.get(i),
                        img.width(), img.height(), (System.nanoTime() - t0) / 1e6));
            }
        } catch (ImageException e) {
            throw new UserError(e.getMessage());
        } catch (IllegalStateException e) {
            throw new UserError("--model " + model + ": " + e.getMessage());
        } catch (ClException e) {
            if (e.isOutOfMemory()) {
                throw new UserError("not enough memory on " + dev.label() + " for this size (" + e.call() + ": "
                        + e.errorName() + "); pass a smaller --size");
            }
            throw e;
        }
        spec.commandLine().getOut().flush();
        return 0;
    }
}
