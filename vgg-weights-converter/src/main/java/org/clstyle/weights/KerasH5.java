package org.clstyle.weights;

import io.jhdf.HdfFile;
import io.jhdf.api.Attribute;
import io.jhdf.api.Dataset;
import io.jhdf.api.Group;
import io.jhdf.api.Node;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Keras' {@code vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5} or {@code vgg16_...} (HDF5, read with jhdf). Layout as Keras
 * writes it: root attribute {@code layer_names}; each layer group has attribute {@code weight_names}
 * (kernel first, then bias) naming datasets relative to the group, e.g. {@code block1_conv1/kernel:0}, with
 * kernels in HWIO order [3, 3, Cin, Cout]. A full-model file keeps the same under {@code model_weights}.
 */
final class KerasH5 {
    /** The 8-byte HDF5 signature; HDF5 also allows it at 512, 1024, 2048 ... after a user block. */
    static final byte[] SIGNATURE = {(byte) 0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

    private KerasH5() {
    }

    static boolean looksLike(ByteBuffer head) {
        for (int at = 0; at + 8 <= head.limit(); at = at == 0 ? 512 : at * 2) {
            boolean ok = true;
            for (int i = 0; i < 8 && ok; i++) {
                ok = head.get(at + i) == SIGNATURE[i];
            }
            if (ok) {
                return true;
            }
        }
        return false;
    }

    /** Keras' conv layer names, blockB_convC. */
    private static final Pattern CONV_LAYER = Pattern.compile("block\\d+_conv\\d+");

    /**
     * Every conv layer group (blockB_convC, in file order) with its kernel transposed to [Cout, Cin, 3, 3] and its
     * bias, under Keras' names; which network they make is the caller's to decide.
     */
    static Map<String, RawTensor[]> read(Path file) throws WeightsException {
        checkEndOfFile(file);
        try (HdfFile h5 = new HdfFile(file)) {
            Group root = h5;
            if (h5.getAttribute("layer_names") == null && h5.getChild("model_weights") instanceof Group g) {
                root = g;
            }
            Map<String, RawTensor[]> out = new LinkedHashMap<>();
            for (Map.Entry<String, Node> child : root.getChildren().entrySet()) {
                String layer = child.getKey();
                if (!CONV_LAYER.matcher(layer).matches() || !(child.getValue() instanceof Group g)) {
                    continue;
                }
                Attribute names = g.getAttribute("weight_names");
                if (names == null || !(names.getData() instanceof String[] wn) || wn.length < 2) {
                    throw new WeightsException(file + ": Keras layer " + layer + " lacks the weight_names attribute (kernel, bias)");
                }
                RawTensor kernel = dataset(file, g, wn[0]);
                RawTensor bias = dataset(file, g, wn[1]);
                int[] s = kernel.shape();
                if (s.length != 4 || s[0] != 3 || s[1] != 3) {
                    throw new WeightsException(file + ": Keras kernel " + layer + "/" + wn[0] + " has shape " + kernel.shapeString()
                            + ", expected [3, 3, Cin, Cout] (only the tf_dim_ordering files are supported)");
                }
                out.put(layer, new RawTensor[] {hwioToOihw(kernel), bias});
            }
            return out;
        } catch (WeightsException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new WeightsException(file + ": truncated or corrupt HDF5 file (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")");
        }
    }

    private static RawTensor dataset(Path file, Group g, String name) throws WeightsException {
        Node n = g.getByPath(name);
        if (!(n instanceof Dataset d)) {
            throw new WeightsException(file + ": Keras weight " + g.getPath() + name + " is missing");
        }
        Object flat = d.getDataFlat();
        float[] v;
        if (flat instanceof float[] f) {
            v = f;
        } else if (flat instanceof double[] dd) {
            v = new float[dd.length];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) dd[i];
            }
        } else {
            throw new WeightsException(file + ": Keras weight " + g.getPath() + name + " is " + d.getJavaType().getSimpleName()
                    + ", not floating point");
        }
        return new RawTensor(d.getDimensions().clone(), v);
    }

    /** [3, 3, Cin, Cout] -> [Cout, Cin, 3, 3]. */
    static RawTensor hwioToOihw(RawTensor k) {
        int kh = k.shape()[0], kw = k.shape()[1], ci = k.shape()[2], co = k.shape()[3];
        float[] src = k.data(), dst = new float[src.length];
        for (int h = 0; h < kh; h++) {
            for (int w = 0; w < kw; w++) {
                for (int i = 0; i < ci; i++) {
                    for (int o = 0; o < co; o++) {
                        dst[((o * ci + i) * kh + h) * kw + w] = src[((h * kw + w) * ci + i) * co + o];
                    }
                }
            }
        }
        return new RawTensor(new int[] {co, ci, kh, kw}, dst);
    }

    /**
     * The superblock records the end-of-file address; a shorter file is truncated even where the missing tail
     * holds nothing jhdf would read first.
     */
    private static void checkEndOfFile(Path file) throws WeightsException {
        ByteBuffer b = SafetensorsFile.map(file).order(ByteOrder.LITTLE_ENDIAN);
        int at = -1;
        for (int p = 0; p + 8 <= b.limit(); p = p == 0 ? 512 : p * 2) {
            boolean ok = true;
            for (int i = 0; i < 8 && ok; i++) {
                ok = b.get(p + i) == SIGNATURE[i];
            }
            if (ok) {
                at = p;
                break;
            }
        }
        if (at < 0) {
            throw new WeightsException(file + ": not an HDF5 file (no signature)");
        }
        try {
            int version = b.get(at + 8);
            long eof;
            if (version == 0 || version == 1) {
                int sizeOfOffsets = b.get(at + 13);
                int base = at + 24 + (version == 1 ? 4 : 0); // base, free-space, EOF, driver addresses follow
                if (sizeOfOffsets != 8) {
                    return; // unusual; leave it to jhdf
                }
                eof = b.getLong(base + 16);
            } else if (version == 2 || version == 3) {
                int sizeOfOffsets = b.get(at + 9);
                if (sizeOfOffsets != 8) {
                    return;
                }
                eof = b.getLong(at + 12 + 16); // base, extension, EOF
            } else {
                throw new WeightsException(file + ": HDF5 superblock version " + version + " is not supported");
            }
            if (eof != -1 && at + eof > b.limit()) {
                throw new WeightsException(file + ": truncated HDF5 file (" + b.limit() + " bytes, the superblock says " + (at + eof) + ")");
            }
        } catch (IndexOutOfBoundsException e) {
            throw new WeightsException(file + ": truncated HDF5 file (ends inside the superblock)");
        }
    }
}
