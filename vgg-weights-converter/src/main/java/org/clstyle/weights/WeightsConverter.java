package org.clstyle.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Pattern;

/**
 * Turns any published VGG16 or VGG19 weights file into {@link VggWeights}. The format is recognised by content
 * (magic bytes and structure), never by the file name's extension, and the network by the convolutions the file
 * holds: exactly VGG16's 13 or VGG19's 16 (torchvision's features.N indices, conv1_1 ... names, Keras'
 * blockB_convC groups or Caffe's conv layers); any other set is refused in one line that says what is missing.
 */
public final class WeightsConverter {
    /** Values of the metadata entry source_format. */
    public static final String TORCHVISION_PTH = "torchvision-pth", LEGACY_PTH = "legacy-pth", CAFFEMODEL = "caffemodel",
            KERAS_H5 = "keras-h5", SAFETENSORS = "safetensors", GATYS_PTH = "gatys-pth";

    /** SHA-256 prefixes of the published VGG19 files: torch.hub names files by the first 8 hex digits of their SHA-256. */
    public static final String TORCHVISION_SHA256_PREFIX = "dcbb9e9d", CAFFE_PTH_SHA256_PREFIX = "d01eb7cb";

    /** The same for the published VGG16 files (torchvision's vgg16-397923af.pth, J. Johnson's vgg16-00b39a1b.pth). */
    public static final String VGG16_TORCHVISION_SHA256_PREFIX = "397923af", VGG16_CAFFE_PTH_SHA256_PREFIX = "00b39a1b";

    /** A published .pth recognised by its SHA-256 prefix, and what it implies. */
    public record KnownFile(String sha256Prefix, VggArchitecture architecture, String fileName, String sourceFormat,
                            Preprocessing preprocessing, String origin) {
    }

    /** Every published file whose hash prefix decides the preprocessing. */
    public static final List<KnownFile> KNOWN_FILES = List.of(
            new KnownFile(TORCHVISION_SHA256_PREFIX, VggArchitecture.VGG19, "vgg19-dcbb9e9d.pth", TORCHVISION_PTH,
                    Preprocessing.TORCHVISION, "torchvision"),
            new KnownFile(CAFFE_PTH_SHA256_PREFIX, VggArchitecture.VGG19, "vgg19-d01eb7cb.pth", LEGACY_PTH,
                    Preprocessing.CAFFE, "Caffe-converted"),
            new KnownFile(VGG16_TORCHVISION_SHA256_PREFIX, VggArchitecture.VGG16, "vgg16-397923af.pth", TORCHVISION_PTH,
                    Preprocessing.TORCHVISION, "torchvision"),
            new KnownFile(VGG16_CAFFE_PTH_SHA256_PREFIX, VggArchitecture.VGG16, "vgg16-00b39a1b.pth", LEGACY_PTH,
                    Preprocessing.CAFFE, "Caffe-converted"));

    /** What was read, which network it is, and why the preprocessing is what it is. */
    public record Result(VggWeights weights, String sourceFormat, String preprocessingReason) {
        /** The network the file holds (detected from its convolutions). */
        public VggArchitecture architecture() {
            return weights.architecture();
        }
    }

    private WeightsConverter() {
    }

    /** Reads and converts {@code in}, then writes {@code out} atomically. */
    public static Result convert(Path in, Path out, Preprocessing override) throws WeightsException {
        Result r = read(in, override);
        r.weights().save(out);
        return r;
    }

    /** The known published file with this SHA-256 holding network {@code a}, or null. */
    static KnownFile knownFile(String sha256, VggArchitecture a) {
        for (KnownFile k : KNOWN_FILES) {
            if (sha256.startsWith(k.sha256Prefix()) && k.architecture() == a) {
                return k;
            }
        }
        return null;
    }

    /**
     * Reads any supported file. {@code override}, when not null, replaces the preprocessing the source implies
     * (for a file whose origin its content does not show).
     */
    public static Result read(Path in, Preprocessing override) throws WeightsException {
        if (!Files.isRegularFile(in)) {
            throw new WeightsException(in + ": " + (Files.exists(in) ? "not a regular file" : "no such file"));
        }
        ByteBuffer head;
        long size;
        try (FileChannel ch = FileChannel.open(in, StandardOpenOption.READ)) {
            size = ch.size();
            head = ByteBuffer.allocate((int) Math.min(size, 4096));
            while (head.hasRemaining() && ch.read(head) > 0) {
                // fill
            }
            head.flip();
        } catch (IOException e) {
            throw new WeightsException(in + ": cannot read (" + Io.describe(e) + ")");
        }
        if (size == 0) {
            throw new WeightsException(in + ": empty file");
        }
        String sha = Io.sha256(in);
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("source_file", in.getFileName().toString());
        meta.put("source_sha256", sha);

        Named named;
        if (startsWith(head, "PK\u0003\u0004")) {
            try (TorchPth pth = TorchPth.openZip(in)) {
                named = fromStateDict(in, pth, true, sha);
            }
        } else if (KerasH5.looksLike(head)) {
            Map<String, RawTensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, RawTensor[]> e : KerasH5.read(in).entrySet()) {
                tensors.put(e.getKey() + ".weight", e.getValue()[0]);
                tensors.put(e.getKey() + ".bias", e.getValue()[1]);
            }
            VggArchitecture a = detect(in, KERAS_H5, Naming.KERAS, "", tensors.keySet());
            named = new Named(a, KERAS_H5, Preprocessing.CAFFE, "Keras " + a.name() + " (converted from Caffe: BGR, caffe-style mean)");
            named.map(in, Naming.KERAS, "", tensors::containsKey, tensors::get);
        } else if (SafetensorsFile.looksLike(head)) {
            named = fromSafetensors(in, SafetensorsFile.open(in), meta);
        } else if (head.limit() >= 2 && (head.get(0) & 0xff) == 0x80 && head.get(1) >= 2 && head.get(1) <= 5) {
            try (TorchPth pth = TorchPth.openLegacy(in)) {
                named = fromStateDict(in, pth, false, sha);
            }
        } else if (head.limit() >= 262 && new String(bytes(head, 257, 5), StandardCharsets.US_ASCII).equals("ustar")) {
            throw new WeightsException(in + ": a tar archive (the PyTorch format before 0.4) is not supported; re-save it with a newer torch.save");
        } else if (CaffeModel.looksLike(head)) {
            Map<String, RawTensor> tensors = new LinkedHashMap<>();
            for (Map.Entry<String, List<RawTensor>> e : CaffeModel.convolutions(CaffeModel.read(in)).entrySet()) {
                if (!Naming.CONV_NAMES.matches(e.getKey() + ".weight")) {
                    continue; // e.g. an fc6 turned into a convolution: not part of the feature extractor
                }
                List<RawTensor> blobs = e.getValue();
                if (blobs.size() != 2) {
                    throw new WeightsException(in + ": Caffe layer " + e.getKey() + " has " + blobs.size() + " blobs, expected weights and bias");
                }
                tensors.put(e.getKey() + ".weight", blobs.get(0));
                tensors.put(e.getKey() + ".bias", flattenBias(blobs.get(1)));
            }
            VggArchitecture a = detect(in, CAFFEMODEL, Naming.CONV_NAMES, "", tensors.keySet());
            named = new Named(a, CAFFEMODEL, Preprocessing.CAFFE, "Caffe model (BGR, 0..255, ImageNet mean)");
            named.map(in, Naming.CONV_NAMES, "", tensors::containsKey, tensors::get);
        } else {
            throw new WeightsException(in + ": not a recognised VGG weights file (expected a PyTorch .pth, a Caffe .caffemodel, "
                    + "a Keras .h5 or a .safetensors file)");
        }
        Preprocessing p = named.preprocessing;
        String reason = named.reason;
        if (override != null) {
            p = override;
            reason = "chosen with --preprocessing";
        }
        if (!meta.containsKey("source_format")) {
            meta.put("source_format", named.format);
        }
        return new Result(VggWeights.fromTensors(named.architecture, in.toString(), named.weights, named.biases, p, meta),
                named.format, reason);
    }

    /** Tensors by VGG name, the network, and what the source implies. */
    private static final class Named {
        final VggArchitecture architecture;
        final String format;
        final Preprocessing preprocessing;
        final String reason;
        final Map<String, RawTensor> weights = new LinkedHashMap<>(), biases = new LinkedHashMap<>();

        Named(VggArchitecture a, String format, Preprocessing p, String reason) {
            this.architecture = a;
            this.format = format;
            this.preprocessing = p;
            this.reason = reason;
        }

        /** Takes every conv of the network from the file's keys; a weight without its bias is an error. */
        void map(Path in, Naming naming, String prefix, Predicate<String> has, TensorSource src) throws WeightsException {
            for (int l = 0; l < architecture.convLayers().size(); l++) {
                String base = prefix + naming.id(architecture, l);
                String conv = architecture.convLayers().get(l);
                if (!has.test(base + ".bias")) {
                    throw new WeightsException(in + ": a " + format + " file with " + conv + "'s weight (" + base + ".weight) but not its bias ("
                            + base + ".bias)");
                }
                weights.put(conv, src.get(base + ".weight"));
                biases.put(conv, src.get(base + ".bias"));
            }
        }
    }

    private interface TensorSource {
        RawTensor get(String key) throws WeightsException;
    }

    /** How a file names its convolutions: the id of conv l of a network, and the pattern of a conv weight key. */
    private enum Naming {
        /** torchvision's nn.Sequential: features.0, features.2, ... */
        TORCHVISION(Pattern.compile("features\\.(\\d+)\\.weight")),
        /** VGG's own names, as in Caffe, Gatys et al.'s vgg_conv.pth and clstyle's files: conv1_1 ... */
        CONV_NAMES(Pattern.compile("conv(\\d+)_(\\d+)\\.weight")),
        /** Keras applications: block1_conv1 ... */
        KERAS(Pattern.compile("block(\\d+)_conv(\\d+)\\.weight"));

        final Pattern weightKey;

        Naming(Pattern weightKey) {
            this.weightKey = weightKey;
        }

        String id(VggArchitecture a, int layer) {
            return switch (this) {
                case TORCHVISION -> a.torchvisionPrefix(layer);
                case CONV_NAMES -> a.convLayers().get(layer);
                case KERAS -> a.kerasName(layer);
            };
        }

        boolean matches(String key) {
            return weightKey.matcher(key).matches();
        }

        /** How a missing conv is named in a message: conv5_4 (features.34.weight). */
        String describe(VggArchitecture a, int layer, String prefix) {
            String conv = a.convLayers().get(layer);
            return this == CONV_NAMES ? prefix + conv : conv + " (" + prefix + id(a, layer) + ".weight)";
        }
    }

    /**
     * The network whose convolutions are exactly those present: every weight key of {@code naming}'s pattern after
     * {@code prefix}. Any other set (a truncated network, a mix of both, a batch-normalised variant) is refused in one
     * line that names, for each network, what is missing and what does not belong.
     */
    private static VggArchitecture detect(Path in, String format, Naming naming, String prefix, Collection<String> keys)
            throws WeightsException {
        List<String> present = new ArrayList<>(); // conv ids, e.g. features.5
        for (String k : keys) {
            if (k.startsWith(prefix) && naming.matches(k.substring(prefix.length()))) {
                present.add(k.substring(prefix.length(), k.length() - ".weight".length()));
            }
        }
        present.sort(NATURAL);
        if (present.isEmpty()) {
            throw new WeightsException(in + ": a " + format + " file without VGG convolutions (no " + prefix
                    + naming.id(VggArchitecture.VGG19, 0) + ".weight)");
        }
        for (VggArchitecture a : VggArchitecture.values()) {
            if (new HashSet<>(present).equals(new HashSet<>(ids(naming, a)))) {
                return a;
            }
        }
        List<String> why = new ArrayList<>(), counts = new ArrayList<>();
        for (VggArchitecture a : VggArchitecture.values()) {
            List<String> want = ids(naming, a);
            List<String> missing = new ArrayList<>(), extra = new ArrayList<>();
            for (int l = 0; l < want.size(); l++) {
                if (!present.contains(want.get(l))) {
                    missing.add(naming.describe(a, l, prefix));
                }
            }
            for (String id : present) {
                if (!want.contains(id)) {
                    extra.add(prefix + id + (naming == Naming.CONV_NAMES ? "" : ".weight"));
                }
            }
            counts.add(a.name() + "'s " + want.size());
            why.add("as " + a.name() + " it lacks " + (missing.isEmpty() ? "nothing" : list(missing))
                    + (extra.isEmpty() ? "" : " and has " + list(extra) + " besides"));
        }
        String bn = naming == Naming.TORCHVISION && keys.stream().anyMatch(k -> k.endsWith(".running_mean"))
                ? " (batch-normalised VGGs such as torchvision's vgg16_bn are not supported)" : "";
        throw new WeightsException(in + ": a " + format + " file with " + present.size() + " convolution" + (present.size() == 1 ? "" : "s")
                + " that " + (present.size() == 1 ? "is" : "are") + " neither "
                + String.join(" nor ", counts) + bn + ": " + String.join("; ", why));
    }

    private static List<String> ids(Naming naming, VggArchitecture a) {
        List<String> ids = new ArrayList<>();
        for (int l = 0; l < a.convLayers().size(); l++) {
            ids.add(naming.id(a, l));
        }
        return ids;
    }

    /** At most five items, then a count. */
    private static String list(List<String> items) {
        return items.size() <= 5 ? String.join(", ", items)
                : String.join(", ", items.subList(0, 5)) + " and " + (items.size() - 5) + " more";
    }

    /** Orders ids by the numbers in them: features.2 before features.10. */
    private static final Comparator<String> NATURAL = (x, y) -> {
        int[] a = numbers(x), b = numbers(y);
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            if (a[i] != b[i]) {
                return Integer.compare(a[i], b[i]);
            }
        }
        return a.length != b.length ? Integer.compare(a.length, b.length) : x.compareTo(y);
    };

    private static int[] numbers(String s) {
        return Pattern.compile("\\d+").matcher(s).results().mapToInt(m -> {
            try {
                return Integer.parseInt(m.group());
            } catch (NumberFormatException e) {
                return Integer.MAX_VALUE;
            }
        }).toArray();
    }

    private static Named fromStateDict(Path in, TorchPth pth, boolean zip, String sha) throws WeightsException {
        List<String> keys = new ArrayList<>(pth.stateDict().keySet());
        String tvPrefix = prefixOf(keys, "features.0.weight");
        String convPrefix = prefixOf(keys, "conv1_1.weight");
        Named named;
        if (tvPrefix != null) {
            VggArchitecture a = detect(in, zip ? TORCHVISION_PTH : LEGACY_PTH, Naming.TORCHVISION, tvPrefix, keys);
            KnownFile k = knownFile(sha, a);
            if (k != null) {
                named = new Named(a, k.sourceFormat(), k.preprocessing(), "the published " + k.origin() + " " + k.fileName()
                        + " (SHA-256 starts " + k.sha256Prefix() + ")");
            } else if (zip) {
                named = new Named(a, TORCHVISION_PTH, Preprocessing.TORCHVISION, "torchvision key names in a zip-format .pth");
            } else {
                named = new Named(a, LEGACY_PTH, Preprocessing.CAFFE, "torchvision key names in a legacy-format .pth, like the "
                        + "Caffe-converted " + knownCaffe(a) + "; use --preprocessing torchvision if it came from torchvision");
            }
            named.map(in, Naming.TORCHVISION, tvPrefix, pth.stateDict()::containsKey, pth::tensor);
        } else if (convPrefix != null) {
            VggArchitecture a = detect(in, GATYS_PTH, Naming.CONV_NAMES, convPrefix, keys);
            named = new Named(a, GATYS_PTH, Preprocessing.CAFFE, "VGG layer names (Gatys et al.'s normalised vgg_conv.pth: Caffe preprocessing)");
            named.map(in, Naming.CONV_NAMES, convPrefix, pth.stateDict()::containsKey, pth::tensor);
        } else {
            throw new WeightsException(in + ": a PyTorch file without VGG layers (no features.0.weight or conv1_1.weight; keys: "
                    + preview(keys) + ")");
        }
        return named;
    }

    private static String knownCaffe(VggArchitecture a) {
        for (KnownFile k : KNOWN_FILES) {
            if (k.architecture() == a && k.preprocessing().equals(Preprocessing.CAFFE)) {
                return k.fileName();
            }
        }
        return "files";
    }

    private static Named fromSafetensors(Path in, SafetensorsFile f, Map<String, String> meta) throws WeightsException {
        List<String> keys = new ArrayList<>(f.names());
        String tvPrefix = prefixOf(keys, "features.0.weight");
        String convPrefix = prefixOf(keys, "conv1_1.weight");
        VggArchitecture recorded = VggWeights.architectureOfFormat(f.metadata().get("format"));
        Named named;
        if (recorded != null && convPrefix != null) {
            // A file this converter wrote: keep its recorded source and preprocessing.
            Preprocessing p;
            try {
                p = Preprocessing.fromMetadata(f.metadata());
            } catch (IllegalArgumentException e) {
                throw new WeightsException(in + ": " + e.getMessage());
            }
            for (String k : List.of("source_file", "source_sha256", "source_format")) {
                if (f.metadata().containsKey(k)) {
                    meta.put(k, f.metadata().get(k));
                }
            }
            VggArchitecture a = detect(in, SAFETENSORS, Naming.CONV_NAMES, convPrefix, keys);
            if (a != recorded) {
                throw new WeightsException(in + ": its metadata says " + recorded.id() + " but it holds the " + a.convLayers().size()
                        + " convolutions of " + a.id());
            }
            named = new Named(a, SAFETENSORS, p, "recorded in the file's clstyle metadata");
            named.map(in, Naming.CONV_NAMES, convPrefix, f.names()::contains, f::read);
        } else if (tvPrefix != null) {
            VggArchitecture a = detect(in, SAFETENSORS, Naming.TORCHVISION, tvPrefix, keys);
            named = new Named(a, SAFETENSORS, Preprocessing.TORCHVISION, "torchvision key names in a safetensors file");
            named.map(in, Naming.TORCHVISION, tvPrefix, f.names()::contains, f::read);
        } else if (convPrefix != null) {
            VggArchitecture a = detect(in, SAFETENSORS, Naming.CONV_NAMES, convPrefix, keys);
            named = new Named(a, SAFETENSORS, Preprocessing.CAFFE, "VGG layer names in a safetensors file (taken as Caffe-derived; "
                    + "use --preprocessing torchvision if not)");
            named.map(in, Naming.CONV_NAMES, convPrefix, f.names()::contains, f::read);
        } else {
            throw new WeightsException(in + ": a safetensors file without VGG layers (no features.0.weight or conv1_1.weight; keys: "
                    + preview(keys) + ")");
        }
        return named;
    }

    /** The prefix before {@code suffix} in some key (e.g. "module." from DataParallel), or null. */
    private static String prefixOf(List<String> keys, String suffix) {
        for (String k : keys) {
            if (k.equals(suffix)) {
                return "";
            }
        }
        for (String k : keys) {
            if (k.endsWith("." + suffix)) {
                return k.substring(0, k.length() - suffix.length());
            }
        }
        return null;
    }

    private static String preview(List<String> keys) {
        return keys.isEmpty() ? "none" : String.join(", ", keys.subList(0, Math.min(5, keys.size()))) + (keys.size() > 5 ? ", ..." : "");
    }

    /** Caffe's V1 bias blob is 1 x 1 x 1 x Cout. */
    private static RawTensor flattenBias(RawTensor b) {
        int big = 0;
        for (int d : b.shape()) {
            big += d == 1 ? 0 : 1;
        }
        return big <= 1 ? new RawTensor(new int[] {b.data().length}, b.data()) : b;
    }

    private static boolean startsWith(ByteBuffer head, String magic) {
        if (head.limit() < magic.length()) {
            return false;
        }
        for (int i = 0; i < magic.length(); i++) {
            if (head.get(i) != (byte) magic.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static byte[] bytes(ByteBuffer b, int at, int n) {
        byte[] out = new byte[n];
        b.get(at, out);
        return out;
    }
}
