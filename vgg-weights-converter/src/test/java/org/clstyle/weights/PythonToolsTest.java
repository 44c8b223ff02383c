package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checks that need Debian's python3-torch (skipped, with the reason, where it is missing; the bit-exact tests on
 * the committed fixtures do not need it): the generator still produces what is committed, and full-width
 * VGG19 and VGG16 made by torchvision convert bit-exactly.
 */
class PythonToolsTest {
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path tmp;

    private static boolean pythonHasTorch() {
        if (!new File(PYTHON).canExecute()) {
            return false;
        }
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import torch, torchvision, h5py, google.protobuf, numpy")
                    .redirectErrorStream(true).start();
            p.getInputStream().readAllBytes();
            return p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (Exception e) {
            return false;
        }
    }

    private static Path script(String name) {
        // Surefire runs in the module directory.
        return Paths.get("src", "test", "python", name).toAbsolutePath();
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), "timed out: " + String.join(" ", cmd));
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + " failed: " + out);
    }

    @Test
    void regeneratedFixturesMatchTheCommittedOnes() throws Exception {
        assumeTrue(pythonHasTorch(), PYTHON + " with torch, torchvision, h5py, protobuf and numpy is needed to regenerate fixtures");
        run(PYTHON, script("make_fixtures.py").toString(), tmp.toString());
        assertEquals(Files.readString(Fixtures.file("expected.json")), Files.readString(tmp.resolve("expected.json")),
                "the generator no longer produces the committed tensors");
        assertEquals(Files.readString(Fixtures.file("expected-vgg16.json")), Files.readString(tmp.resolve("expected-vgg16.json")),
                "the generator no longer produces the committed VGG16 tensors");
        for (String f : List.of("tv-zip.pth", "tv-legacy.pth", "gatys-zip.pth", "gatys-legacy.pth", "v1.caffemodel", "v2.caffemodel",
                "keras.h5", "tv.safetensors")) {
            Path out = tmp.resolve(f + ".safetensors");
            WeightsConverter.convert(tmp.resolve(f), out, null);
            Fixtures.assertMatches(Fixtures.expected(tmp), VggWeights.load(out));
        }
        for (String f : List.of("vgg16-tv-zip.pth", "vgg16-tv-legacy.pth", "vgg16-v1.caffemodel", "vgg16-keras.h5", "vgg16-tv.safetensors",
                "vgg16-conv.safetensors")) {
            Path out = tmp.resolve(f + ".safetensors");
            assertEquals(VggArchitecture.VGG16, WeightsConverter.convert(tmp.resolve(f), out, null).architecture(), f);
            Fixtures.assertMatches(Fixtures.expectedVgg16(tmp), VggWeights.load(out));
        }
    }

    @Test
    void fullWidthTorchvisionVgg19ConvertsBitExactly() throws Exception {
        fullWidth(VggArchitecture.VGG19);
    }

    @Test
    void fullWidthTorchvisionVgg16ConvertsBitExactly() throws Exception {
        fullWidth(VggArchitecture.VGG16);
    }

    /** torchvision.models.vggNN(weights=None)'s conv layers (random init; ~80 MB for VGG19, ~59 MB for VGG16 in a temp dir). */
    private void fullWidth(VggArchitecture a) throws Exception {
        assumeTrue(pythonHasTorch(), PYTHON + " with torch and torchvision is needed to build a full-width " + a.name());
        Path pth = tmp.resolve(a.id() + "-full.pth");
        run(PYTHON, script("make_full_width.py").toString(), pth.toString(), tmp.resolve("expected.json").toString(), a.id());
        Path out = tmp.resolve(a.id() + "-full.safetensors");
        long t0 = System.nanoTime();
        WeightsConverter.Result r = WeightsConverter.convert(pth, out, null);
        long t1 = System.nanoTime();
        VggWeights w = VggWeights.load(out);
        long t2 = System.nanoTime();
        System.out.printf("full-width torchvision %s (%d MB .pth): convert %d ms, load %d ms%n", a.name(), Files.size(pth) >> 20,
                (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000);
        assertEquals(a, r.architecture());
        assertEquals(a, w.architecture());
        assertTrue(w.isFullWidth());
        Fixtures.assertMatches(Fixtures.expected(tmp), w);
    }
}
