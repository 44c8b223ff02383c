package org.clstyle.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.awt.Graphics2D;
import java.awt.Image;
import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;
import picocli.CommandLine.Command;
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

    @Option(names = "--style", paramLabel = "FILE", required = true, description = "Style image; repeat to blend several.")
    List<Path> styles;

    @Option(names = "--image", paramLabel = "FILE", required = true, description = "The image whose loss is evaluated.")
    Path image;

    @Option(names = "--recipe", paramLabel = "FILE", description = "Recipe JSON; what it leaves out keeps the defaults for the weights.")
    Path recipe;

    @Option(names = "--weights", paramLabel = "FILE", description = "Converted VGG19 weights (.safetensors); default $CLSTYLE_WEIGHTS.")
    Path weights;

    @Option(names = "--device", paramLabel = "D", description = "OpenCL device: index or name substring (see 'clstyle devices').")
    String device;

    @Option(names = "--size", paramLabel = "N", description = "Resize every image so its longest side is N; default: their own sizes.")
    Integer size;

    @Option(names = "--grad-out", paramLabel = "FILE", description = "Write d total / d image as float32 .npy [3, H, W].")
    Path gradOut;

    @Override
    public Integer call() throws Exception {
        if (size != null && size < 1) {
            throw new UserError("--size must be a positive number of pixels, got " + size);
        }
        Path weightsFile = weights;
        if (weightsFile == null) {
            String env = System.getenv("CLSTYLE_WEIGHTS");
            if (env == null || env.isBlank()) {
                throw new UserError("no weights: pass --weights FILE (a converted VGG19 .safetensors) or set CLSTYLE_WEIGHTS");
            }
            weightsFile = Path.of(env);
        }
        VggWeights w;
        try {
            w = VggWeights.load(weightsFile);
        } catch (WeightsException e) {
            throw new UserError(e.getMessage());
        }
        Recipe r = Recipe.defaultsFor(w.preprocessing());
        if (recipe != null) {
            r = Recipe.load(recipe, r); // one-line IllegalArgumentException naming the file
        }

        RgbImage x = RgbImage.read("--image", image, size);
        RgbImage c = content == null ? null : RgbImage.read("--content", content, size);
        if (c != null && (c.h != x.h || c.w != x.w)) {
            throw new UserError("--content " + content + " is " + c.w + "x" + c.h + " but --image " + image + " is "
                    + x.w + "x" + x.h + " (width x height); give images of one size or pass --size");
        }
        List<float[]> styleRgb = new ArrayList<>();
        List<int[]> styleHW = new ArrayList<>();
        for (Path s : styles) {
            RgbImage si = RgbImage.read("--style", s, size);
            styleRgb.add(si.rgb);
            styleHW.add(new int[] {si.h, si.w});
        }
        if (r.styleBlend().size() > 0 && r.styleBlend().size() != styles.size()) {
            throw new UserError((recipe != null ? recipe + ": " : "") + "style_blend has " + r.styleBlend().size()
                    + " weights for " + styles.size() + " --style image" + (styles.size() == 1 ? "" : "s"));
        }

        ClDevice dev = ClDevice.select(device);
        LossValues v;
        float[] grad = null;
        try (ClContext ctx = new ClContext(dev, false);
                LossFunction loss = new LossFunction(ctx, w, r, c == null ? null : c.rgb, x.h, x.w, styleRgb, styleHW)) {
            ClBuffer xb = ctx.buffer(x.rgb, 3, x.h, x.w);
            ClBuffer gb = gradOut == null ? null : ctx.buffer(3, x.h, x.w);
            v = loss.evaluate(xb, gb);
            if (gb != null) {
                grad = gb.read();
            }
        }
        if (grad != null) {
            writeNpy(gradOut, grad, 3, x.h, x.w);
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

    /** A little-endian float32 .npy (format 1.0), written to a temporary name and renamed. */
    static void writeNpy(Path file, float[] data, int... shape) {
        StringBuilder dims = new StringBuilder();
        for (int s : shape) {
            dims.append(s).append(", ");
        }
        String shapeText = shape.length == 1 ? dims.toString().trim() : dims.substring(0, dims.length() - 2);
        String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shapeText + "), }";
        int total = 10 + header.length() + 1;
        header = header + " ".repeat((64 - total % 64) % 64) + "\n";
        ByteBuffer head = ByteBuffer.allocate(10).order(ByteOrder.LITTLE_ENDIAN);
        head.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0)
                .putShort((short) header.length());
        ByteBuffer body = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        body.asFloatBuffer().put(data);
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling("." + abs.getFileName() + ".tmp");
        try {
            try (OutputStream os = Files.newOutputStream(tmp)) {
                os.write(head.array());
                os.write(header.getBytes(StandardCharsets.US_ASCII));
                os.write(body.array());
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // the original error is the one to report
            }
            throw new UserError("--grad-out " + file + ": cannot write: " + e.getMessage());
        }
    }

    /**
     * A minimal image reader for this command (PNG/JPEG through javax.imageio, alpha ignored, 8-bit gray
     * read from the raster so its values are not gamma-converted); org.clstyle.image.Images replaces it.
     */
    static final class RgbImage {
        final int h, w;
        final float[] rgb; // [3, h, w] in [0,1]

        private RgbImage(int h, int w, float[] rgb) {
            this.h = h;
            this.w = w;
            this.rgb = rgb;
        }

        static RgbImage read(String option, Path file, Integer longest) {
            BufferedImage img;
            try {
                if (!Files.isRegularFile(file)) {
                    throw new UserError(option + " " + file + ": no such file");
                }
                img = ImageIO.read(file.toFile());
            } catch (IOException e) {
                throw new UserError(option + " " + file + ": cannot read image: " + e.getMessage());
            }
            if (img == null) {
                throw new UserError(option + " " + file + ": not an image javax.imageio can read (use PNG or JPEG)");
            }
            img = toRgb(img);
            if (longest != null && Math.max(img.getWidth(), img.getHeight()) != longest) {
                img = resize(img, longest);
            }
            int h = img.getHeight(), w = img.getWidth();
            float[] x = new float[3 * h * w];
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    int p = img.getRGB(j, i);
                    x[i * w + j] = ((p >> 16) & 255) / 255f;
                    x[(h + i) * w + j] = ((p >> 8) & 255) / 255f;
                    x[(2 * h + i) * w + j] = (p & 255) / 255f;
                }
            }
            return new RgbImage(h, w, x);
        }

        /**
         * The image as 8-bit sRGB, alpha dropped. 8-bit gray is read from the raster: Java's gray colour
         * space is linear, so getRGB would brighten it.
         */
        private static BufferedImage toRgb(BufferedImage img) {
            int h = img.getHeight(), w = img.getWidth();
            BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Raster raster = img.getRaster();
            boolean gray8 = img.getColorModel().getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
                    && img.getColorModel().getComponentSize(0) == 8;
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    int p;
                    if (gray8) {
                        int v = raster.getSample(j, i, 0);
                        p = (v << 16) | (v << 8) | v;
                    } else {
                        p = img.getRGB(j, i) & 0xffffff;
                    }
                    out.setRGB(j, i, p);
                }
            }
            return out;
        }

        /** Area-averaged scaling so the longest side is {@code longest}. */
        private static BufferedImage resize(BufferedImage img, int longest) {
            double s = (double) longest / Math.max(img.getWidth(), img.getHeight());
            int w = Math.max(1, (int) Math.round(img.getWidth() * s));
            int h = Math.max(1, (int) Math.round(img.getHeight() * s));
            Image scaled = img.getScaledInstance(w, h, Image.SCALE_AREA_AVERAGING);
            BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
            Graphics2D g = out.createGraphics();
            g.drawImage(scaled, 0, 0, null);
            g.dispose();
            return out;
        }
    }
}
