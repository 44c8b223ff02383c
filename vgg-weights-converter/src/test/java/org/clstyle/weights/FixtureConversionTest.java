package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every supported format converts bit-exactly, recognised by content (the inputs are renamed to input.dat). */
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
