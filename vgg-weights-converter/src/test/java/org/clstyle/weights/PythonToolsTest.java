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
 * the committed fixtures do not need it): the generator still produces what is committed, and a full-width
 * VGG19 made by torchvision converts bit-exactly.
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
        for (String f : List.of("tv-zip.pth", "tv-legacy.pth", "gatys-zip.pth", "gatys-legacy.pth", "v1.caffemodel", "v2.caffemodel",
                "keras.h5", "tv.safetensors")) {
            Path out = tmp.resolve(f + ".safetensors");
            WeightsConverter.convert(tmp.resolve(f), out, null);
            Fixtures.assertMatches(Fixtures.expected(tmp), VggWeights.load(out));
        }
    }

    @Test
    void fullWidthTorchvisionVgg19ConvertsBitExactly() throws Exception {
        assumeTrue(pythonHasTorch(), PYTHON + " with torch and torchvision is needed to build a full-width VGG19");
        Path pth = tmp.resolve("vgg19-full.pth");
        run(PYTHON, script("make_full_width.py").toString(), pth.toString(), tmp.resolve("expected.json").toString());
        Path out = tmp.resolve("vgg19-full.safetensors");
        long t0 = System.nanoTime();
        WeightsConverter.convert(pth, out, null);
        long t1 = System.nanoTime();
        VggWeights w = VggWeights.load(out);
        long t2 = System.nanoTime();
        System.out.printf("full-width torchvision VGG19 (%d MB .pth): convert %d ms, load %d ms%n", Files.size(pth) >> 20,
                (t1 - t0) / 1_000_000, (t2 - t1) / 1_000_000);
        assertTrue(w.isFullWidth());
        Fixtures.assertMatches(Fixtures.expected(tmp), w);
    }
}
