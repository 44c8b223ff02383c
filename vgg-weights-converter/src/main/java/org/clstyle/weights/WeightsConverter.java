package org.clstyle.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Turns any published VGG19 weights file into {@link VggWeights}. The format is recognised by content (magic
 * bytes and structure), never by the file name's extension.
 */
public final class WeightsConverter {
    /** Values of the metadata entry source_format. */
    public static final String TORCHVISION_PTH = "torchvision-pth", LEGACY_PTH = "legacy-pth", CAFFEMODEL = "caffemodel",
            KERAS_H5 = "keras-h5", SAFETENSORS = "safetensors", GATYS_PTH = "gatys-pth";

    /** SHA-256 prefixes of the published files: torch.hub names files by the first 8 hex digits of their SHA-256. */
    public static final String TORCHVISION_SHA256_PREFIX = "dcbb9e9d", CAFFE_PTH_SHA256_PREFIX = "d01eb7cb";

    /** What was read and why the preprocessing is what it is. */
    public record Result(VggWeights weights, String sourceFormat, String preprocessingReason) {
    }

    private WeightsConverter() {
    }

    /** Reads and converts {@code in}, then writes {@code out} atomically. */
    public static Result convert(Path in, Path out, Preprocessing override) throws WeightsException {
        Result r = read(in, override);
        r.weights().save(out);
        return r;
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
            named = new Named(KERAS_H5, Preprocessing.CAFFE, "Keras VGG19 (converted from Caffe: BGR, caffe-style mean)");
            for (Map.Entry<String, RawTensor[]> e : KerasH5.read(in).entrySet()) {
                named.weights.put(e.getKey(), e.getValue()[0]);
                named.biases.put(e.getKey(), e.getValue()[1]);
            }
        } else if (SafetensorsFile.looksLike(head)) {
            named = fromSafetensors(in, SafetensorsFile.open(in), meta);
        } else if (head.limit() >= 2 && (head.get(0) & 0xff) == 0x80 && head.get(1) >= 2 && head.get(1) <= 5) {
            try (TorchPth pth = TorchPth.openLegacy(in)) {
                named = fromStateDict(in, pth, false, sha);
            }
        } else if (head.limit() >= 262 && new String(bytes(head, 257, 5), StandardCharsets.US_ASCII).equals("ustar")) {
            throw new WeightsException(in + ": a tar archive (the PyTorch format before 0.4) is not supported; re-save it with a newer torch.save");
        } else if (CaffeModel.looksLike(head)) {
            Map<String, List<RawTensor>> convs = CaffeModel.convolutions(CaffeModel.read(in));
            named = new Named(CAFFEMODEL, Preprocessing.CAFFE, "Caffe model (BGR, 0..255, ImageNet mean)");
            for (String conv : VggArchitecture.VGG19.convLayers()) {
                List<RawTensor> blobs = convs.get(conv);
                if (blobs == null) {
                    continue;
                }
                if (blobs.size() != 2) {
                    throw new WeightsException(in + ": Caffe layer " + conv + " has " + blobs.size() + " blobs, expected weights and bias");
                }
                named.weights.put(conv, blobs.get(0));
                named.biases.put(conv, flattenBias(blobs.get(1)));
            }
        } else {
            throw new WeightsException(in + ": not a recognised VGG19 weights file (expected a PyTorch .pth, a Caffe .caffemodel, "
                    + "a Keras .h5 or a .safetensors file)");
        }
        for (String conv : VggArchitecture.VGG19.convLayers()) {
            if (!named.weights.containsKey(conv) || !named.biases.containsKey(conv)) {
                throw new WeightsException(in + ": " + named.format + " file without " + conv + named.keyHint(conv)
                        + ": is it the VGG19 network?");
            }
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
        return new Result(VggWeights.fromTensors(VggArchitecture.VGG19, in.toString(), named.weights, named.biases, p, meta), named.format, reason);
    }

    /** Tensors by VGG name plus what the source implies. */
    private static final class Named {
        final String format;
        final Preprocessing preprocessing;
        final String reason;
        final Map<String, RawTensor> weights = new LinkedHashMap<>(), biases = new LinkedHashMap<>();
        String torchvisionPrefix; // non-null when the keys are torchvision's

        Named(String format, Preprocessing p, String reason) {
            this.format = format;
            this.preprocessing = p;
            this.reason = reason;
        }

        String keyHint(String conv) {
            return torchvisionPrefix == null ? "" : " (" + torchvisionPrefix + VggArchitecture.VGG19.torchvisionPrefix(VggArchitecture.VGG19.convIndex(conv)) + ".weight)";
        }
    }

    private interface TensorSource {
        RawTensor get(String key) throws WeightsException;
    }

    private static Named fromStateDict(Path in, TorchPth pth, boolean zip, String sha) throws WeightsException {
        List<String> keys = new ArrayList<>(pth.stateDict().keySet());
        String tvPrefix = prefixOf(keys, "features.0.weight");
        String convPrefix = prefixOf(keys, "conv1_1.weight");
        Named named;
        if (tvPrefix != null) {
            if (sha.startsWith(TORCHVISION_SHA256_PREFIX)) {
                named = new Named(TORCHVISION_PTH, Preprocessing.TORCHVISION, "the published torchvision file (SHA-256 starts "
                        + TORCHVISION_SHA256_PREFIX + ")");
            } else if (sha.startsWith(CAFFE_PTH_SHA256_PREFIX)) {
                named = new Named(LEGACY_PTH, Preprocessing.CAFFE, "the published Caffe-converted vgg19-d01eb7cb.pth (SHA-256 starts "
                        + CAFFE_PTH_SHA256_PREFIX + ")");
            } else if (zip) {
                named = new Named(TORCHVISION_PTH, Preprocessing.TORCHVISION, "torchvision key names in a zip-format .pth");
            } else {
                named = new Named(LEGACY_PTH, Preprocessing.CAFFE, "torchvision key names in a legacy-format .pth, "
                        + "like the Caffe-converted vgg19-d01eb7cb.pth (use --preprocessing torchvision if it came from torchvision)");
            }
            named.torchvisionPrefix = tvPrefix;
            mapTorchvision(named, tvPrefix, pth::tensor, pth.stateDict()::containsKey);
        } else if (convPrefix != null) {
            named = new Named(GATYS_PTH, Preprocessing.CAFFE, "VGG layer names (Gatys et al.'s normalised vgg_conv.pth: Caffe preprocessing)");
            mapConvNames(named, convPrefix, pth::tensor, pth.stateDict()::containsKey);
        } else {
            throw new WeightsException(in + ": a PyTorch file without VGG19 layers (no features.0.weight or conv1_1.weight; keys: "
                    + preview(keys) + ")");
        }
        return named;
    }

    private static Named fromSafetensors(Path in, SafetensorsFile f, Map<String, String> meta) throws WeightsException {
        List<String> keys = new ArrayList<>(f.names());
        String tvPrefix = prefixOf(keys, "features.0.weight");
        String convPrefix = prefixOf(keys, "conv1_1.weight");
        Named named;
        if (VggWeights.FORMAT.equals(f.metadata().get("format")) && convPrefix != null) {
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
            named = new Named(SAFETENSORS, p, "recorded in the file's clstyle metadata");
            mapConvNames(named, convPrefix, f::read, f.names()::contains);
        } else if (tvPrefix != null) {
            named = new Named(SAFETENSORS, Preprocessing.TORCHVISION, "torchvision key names in a safetensors file");
            named.torchvisionPrefix = tvPrefix;
            mapTorchvision(named, tvPrefix, f::read, f.names()::contains);
        } else if (convPrefix != null) {
            named = new Named(SAFETENSORS, Preprocessing.CAFFE, "VGG layer names in a safetensors file (taken as Caffe-derived; "
                    + "use --preprocessing torchvision if not)");
            mapConvNames(named, convPrefix, f::read, f.names()::contains);
        } else {
            throw new WeightsException(in + ": a safetensors file without VGG19 layers (no features.0.weight or conv1_1.weight; keys: "
                    + preview(keys) + ")");
        }
        return named;
    }

    private static void mapTorchvision(Named n, String prefix, TensorSource src, java.util.function.Predicate<String> has)
            throws WeightsException {
        for (int l = 0; l < VggArchitecture.VGG19.convLayers().size(); l++) {
            String base = prefix + VggArchitecture.VGG19.torchvisionPrefix(l);
            if (has.test(base + ".weight") && has.test(base + ".bias")) {
                n.weights.put(VggArchitecture.VGG19.convLayers().get(l), src.get(base + ".weight"));
                n.biases.put(VggArchitecture.VGG19.convLayers().get(l), src.get(base + ".bias"));
            }
        }
    }

    private static void mapConvNames(Named n, String prefix, TensorSource src, java.util.function.Predicate<String> has)
            throws WeightsException {
        for (String conv : VggArchitecture.VGG19.convLayers()) {
            if (has.test(prefix + conv + ".weight") && has.test(prefix + conv + ".bias")) {
                n.weights.put(conv, src.get(prefix + conv + ".weight"));
                n.biases.put(conv, src.get(prefix + conv + ".bias"));
            }
        }
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
