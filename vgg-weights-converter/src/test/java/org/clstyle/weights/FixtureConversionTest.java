package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every supported format converts bit-exactly, format and network recognised by content (the inputs are renamed to input.dat). */
class FixtureConversionTest {
    @TempDir
    Path tmp;

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "tv-zip.pth,       torchvision-pth, torchvision",
        "tv-legacy.pth,    legacy-pth,      caffe",
        "gatys-zip.pth,    gatys-pth,       caffe",
        "gatys-legacy.pth, gatys-pth,       caffe",
        "v1.caffemodel,    caffemodel,      caffe",
        "v2.caffemodel,    caffemodel,      caffe",
        "keras.h5,         keras-h5,        caffe",
        "tv.safetensors,   safetensors,     torchvision",
    })
    void convertsBitExactly(String fixture, String format, String prep) throws Exception {
        Path in = tmp.resolve("input.dat"); // no telling extension: the content decides
        Files.copy(Fixtures.file(fixture), in);
        Path out = tmp.resolve("out.safetensors");
        WeightsConverter.Result r = WeightsConverter.convert(in, out, null);
        assertEquals(format, r.sourceFormat());

        VggWeights w = VggWeights.load(out);
        Fixtures.assertMatches(Fixtures.expected(Fixtures.dir()), w);
        Preprocessing expect = prep.equals("torchvision") ? Preprocessing.TORCHVISION : Preprocessing.CAFFE;
        assertEquals(expect, w.preprocessing());
        assertEquals("clstyle-vgg19/1", w.metadata().get("format"));
        assertEquals(VggArchitecture.VGG19, w.architecture());
        assertEquals(VggArchitecture.VGG19, r.architecture());
        assertEquals(format, w.metadata().get("source_format"));
        assertEquals("input.dat", w.metadata().get("source_file"));
        assertEquals(Io.sha256(in), w.metadata().get("source_sha256"));
        assertEquals(expect.channelOrder(), w.metadata().get("channel_order"));

        // A converted file converts again to the same tensors and keeps its recorded source.
        Path again = tmp.resolve("again.safetensors");
        WeightsConverter.Result r2 = WeightsConverter.convert(out, again, null);
        assertEquals(format, r2.weights().metadata().get("source_format"));
        assertEquals(w.metadata().get("source_sha256"), r2.weights().metadata().get("source_sha256"));
        Fixtures.assertMatches(Fixtures.expected(Fixtures.dir()), VggWeights.load(again));
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "vgg16-tv-zip.pth,       torchvision-pth, torchvision",
        "vgg16-tv-legacy.pth,    legacy-pth,      caffe",
        "vgg16-v1.caffemodel,    caffemodel,      caffe",
        "vgg16-keras.h5,         keras-h5,        caffe",
        "vgg16-tv.safetensors,   safetensors,     torchvision",
        "vgg16-conv.safetensors, safetensors,     caffe",
    })
    void vgg16ConvertsBitExactlyAndIsDetected(String fixture, String format, String prep) throws Exception {
        Path in = tmp.resolve("input.dat");
        Files.copy(Fixtures.file(fixture), in);
        Path out = tmp.resolve("out.safetensors");
        WeightsConverter.Result r = WeightsConverter.convert(in, out, null);
        assertEquals(format, r.sourceFormat());
        assertEquals(VggArchitecture.VGG16, r.architecture());

        VggWeights w = VggWeights.load(out);
        assertEquals(VggArchitecture.VGG16, w.architecture());
        assertEquals("clstyle-vgg16/1", w.metadata().get("format"));
        Fixtures.assertMatches(Fixtures.expectedVgg16(Fixtures.dir()), w);
        Preprocessing expect = prep.equals("torchvision") ? Preprocessing.TORCHVISION : Preprocessing.CAFFE;
        assertEquals(expect, w.preprocessing());
        assertEquals(format, w.metadata().get("source_format"));
        assertEquals(Io.sha256(in), w.metadata().get("source_sha256"));
        assertFalse(w.isFullWidth());
        assertThrows(IllegalArgumentException.class, () -> w.weight("conv5_4"), "VGG16 has no conv5_4");

        // Converting the converted file again keeps the network, the tensors and the recorded source.
        Path again = tmp.resolve("again.safetensors");
        WeightsConverter.Result r2 = WeightsConverter.convert(out, again, null);
        assertEquals(VggArchitecture.VGG16, r2.architecture());
        assertEquals(format, r2.weights().metadata().get("source_format"));
        Fixtures.assertMatches(Fixtures.expectedVgg16(Fixtures.dir()), VggWeights.load(again));
    }

    @Test
    void publishedFilesAreKnownByHashPrefixAndNetwork() {
        String tail = "0".repeat(56);
        var tv16 = WeightsConverter.knownFile("397923af" + tail, VggArchitecture.VGG16);
        assertEquals(Preprocessing.TORCHVISION, tv16.preprocessing());
        assertEquals("vgg16-397923af.pth", tv16.fileName());
        var caffe16 = WeightsConverter.knownFile("00b39a1b" + tail, VggArchitecture.VGG16);
        assertEquals(Preprocessing.CAFFE, caffe16.preprocessing());
        assertEquals(WeightsConverter.LEGACY_PTH, caffe16.sourceFormat());
        assertEquals(Preprocessing.TORCHVISION, WeightsConverter.knownFile("dcbb9e9d" + tail, VggArchitecture.VGG19).preprocessing());
        assertEquals(Preprocessing.CAFFE, WeightsConverter.knownFile("d01eb7cb" + tail, VggArchitecture.VGG19).preprocessing());
        // A prefix counts only for the network its file holds.
        assertNull(WeightsConverter.knownFile("397923af" + tail, VggArchitecture.VGG19));
        assertNull(WeightsConverter.knownFile("dcbb9e9d" + tail, VggArchitecture.VGG16));
        assertNull(WeightsConverter.knownFile("12345678" + tail, VggArchitecture.VGG16));
    }

    @Test
    void legacyVgg16WithAnUnknownHashIsTakenAsTheCaffeConversion() throws Exception {
        WeightsConverter.Result r = WeightsConverter.read(Fixtures.file("vgg16-tv-legacy.pth"), null);
        assertEquals(Preprocessing.CAFFE, r.weights().preprocessing());
        assertTrue(r.preprocessingReason().contains("vgg16-00b39a1b.pth"), r.preprocessingReason());
    }

    @Test
    void preprocessingOverrideIsRecorded() throws Exception {
        Path out = tmp.resolve("o.safetensors");
        WeightsConverter.convert(Fixtures.file("tv-legacy.pth"), out, Preprocessing.TORCHVISION);
        VggWeights w = VggWeights.load(out);
        assertEquals(Preprocessing.TORCHVISION, w.preprocessing());
        assertEquals("0.485,0.456,0.406", w.metadata().get("mean"));
        assertEquals("0.229,0.224,0.225", w.metadata().get("std"));
        assertEquals("1", w.metadata().get("input_scale"));
    }

    @Test
    void caffeMetadataStrings() throws Exception {
        Path out = tmp.resolve("c.safetensors");
        WeightsConverter.convert(Fixtures.file("v1.caffemodel"), out, null);
        VggWeights w = VggWeights.load(out);
        assertEquals("BGR", w.metadata().get("channel_order"));
        assertEquals("255", w.metadata().get("input_scale"));
        assertEquals("103.939,116.779,123.68", w.metadata().get("mean"));
        assertEquals("1,1,1", w.metadata().get("std"));
        assertEquals("v1.caffemodel", w.metadata().get("source_file"));
    }

    @Test
    void theStridedAndSharedTensorsOfTheZipFixtureAreReallyStridedAndShared() throws Exception {
        // Guards the fixture: conv3_2 (features.12) must be a non-contiguous view and the biases slices of one storage,
        // or the zip test would not exercise strides and offsets.
        try (TorchPth p = TorchPth.openZip(Fixtures.file("tv-zip.pth"))) {
            var w = (PickleReader.TensorRef) p.stateDict().get("features.12.weight");
            assertNotEquals(1, w.stride()[w.stride().length - 1]);
            var b0 = (PickleReader.TensorRef) p.stateDict().get("features.0.bias");
            var b1 = (PickleReader.TensorRef) p.stateDict().get("features.2.bias");
            assertEquals(((TorchPth.StorageRef) b0.storage()).key(), ((TorchPth.StorageRef) b1.storage()).key());
            assertTrue(b1.offset() > 0);
        }
    }

    @Test
    void halfAndBfloatDecodeExactly() {
        assertEquals(1.0f, Floats.halfToFloat((short) 0x3c00));
        assertEquals(-2.0f, Floats.halfToFloat((short) 0xc000));
        assertEquals(0x1p-24f, Floats.halfToFloat((short) 0x0001)); // smallest subnormal
        assertEquals(65504f, Floats.halfToFloat((short) 0x7bff));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(Floats.halfToFloat((short) 0x8000)));
        assertTrue(Float.isInfinite(Floats.halfToFloat((short) 0x7c00)));
    }
}
