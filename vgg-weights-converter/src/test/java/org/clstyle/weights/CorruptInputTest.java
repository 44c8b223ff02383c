package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Truncated and corrupt inputs of every format give one line and no output file, never a stack trace. */
class CorruptInputTest {
    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"tv-zip.pth", "tv-legacy.pth", "gatys-zip.pth", "gatys-legacy.pth", "v1.caffemodel", "v2.caffemodel",
        "keras.h5", "tv.safetensors", "vgg16-tv-zip.pth", "vgg16-tv-legacy.pth", "vgg16-v1.caffemodel", "vgg16-keras.h5",
        "vgg16-tv.safetensors", "vgg16-conv.safetensors"})
    void truncatedAnywhereIsRefused(String fixture) throws Exception {
        byte[] all = Files.readAllBytes(Fixtures.file(fixture));
        // Cut points: empty, inside the magic, inside headers, in the middle, near the end, one byte short.
        int[] cuts = {0, 3, 9, 40, 300, all.length / 4, all.length / 2, all.length * 9 / 10, all.length - 100, all.length - 1};
        for (int cut : cuts) {
            refused(fixture + " cut at " + cut, Arrays.copyOf(all, cut));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tv-zip.pth", "tv-legacy.pth", "v1.caffemodel", "v2.caffemodel", "keras.h5", "tv.safetensors",
        "vgg16-tv-zip.pth", "vgg16-tv-legacy.pth", "vgg16-v1.caffemodel", "vgg16-keras.h5", "vgg16-tv.safetensors"})
    void garbledHeaderIsRefused(String fixture) throws Exception {
        byte[] all = Files.readAllBytes(Fixtures.file(fixture));
        // Keep the magic bytes so the format is still recognised, then garble the structure right after it.
        byte[] bad = all.clone();
        Random r = new Random(fixture.hashCode());
        for (int i = 10; i < 200; i++) {
            bad[i] = (byte) r.nextInt(256);
        }
        refused(fixture + " garbled", bad);
    }

    @Test
    void flippedStorageByteInZipFailsItsCrc() throws Exception {
        byte[] all = Files.readAllBytes(Fixtures.file("tv-zip.pth"));
        long at;
        try (ZipFile z = new ZipFile(Fixtures.file("tv-zip.pth").toFile())) {
            ZipEntry e = z.getEntry("tv-zip/data/0");
            // The local header is 30 bytes plus name and extra field; the data follows it.
            at = localDataOffset(all, e.getName());
        }
        all[(int) at + 5] ^= 0x40;
        String msg = refused("zip with a flipped data byte", all);
        assertTrue(msg.contains("CRC"), msg);
    }

    @Test
    void randomBytesAreNotAWeightsFile() throws Exception {
        byte[] junk = new byte[5000];
        new Random(1).nextBytes(junk);
        junk[0] = 0x42; // not any magic
        String msg = refused("random bytes", junk);
        assertTrue(msg.contains("not a recognised"), msg);
    }

    @Test
    void stateDictOfAnotherNetworkIsRefused() throws Exception {
        // A safetensors file with VGG names but conv5_4 missing: an incomplete (or VGG16-like) network.
        VggWeights ok = VggWeights.load(converted());
        var m = new java.util.LinkedHashMap<String, RawTensor>();
        for (String c : VggArchitecture.VGG19.convLayers()) {
            if (!c.equals("conv5_4")) {
                m.put(c + ".weight", new RawTensor(new int[] {ok.outChannels(c), ok.inChannels(c), 3, 3}, ok.weight(c)));
                m.put(c + ".bias", new RawTensor(new int[] {ok.outChannels(c)}, ok.bias(c)));
            }
        }
        Path f = tmp.resolve("vgg-incomplete.safetensors");
        SafetensorsFile.write(f, java.util.Map.of(), m);
        String msg = refused("missing conv5_4", Files.readAllBytes(f));
        assertTrue(msg.contains("conv5_4"), msg);
    }

    /** The converted reduced-width VGG16 and VGG19 fixtures' tensors, by VGG name ("conv1_1.weight" ...). */
    private Map<String, RawTensor> convTensors(VggArchitecture a) throws Exception {
        Path out = tmp.resolve(a.id() + "-ok.safetensors");
        WeightsConverter.convert(Fixtures.file(a == VggArchitecture.VGG16 ? "vgg16-conv.safetensors" : "v2.caffemodel"), out, null);
        VggWeights w = VggWeights.load(out);
        Map<String, RawTensor> m = new LinkedHashMap<>();
        for (String c : a.convLayers()) {
            m.put(c + ".weight", new RawTensor(new int[] {w.outChannels(c), w.inChannels(c), 3, 3}, w.weight(c)));
            m.put(c + ".bias", new RawTensor(new int[] {w.outChannels(c)}, w.bias(c)));
        }
        return m;
    }

    /** The same under torchvision's keys features.N.* of network {@code a}. */
    private static Map<String, RawTensor> torchvisionKeys(VggArchitecture a, Map<String, RawTensor> byName) {
        Map<String, RawTensor> m = new LinkedHashMap<>();
        for (int l = 0; l < a.convLayers().size(); l++) {
            String c = a.convLayers().get(l);
            m.put(a.torchvisionPrefix(l) + ".weight", byName.get(c + ".weight"));
            m.put(a.torchvisionPrefix(l) + ".bias", byName.get(c + ".bias"));
        }
        return m;
    }

    private byte[] safetensors(String name, Map<String, RawTensor> tensors) throws Exception {
        Path f = tmp.resolve(name);
        SafetensorsFile.write(f, Map.of(), tensors);
        return Files.readAllBytes(f);
    }

    @Test
    void vgg16WithOneConvMissingIsRefused() throws Exception {
        Map<String, RawTensor> m = convTensors(VggArchitecture.VGG16);
        m.remove("conv5_3.weight");
        m.remove("conv5_3.bias");
        String msg = refused("VGG16 without conv5_3", safetensors("vgg16-partial.safetensors", m));
        assertTrue(msg.contains("12 convolutions") && msg.contains("as VGG16 it lacks conv5_3;"), msg);
    }

    @Test
    void vgg16TorchvisionKeysPlusAVgg19ConvAreRefused() throws Exception {
        // VGG16's features.0 ... features.28 plus VGG19's features.34 (conv5_4): 14 convs of neither network.
        Map<String, RawTensor> m = torchvisionKeys(VggArchitecture.VGG16, convTensors(VggArchitecture.VGG16));
        m.put("features.34.weight", m.get("features.28.weight"));
        m.put("features.34.bias", m.get("features.28.bias"));
        String msg = refused("VGG16 plus features.34", safetensors("mixed.safetensors", m));
        assertTrue(msg.contains("neither VGG16's 13 nor VGG19's 16"), msg);
        assertTrue(msg.contains("as VGG16 it lacks nothing and has features.34.weight besides"), msg);
        assertTrue(msg.contains("as VGG19 it lacks conv3_4 (features.16.weight)"), msg);
    }

    @Test
    void thirteenConvsInVgg19sPatternAreNotVgg16() throws Exception {
        // The count alone would say VGG16; the indices are VGG19's first 13 (features.16 is VGG19's conv3_4).
        Map<String, RawTensor> byName = convTensors(VggArchitecture.VGG19);
        Map<String, RawTensor> all = torchvisionKeys(VggArchitecture.VGG19, byName), m = new LinkedHashMap<>();
        for (int l = 0; l < 13; l++) {
            String k = VggArchitecture.VGG19.torchvisionPrefix(l);
            m.put(k + ".weight", all.get(k + ".weight"));
            m.put(k + ".bias", all.get(k + ".bias"));
        }
        String msg = refused("VGG19's first 13 convs", safetensors("first13.safetensors", m));
        assertTrue(msg.contains("as VGG19 it lacks conv5_2 (features.30.weight), conv5_3 (features.32.weight), conv5_4 (features.34.weight)"), msg);
        assertTrue(msg.contains("features.16.weight"), msg);
    }

    @Test
    void truncatedTorchvisionVgg16PthIsRefusedWithWhatIsMissing() throws Exception {
        // A real torch.save layout, cut at the state_dict level: the legacy VGG16 fixture without its last convs is made by
        // renaming features.26/28 to keys the converter ignores (no pickle editing needed): the set is then partial.
        Map<String, RawTensor> m = torchvisionKeys(VggArchitecture.VGG16, convTensors(VggArchitecture.VGG16));
        for (String k : List.of("features.26", "features.28")) {
            m.put("dropped." + k.substring(9) + ".weight", m.remove(k + ".weight"));
            m.put("dropped." + k.substring(9) + ".bias", m.remove(k + ".bias"));
        }
        String msg = refused("VGG16 without its last two convs", safetensors("partial-tv.safetensors", m));
        assertTrue(msg.contains("11 convolutions") && msg.contains("as VGG16 it lacks conv5_2 (features.26.weight), conv5_3 (features.28.weight)"),
                msg);
    }

    @Test
    void batchNormalisedVggIsRefusedAsSuch() throws Exception {
        Map<String, RawTensor> m = torchvisionKeys(VggArchitecture.VGG16, convTensors(VggArchitecture.VGG16));
        m.put("features.1.weight", m.get("features.0.bias")); // a BatchNorm2d's weight, running mean and variance
        m.put("features.1.running_mean", m.get("features.0.bias"));
        String msg = refused("vgg16_bn-like", safetensors("bn.safetensors", m));
        assertTrue(msg.contains("batch-normalised") && msg.contains("features.1.weight"), msg);
    }

    @Test
    void weightWithoutBiasIsRefused() throws Exception {
        Map<String, RawTensor> m = convTensors(VggArchitecture.VGG16);
        m.remove("conv4_2.bias");
        String msg = refused("no conv4_2 bias", safetensors("nobias.safetensors", m));
        assertTrue(msg.contains("conv4_2's weight") && msg.contains("not its bias"), msg);
    }

    @Test
    void convertedFileWhoseMetadataNamesTheOtherNetworkIsRefused() throws Exception {
        Path out = tmp.resolve("v16.safetensors");
        WeightsConverter.convert(Fixtures.file("vgg16-conv.safetensors"), out, null);
        Map<String, String> meta = new LinkedHashMap<>(VggWeights.load(out).metadata());
        meta.put("format", "clstyle-vgg19/1");
        Path f = tmp.resolve("lying.safetensors");
        SafetensorsFile.write(f, meta, convTensors(VggArchitecture.VGG16));
        String msg = refused("metadata vgg19, tensors vgg16", Files.readAllBytes(f));
        assertTrue(msg.contains("says vgg19") && msg.contains("vgg16"), msg);
    }

    @Test
    void nanInSourceIsRefused() throws Exception {
        VggWeights ok = VggWeights.load(converted());
        var m = new java.util.LinkedHashMap<String, RawTensor>();
        for (String c : VggArchitecture.VGG19.convLayers()) {
            float[] w = ok.weight(c).clone();
            if (c.equals("conv4_2")) {
                w[7] = Float.NaN;
            }
            m.put(VggArchitecture.VGG19.torchvisionPrefix(VggArchitecture.VGG19.convIndex(c)) + ".weight",
                    new RawTensor(new int[] {ok.outChannels(c), ok.inChannels(c), 3, 3}, w));
            m.put(VggArchitecture.VGG19.torchvisionPrefix(VggArchitecture.VGG19.convIndex(c)) + ".bias", new RawTensor(new int[] {ok.outChannels(c)}, ok.bias(c)));
        }
        Path f = tmp.resolve("nan.safetensors");
        SafetensorsFile.write(f, java.util.Map.of(), m);
        String msg = refused("NaN weight", Files.readAllBytes(f));
        assertTrue(msg.contains("conv4_2") && msg.contains("NaN"), msg);
    }

    private Path converted() throws Exception {
        Path out = tmp.resolve("ok.safetensors");
        WeightsConverter.convert(Fixtures.file("v2.caffemodel"), out, null);
        return out;
    }

    /** Converting these bytes fails with one line and leaves no output; returns the message. */
    private String refused(String what, byte[] bytes) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("case-" + Math.abs(what.hashCode())));
        Path in = dir.resolve("input");
        Files.write(in, bytes);
        Path outDir = Files.createDirectories(dir.resolve("out"));
        WeightsException e = assertThrows(WeightsException.class, () -> WeightsConverter.convert(in, outDir.resolve("w.safetensors"), null),
                what + " was accepted");
        Fixtures.assertOneLine(e.getMessage());
        assertTrue(e.getMessage().startsWith(in.toString()), what + ": the message does not name the file: " + e.getMessage());
        Fixtures.assertDirEmpty(outDir);
        return e.getMessage();
    }

    private static long localDataOffset(byte[] zip, String name) {
        byte[] n = name.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        for (int i = 0; i + 30 + n.length < zip.length; i++) {
            if (zip[i] == 'P' && zip[i + 1] == 'K' && zip[i + 2] == 3 && zip[i + 3] == 4) {
                int nameLen = (zip[i + 26] & 0xff) | (zip[i + 27] & 0xff) << 8;
                int extraLen = (zip[i + 28] & 0xff) | (zip[i + 29] & 0xff) << 8;
                if (nameLen == n.length && Arrays.equals(Arrays.copyOfRange(zip, i + 30, i + 30 + nameLen), n)) {
                    return i + 30 + nameLen + extraLen;
                }
            }
        }
        throw new AssertionError("no local header for " + name);
    }
}
