package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The converted format itself: round trip, validation, metadata, atomic writes. */
class VggWeightsTest {
    @TempDir
    Path tmp;

    /** Random weights with the given widths; conv1_1 takes 3 channels. */
    static VggWeights random(int[] widths, Preprocessing p, long seed) {
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        Random r = new Random(seed);
        int cin = 3;
        for (int l = 0; l < 16; l++) {
            String c = VggArchitecture.VGG19.convLayers().get(l);
            float[] wv = new float[widths[l] * cin * 9];
            for (int i = 0; i < wv.length; i++) {
                wv[i] = (float) r.nextGaussian();
            }
            float[] bv = new float[widths[l]];
            for (int i = 0; i < bv.length; i++) {
                bv[i] = (float) r.nextGaussian();
            }
            w.put(c, wv);
            b.put(c, bv);
            cin = widths[l];
        }
        return VggWeights.of(w, b, p);
    }

    @Test
    void fullWidthRoundTripIsBitExact() throws Exception {
        VggWeights w = random(VggArchitecture.VGG19.fullChannels(), Preprocessing.TORCHVISION, 1);
        assertTrue(w.isFullWidth());
        Path f = tmp.resolve("full.safetensors");
        w.save(f);
        long t0 = System.nanoTime();
        VggWeights back = VggWeights.load(f);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        // Reported, not asserted (no timing assertions): the full file is ~80 MB of conv weights.
        System.out.printf("VggWeights.load of the full-width file (%d MB): %d ms%n", Files.size(f) >> 20, ms);
        for (String c : VggArchitecture.VGG19.convLayers()) {
            assertArrayEquals(w.weight(c), back.weight(c), c);
            assertArrayEquals(w.bias(c), back.bias(c), c);
            assertEquals(w.outChannels(c), back.outChannels(c));
            assertEquals(w.inChannels(c), back.inChannels(c));
        }
        assertEquals(Preprocessing.TORCHVISION, back.preprocessing());
        assertEquals(512, back.inChannels("conv5_4"));
        assertEquals(3, back.inChannels("conv1_1"));
    }

    @Test
    void headerIsAlignedAndStandard() throws Exception {
        Path f = tmp.resolve("s.safetensors");
        random(new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 8, 7, 6, 5, 4, 3, 2}, Preprocessing.CAFFE, 2).save(f);
        byte[] all = Files.readAllBytes(f);
        long n = java.nio.ByteBuffer.wrap(all).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, (8 + n) % 8, "data must start 8-byte aligned");
        String header = new String(all, 8, (int) n, java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(header.contains("\"conv1_1.weight\":{\"dtype\":\"F32\",\"shape\":[1,3,3,3],\"data_offsets\":[0,108]}"), header);
        assertTrue(header.contains("\"format\":\"clstyle-vgg19/1\""), header);
        long dataBytes = all.length - 8 - n;
        assertTrue(header.contains(",\"data_offsets\":[" + (dataBytes - 8) + "," + dataBytes + "]}"), "last tensor ends the file");
    }

    @Test
    void validationNamesTheProblem() {
        int[] widths = {4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
        VggWeights ok = random(widths, Preprocessing.CAFFE, 3);
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        for (String c : VggArchitecture.VGG19.convLayers()) {
            w.put(c, ok.weight(c).clone());
            b.put(c, ok.bias(c).clone());
        }
        w.get("conv3_3")[5] = Float.POSITIVE_INFINITY;
        assertMessage(w, b, "conv3_3 weight holds Infinity");
        w.get("conv3_3")[5] = 0;
        b.get("conv2_2")[1] = Float.NaN;
        assertMessage(w, b, "conv2_2 bias holds NaN");
        b.get("conv2_2")[1] = 0;
        w.remove("conv4_4");
        assertMessage(w, b, "missing conv4_4 weight");
        w.put("conv4_4", ok.weight("conv4_4"));
        w.put("conv2_1", new float[8 * 5 * 9]); // Cin 5 but conv1_2 gives 4
        assertMessage(w, b, "conv2_1 takes 5 input channels but conv1_2 gives 4");
        w.put("conv2_1", ok.weight("conv2_1"));
        w.put("conv1_1", new float[4 * 4 * 9]);
        b.put("conv1_1", new float[4]);
        w.put("conv1_2", new float[4 * 4 * 9]);
        assertMessage(w, b, "conv1_1 takes 4 input channels but the image has 3");
    }

    @Test
    void aWeightBiasMismatchBlamesTheOneThatIsNotVgg19s() {
        VggWeights full = random(VggArchitecture.VGG19.fullChannels(), Preprocessing.CAFFE, 4);
        Map<String, RawTensor> w = new java.util.LinkedHashMap<>(), b = new java.util.LinkedHashMap<>();
        for (String c : VggArchitecture.VGG19.convLayers()) {
            w.put(c, new RawTensor(new int[] {full.outChannels(c), full.inChannels(c), 3, 3}, full.weight(c)));
            b.put(c, new RawTensor(new int[] {full.outChannels(c)}, full.bias(c)));
        }
        w.put("conv1_1", new RawTensor(new int[] {32, 3, 3, 3}, new float[32 * 27]));
        WeightsException e = assertThrows(WeightsException.class,
                () -> VggWeights.fromTensors(VggArchitecture.VGG19, "f", w, b, Preprocessing.CAFFE, Map.of()));
        assertTrue(e.getMessage().contains("conv1_1 weight [32, 3, 3, 3] has 32 output channels but its bias [64] has 64;"
                + " the weight is wrong"), e.getMessage());
        w.put("conv1_1", new RawTensor(new int[] {64, 3, 3, 3}, full.weight("conv1_1")));
        b.put("conv1_1", new RawTensor(new int[] {63}, new float[63]));
        e = assertThrows(WeightsException.class, () -> VggWeights.fromTensors(VggArchitecture.VGG19, "f", w, b, Preprocessing.CAFFE, Map.of()));
        assertTrue(e.getMessage().contains("the bias is wrong"), e.getMessage());
    }

    private static void assertMessage(Map<String, float[]> w, Map<String, float[]> b, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> VggWeights.of(w, b, Preprocessing.CAFFE));
        assertTrue(e.getMessage().contains(part), e.getMessage());
    }

    @Test
    void loadRefusesFilesThatAreNotConverted() throws Exception {
        WeightsException e = assertThrows(WeightsException.class, () -> VggWeights.load(Fixtures.file("tv.safetensors")));
        assertTrue(e.getMessage().contains("clstyle weights convert"), e.getMessage());
        e = assertThrows(WeightsException.class, () -> VggWeights.load(Fixtures.file("keras.h5")));
        Fixtures.assertOneLine(e.getMessage());
        e = assertThrows(WeightsException.class, () -> VggWeights.load(tmp.resolve("absent.safetensors")));
        assertTrue(e.getMessage().endsWith("no such file"), e.getMessage());
    }

    @Test
    void failedSaveLeavesNothing() throws Exception {
        Path notADir = Files.writeString(tmp.resolve("file"), "x");
        VggWeights w = random(new int[] {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, Preprocessing.CAFFE, 4);
        WeightsException e = assertThrows(WeightsException.class, () -> w.save(notADir.resolve("out.safetensors")));
        Fixtures.assertOneLine(e.getMessage());
        try (var s = Files.list(tmp)) {
            assertEquals(1, s.count(), "only the blocking file remains");
        }
    }

    @Test
    void preprocessingPermutationAndMetadata() {
        assertArrayEquals(new int[] {0, 1, 2}, Preprocessing.TORCHVISION.channelPermutation());
        assertArrayEquals(new int[] {2, 1, 0}, Preprocessing.CAFFE.channelPermutation());
        Map<String, String> m = Preprocessing.CAFFE.toMetadata();
        assertEquals("BGR", m.get("channel_order"));
        assertEquals("255", m.get("input_scale"));
        assertEquals(Preprocessing.CAFFE, Preprocessing.fromMetadata(m));
        assertEquals(Preprocessing.TORCHVISION, Preprocessing.fromMetadata(Preprocessing.TORCHVISION.toMetadata()));
        Map<String, String> bad = new HashMap<>(m);
        bad.put("mean", "1,2");
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.fromMetadata(bad));
        assertFalse(Preprocessing.CAFFE.equals(Preprocessing.TORCHVISION));
    }
}
