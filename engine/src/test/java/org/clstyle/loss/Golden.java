package org.clstyle.loss;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggWeights;

/** The PyTorch goldens under src/test/resources/golden (written by src/test/python/golden_loss.py). */
public final class Golden {
    private Golden() {}

    /** A float32 array with its shape. */
    public record Tensor(float[] data, int[] shape) {}

    /** The fixture directory. */
    public static Path dir() {
        try {
            return Path.of(Golden.class.getResource("/golden/cases.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** cases.json. */
    public static JsonNode cases() {
        try {
            return new ObjectMapper().readTree(dir().resolve("cases.json").toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** An 8-bit RGB PNG as [3, H, W] float32 v / 255 (what the Python side uses). */
    public static Tensor png(String name) {
        try {
            BufferedImage img = ImageIO.read(dir().resolve(name).toFile());
            int h = img.getHeight(), w = img.getWidth();
            float[] x = new float[3 * h * w];
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    int rgb = img.getRGB(j, i);
                    x[(0 * h + i) * w + j] = ((rgb >> 16) & 255) / 255f;
                    x[(1 * h + i) * w + j] = ((rgb >> 8) & 255) / 255f;
                    x[(2 * h + i) * w + j] = (rgb & 255) / 255f;
                }
            }
            return new Tensor(x, new int[] {3, h, w});
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A little-endian float32 .npy file. */
    public static Tensor npy(String name) {
        try {
            byte[] all = Files.readAllBytes(dir().resolve(name));
            ByteBuffer bb = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN);
            int major = all[6];
            int headerLen = major == 1 ? bb.getShort(8) & 0xffff : bb.getInt(8);
            int start = (major == 1 ? 10 : 12) + headerLen;
            String header = new String(all, major == 1 ? 10 : 12, headerLen, java.nio.charset.StandardCharsets.ISO_8859_1);
            if (!header.contains("'<f4'") || header.contains("'fortran_order': True")) {
                throw new IllegalStateException(name + ": not a C-order little-endian float32 .npy: " + header);
            }
            Matcher m = Pattern.compile("'shape': \\(([^)]*)\\)").matcher(header);
            if (!m.find()) {
                throw new IllegalStateException(name + ": no shape in " + header);
            }
            String[] dims = m.group(1).replace(" ", "").split(",");
            int[] shape = java.util.Arrays.stream(dims).filter(s -> !s.isEmpty()).mapToInt(Integer::parseInt).toArray();
            float[] data = new float[(all.length - start) / 4];
            bb.position(start);
            bb.asFloatBuffer().get(data);
            return new Tensor(data, shape);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The tiny network with the named case preprocessing ("caffe" is the file's own metadata). */
    public static VggWeights weights(String preprocessing) throws Exception {
        VggWeights file = VggWeights.load(dir().resolve(cases().get("weights").asText()));
        if (preprocessing.equals("caffe")) {
            return file;
        }
        JsonNode p = cases().get("preprocessing").get(preprocessing);
        Preprocessing pre = new Preprocessing(p.get("channel_order").asText(), p.get("input_scale").asDouble(),
                doubles(p.get("mean")), doubles(p.get("std")));
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        for (String l : org.clstyle.vgg.VggLayers.ALL) {
            if (l.startsWith("conv")) {
                w.put(l, file.weight(l));
                b.put(l, file.bias(l));
            }
        }
        return VggWeights.of(w, b, pre);
    }

    /** The case's recipe: its JSON read over the defaults for its weights. */
    public static Recipe recipe(JsonNode recipeJson, VggWeights weights) {
        return Recipe.parse(recipeJson.toString(), Recipe.defaultsFor(weights.preprocessing()));
    }

    private static double[] doubles(JsonNode arr) {
        double[] d = new double[arr.size()];
        for (int i = 0; i < d.length; i++) {
            d[i] = arr.get(i).asDouble();
        }
        return d;
    }

    /** max |x|. */
    public static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
