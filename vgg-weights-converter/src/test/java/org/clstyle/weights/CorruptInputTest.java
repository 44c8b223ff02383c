package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
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
        "keras.h5", "tv.safetensors"})
    void truncatedAnywhereIsRefused(String fixture) throws Exception {
        byte[] all = Files.readAllBytes(Fixtures.file(fixture));
        // Cut points: empty, inside the magic, inside headers, in the middle, near the end, one byte short.
        int[] cuts = {0, 3, 9, 40, 300, all.length / 4, all.length / 2, all.length * 9 / 10, all.length - 100, all.length - 1};
        for (int cut : cuts) {
            refused(fixture + " cut at " + cut, Arrays.copyOf(all, cut));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tv-zip.pth", "tv-legacy.pth", "v1.caffemodel", "v2.caffemodel", "keras.h5", "tv.safetensors"})
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
