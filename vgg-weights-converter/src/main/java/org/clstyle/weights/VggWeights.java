package org.clstyle.weights;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The convolutions of a VGG network ({@link VggArchitecture}: VGG16's 13 or VGG19's 16; weights
 * [Cout, Cin, 3, 3] and biases [Cout], float32) with the preprocessing the network expects. Always
 * validated: every layer present, 3x3 kernels, conv1_1 takes 3 channels, each conv's Cin equals the
 * previous conv's Cout, and no NaN or infinity. A converted file records its network in its metadata
 * format ({@code clstyle-vgg19/1}, {@code clstyle-vgg16/1}).
 */
public final class VggWeights {
    /** The metadata format of a converted VGG19 file (kept for files written before VGG16 existed). */
    public static final String FORMAT = formatOf(VggArchitecture.VGG19);

    private final VggArchitecture architecture;
    private final float[][] weights; // [Cout, Cin, 3, 3] each
    private final float[][] biases;  // [Cout] each
    private final int[] cin;
    private final int[] cout;
    private final Preprocessing preprocessing;
    private final Map<String, String> metadata;

    /** The metadata format of a converted file holding {@code a}. */
    public static String formatOf(VggArchitecture a) {
        return "clstyle-" + a.id() + "/1";
    }

    /** The architecture a metadata format names, or null when it is no converted clstyle file's. */
    public static VggArchitecture architectureOfFormat(String format) {
        for (VggArchitecture a : VggArchitecture.values()) {
            if (formatOf(a).equals(format)) {
                return a;
            }
        }
        return null;
    }

    private VggWeights(VggArchitecture a, String label, Map<String, RawTensor> w, Map<String, RawTensor> b, Preprocessing p,
                       Map<String, String> extraMetadata) throws WeightsException {
        architecture = a;
        int L = a.convLayers().size();
        weights = new float[L][];
        biases = new float[L][];
        cin = new int[L];
        cout = new int[L];
        for (int l = 0; l < L; l++) {
            String conv = a.convLayers().get(l);
            RawTensor wt = w.get(conv), bt = b.get(conv);
            if (wt == null || bt == null) {
                throw new WeightsException(label + ": missing " + conv + (wt == null ? " weight" : " bias"));
            }
            int[] s = wt.shape();
            if (s.length != 4 || s[2] != 3 || s[3] != 3 || s[0] < 1 || s[1] < 1) {
                throw new WeightsException(label + ": " + conv + " weight has shape " + wt.shapeString() + ", expected [Cout, Cin, 3, 3]");
            }
            if (bt.shape().length != 1) {
                throw new WeightsException(label + ": " + conv + " bias has shape " + bt.shapeString() + ", expected [Cout]");
            }
            if (bt.shape()[0] != s[0]) {
                // Which of the two is wrong: the one that disagrees with the network's channel count, when one does.
                int full = a.fullChannels()[l];
                String detail = conv + " weight " + wt.shapeString() + " has " + s[0] + " output channels but its bias "
                        + bt.shapeString() + " has " + bt.shape()[0];
                if (bt.shape()[0] == full && s[0] != full) {
                    detail += "; the weight is wrong (" + a.name() + "'s " + conv + " has " + full + ")";
                } else if (s[0] == full && bt.shape()[0] != full) {
                    detail += "; the bias is wrong (" + a.name() + "'s " + conv + " has " + full + ")";
                }
                throw new WeightsException(label + ": " + detail);
            }
            int expectIn = l == 0 ? VggArchitecture.IMAGE_CHANNELS : cout[l - 1];
            if (s[1] != expectIn) {
                throw new WeightsException(label + ": " + conv + " takes " + s[1] + " input channels but "
                        + (l == 0 ? "the image has 3" : a.convLayers().get(l - 1) + " gives " + expectIn));
            }
            checkFinite(label, conv + " weight", wt.data());
            checkFinite(label, conv + " bias", bt.data());
            cout[l] = s[0];
            cin[l] = s[1];
            weights[l] = wt.data();
            biases[l] = bt.data();
        }
        preprocessing = p;
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", formatOf(a));
        m.putAll(extraMetadata);
        m.putAll(p.toMetadata());
        metadata = Collections.unmodifiableMap(m);
    }

    private static void checkFinite(String label, String what, float[] v) throws WeightsException {
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                throw new WeightsException(label + ": " + what + " holds " + v[i] + " at index " + i);
            }
        }
    }

    /** Builds weights of {@code a} from tensors named conv1_1 ...; {@code label} names the source in messages. */
    static VggWeights fromTensors(VggArchitecture a, String label, Map<String, RawTensor> weights, Map<String, RawTensor> biases,
                                  Preprocessing p, Map<String, String> sourceMetadata) throws WeightsException {
        return new VggWeights(a, label, weights, biases, p, sourceMetadata);
    }

    /** In-memory VGG19 weights (tests, synthetic networks): shapes follow from the bias lengths and the 3x3 kernels. */
    public static VggWeights of(Map<String, float[]> weights, Map<String, float[]> biases, Preprocessing p) {
        return of(VggArchitecture.VGG19, weights, biases, p);
    }

    /** In-memory weights of {@code a}: shapes follow from the bias lengths and the 3x3 kernels. */
    public static VggWeights of(VggArchitecture a, Map<String, float[]> weights, Map<String, float[]> biases, Preprocessing p) {
        Map<String, RawTensor> w = new LinkedHashMap<>(), b = new LinkedHashMap<>();
        for (String conv : a.convLayers()) {
            float[] wv = weights.get(conv), bv = biases.get(conv);
            if (wv == null || bv == null) {
                continue; // reported as missing below
            }
            int co = bv.length;
            if (co == 0 || wv.length % (co * 9) != 0) {
                throw new IllegalArgumentException(conv + ": " + wv.length + " weights do not make [" + co + ", Cin, 3, 3]");
            }
            w.put(conv, new RawTensor(new int[] {co, wv.length / (co * 9), 3, 3}, wv));
            b.put(conv, new RawTensor(new int[] {co}, bv));
        }
        try {
            return new VggWeights(a, "in-memory weights", w, b, p, Map.of());
        } catch (WeightsException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** Loads and validates a converted file (memory-mapped; the full VGG19 takes a fraction of a second). */
    public static VggWeights load(Path file) throws WeightsException {
        if (!Files.isRegularFile(file)) {
            throw new WeightsException(file + ": " + (Files.exists(file) ? "not a regular file" : "no such file"));
        }
        SafetensorsFile f;
        try {
            f = SafetensorsFile.open(file);
        } catch (WeightsException e) {
            throw new WeightsException(e.getMessage() + "; convert the original with `clstyle weights convert`");
        }
        Map<String, String> meta = f.metadata();
        VggArchitecture a = architectureOfFormat(meta.get("format"));
        if (a == null) {
            throw new WeightsException(file + ": not a converted clstyle VGG file (metadata format is "
                    + (meta.get("format") == null ? "missing" : "'" + meta.get("format") + "'") + "); convert it with `clstyle weights convert`");
        }
        Preprocessing p;
        try {
            p = Preprocessing.fromMetadata(meta);
        } catch (IllegalArgumentException e) {
            throw new WeightsException(file + ": " + e.getMessage());
        }
        Map<String, RawTensor> w = new LinkedHashMap<>(), b = new LinkedHashMap<>();
        for (String conv : a.convLayers()) {
            for (String kind : List.of("weight", "bias")) {
                String key = conv + "." + kind;
                SafetensorsFile.Entry e = f.entry(key);
                if (e == null) {
                    throw new WeightsException(file + ": missing tensor " + key);
                }
                if (e.dtype() != Floats.F32) {
                    throw new WeightsException(file + ": tensor " + key + " is " + e.dtype() + ", expected F32");
                }
                (kind.equals("weight") ? w : b).put(conv, f.read(key));
            }
        }
        Map<String, String> extra = new LinkedHashMap<>(meta);
        extra.keySet().removeAll(List.of("format", "channel_order", "input_scale", "mean", "std"));
        return new VggWeights(a, file.toString(), w, b, p, extra);
    }

    /** Writes the file (temporary name, then rename: never a partial file). */
    public void save(Path file) throws WeightsException {
        Map<String, RawTensor> t = new LinkedHashMap<>();
        for (int l = 0; l < cout.length; l++) {
            String conv = architecture.convLayers().get(l);
            t.put(conv + ".weight", new RawTensor(new int[] {cout[l], cin[l], 3, 3}, weights[l]));
            t.put(conv + ".bias", new RawTensor(new int[] {cout[l]}, biases[l]));
        }
        SafetensorsFile.write(file, metadata, t);
    }

    /** The network these weights belong to. */
    public VggArchitecture architecture() {
        return architecture;
    }

    public Preprocessing preprocessing() {
        return preprocessing;
    }

    /** All metadata, including format, source_* and the preprocessing entries. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The weights of a conv, [Cout, Cin, 3, 3] row-major. The array is shared: do not modify it. */
    public float[] weight(String conv) {
        return weights[layer(conv)];
    }

    /** The bias of a conv, [Cout]. The array is shared: do not modify it. */
    public float[] bias(String conv) {
        return biases[layer(conv)];
    }

    public int outChannels(String conv) {
        return cout[layer(conv)];
    }

    public int inChannels(String conv) {
        return cin[layer(conv)];
    }

    /** True when every conv has the published width. */
    public boolean isFullWidth() {
        return Arrays.equals(cout, architecture.fullChannels());
    }

    private int layer(String conv) {
        int l = architecture.convIndex(conv);
        if (l < 0) {
            throw new IllegalArgumentException("not a " + architecture.name() + " conv layer: " + conv
                    + " (expected one of " + architecture.convLayers() + ")");
        }
        return l;
    }
}
