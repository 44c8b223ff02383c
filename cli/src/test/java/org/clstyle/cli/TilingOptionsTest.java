package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --tile} and {@code --max-device-memory} on stylize, texture, loss and bench: the tiled loss
 * still matches the PyTorch golden (loss), a tiled stylize gives the untiled image (within 2/255 after
 * three L-BFGS iterations), bench reports a tiled WxH run, and bad values are one line naming the option
 * with exit 2.
 */
class TilingOptionsTest {
    @TempDir
    static Path dir;
    static Path weights, content, style;

    @BeforeAll
    static void fixtures() throws Exception {
        weights = CliFixtures.tinyWeights(dir.resolve("tiny.safetensors"));
        content = CliFixtures.image(dir.resolve("content.png"), 48, 40, 1);
        style = CliFixtures.image(dir.resolve("style.png"), 36, 36, 2);
    }

    /**
     * The golden case of LossCommandTest, with --tile 16: 2x2 cores on the 22x28 image, the styles tiled too;
     * and with --tile 8 under a budget that lets the plan choose the least work: the tiles only up to a pool,
     * the rest whole.
     */
    @Test
    void tiledLossMatchesTheGolden(@TempDir Path d) throws Exception {
        tiledLossMatchesTheGolden(d, "tiled: 2x2 tiles, cores up to 16x16 px, halo 80 px (largest region 22x28)", "--tile", "16");
        tiledLossMatchesTheGolden(d, "the layers after it on the whole image", "--tile", "8", "--max-device-memory", "64G");
    }

    private static void tiledLossMatchesTheGolden(Path d, String note, String... tiling) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Path golden = LossCommandTest.GOLDEN;
        JsonNode c = LossCommandTest.goldenCase();
        Path grad = d.resolve("g.npy");
        List<String> args = LossCommandTest.goldenArgs(d, c);
        args.addAll(List.of("--grad-out", grad.toString()));
        args.addAll(List.of(tiling));
        LossCommandTest.Result r = LossCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains(note), r.err());
        JsonNode got = json.readTree(r.out());
        JsonNode expected = c.get("expected");
        LossCommandTest.close("total", expected.get("total").asDouble(), got.get("total").asDouble());
        for (String kind : List.of("content", "style")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = expected.get(kind).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                LossCommandTest.close(kind + " " + e.getKey(), e.getValue().asDouble(), got.get(kind).get(e.getKey()).asDouble());
            }
        }
        float[] g = LossCommandTest.npy(grad), want = LossCommandTest.npy(golden.resolve(c.get("gradient").asText()));
        double max = 0;
        for (float v : want) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < g.length; i++) {
            double tol = 2e-5 * max + 1e-4 * Math.abs(want[i]);
            assertTrue(Math.abs(g[i] - want[i]) <= tol, "gradient[" + i + "] " + g[i] + " vs " + want[i]);
        }
    }

    private static BufferedImage stylize(Path out, String... more) throws Exception {
        List<String> a = new ArrayList<>(List.of("stylize", "--content", content.toString(), "--style", style.toString(),
                "-o", out.toString(), "--weights", weights.toString(), "--size", "48", "--iterations", "3", "--quiet"));
        a.addAll(List.of(more));
        CliFixtures.Run r = CliFixtures.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return ImageIO.read(out.toFile());
    }

    @Test
    void tiledStylizeGivesTheUntiledImage(@TempDir Path d) throws Exception {
        BufferedImage plain = stylize(d.resolve("plain.png"));
        BufferedImage tiled = stylize(d.resolve("tiled.png"), "--tile", "16");
        BufferedImage budget = stylize(d.resolve("budget.png"), "--max-device-memory", "64G"); // fits: untiled
        // --tile under a budget: the plan with the least work, the tiles only up to a pool and the rest whole.
        Path wholeOut = d.resolve("whole.png");
        CliFixtures.Run wr = CliFixtures.run("stylize", "--content", content.toString(), "--style", style.toString(),
                "-o", wholeOut.toString(), "--weights", weights.toString(), "--size", "48", "--iterations", "3",
                "--tile", "16", "--max-device-memory", "64G");
        assertEquals(0, wr.exit(), wr.err());
        assertTrue(wr.err().contains("the layers after it on the whole image"), wr.err());
        BufferedImage whole = ImageIO.read(wholeOut.toFile());
        int worst = 0, worstWhole = 0;
        for (int y = 0; y < plain.getHeight(); y++) {
            for (int x = 0; x < plain.getWidth(); x++) {
                int p = plain.getRGB(x, y), t = tiled.getRGB(x, y), wh = whole.getRGB(x, y);
                for (int s = 0; s < 24; s += 8) {
                    worst = Math.max(worst, Math.abs(((p >> s) & 255) - ((t >> s) & 255)));
                    worstWhole = Math.max(worstWhole, Math.abs(((p >> s) & 255) - ((wh >> s) & 255)));
                }
                assertEquals(p, budget.getRGB(x, y), "a budget that fits changes nothing");
            }
        }
        assertTrue(worst <= 2, "tiled and untiled images differ by " + worst + "/255");
        assertTrue(worstWhole <= 2, "tiled to a pool and untiled images differ by " + worstWhole + "/255");
        Path tex = d.resolve("tex.png");
        CliFixtures.Run r = CliFixtures.run("texture", "--style", style.toString(), "-o", tex.toString(), "--weights",
                weights.toString(), "--size", "40x24", "--iterations", "2", "--tile", "16");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("tiled: 2x3 tiles, cores up to 16x16 px, halo 80 px (largest region 40x24)"), r.err());
    }

    /**
     * --storage half: stylize writes an image close to float storage's. L-BFGS amplifies the gradient's
     * half-precision error (about 1e-2 relative, see the parity harness) over 3 iterations at 48 px, so the
     * bound is on the mean channel difference (under 2/255) and the largest (under 48/255); a broken half
     * path gives an unrelated image.
     */
    @Test
    void halfStorageStylizesCloseToFloat(@TempDir Path d) throws Exception {
        BufferedImage plain = stylize(d.resolve("plain.png"));
        BufferedImage half = stylize(d.resolve("half.png"), "--storage", "half");
        int worst = 0;
        long sum = 0, n = 0;
        for (int y = 0; y < plain.getHeight(); y++) {
            for (int x = 0; x < plain.getWidth(); x++) {
                int p = plain.getRGB(x, y), q = half.getRGB(x, y);
                for (int sh = 0; sh <= 16; sh += 8) {
                    int diff = Math.abs(((p >> sh) & 255) - ((q >> sh) & 255));
                    worst = Math.max(worst, diff);
                    sum += diff;
                    n++;
                }
            }
        }
        double mean = (double) sum / n;
        assertTrue(mean < 2 && worst < 48, "half storage: mean channel difference " + mean + "/255, largest " + worst + "/255");
    }

    @Test
    void stylizeAndTextureShareTheLossAmongSeveralDevices(@TempDir Path d) throws Exception {
        // Two contexts of the test device (a second PoCL device needs POCL_DEVICES): the tiles dealt to
        // both, Grams and gradients summed on the host, the image as on one device within 2/255.
        BufferedImage plain = stylize(d.resolve("plain.png"));
        BufferedImage two = stylize(d.resolve("two.png"), "--device", "0,0");
        int worst = 0;
        for (int y = 0; y < plain.getHeight(); y++) {
            for (int x = 0; x < plain.getWidth(); x++) {
                int p = plain.getRGB(x, y), t = two.getRGB(x, y);
                for (int s = 0; s < 24; s += 8) {
                    worst = Math.max(worst, Math.abs(((p >> s) & 255) - ((t >> s) & 255)));
                }
            }
        }
        assertTrue(worst <= 2, "one- and two-device images differ by " + worst + "/255");
        Path tex = d.resolve("tex.png");
        CliFixtures.Run r = CliFixtures.run("texture", "--style", style.toString(), "-o", tex.toString(), "--weights",
                weights.toString(), "--size", "40x24", "--iterations", "2", "--device", "0,0");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("the loss's tiles shared by 2 devices"), r.err());
        assertTrue(r.err().contains("(40x24): ") && r.err().contains(" dealt by speed (measured): device 0: "), r.err());
        Path bad = java.nio.file.Files.createDirectory(d.resolve("bad")); // must stay empty
        List<String> base = List.of("stylize", "--content", content.toString(), "--style", style.toString(), "-o",
                bad.resolve("bad.png").toString(), "--weights", weights.toString(), "--size", "48", "--iterations", "1", "--quiet");
        List<String> empty = new ArrayList<>(base);
        empty.addAll(List.of("--device", "0,,0"));
        StylizeCommandTest.assertFails(2, bad, empty, "--device 0,,0: an empty entry in the list");
        List<String> norm = new ArrayList<>(base);
        norm.addAll(List.of("--device", "0,0", "--normalize-gradients"));
        StylizeCommandTest.assertFails(2, bad, norm, "--normalize-gradients cannot be combined with several devices");
    }

    @Test
    void benchReportsATiledRun(@TempDir Path d) throws Exception {
        Path json = d.resolve("b.json");
        CliFixtures.Run r = CliFixtures.run("bench", "--size", "40x24", "--tile", "16", "--iterations", "1", "--warmup", "0",
                "--json", json.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("loss: tiled: 2x3 tiles, cores up to 16x16 px, halo 80 px (largest region 40x24)"), r.out());
        assertTrue(r.out().contains("per megapixel") && r.out().contains("device memory    peak"), r.out());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        assertEquals(40, j.get("width").asInt());
        assertEquals(24, j.get("height").asInt());
        assertEquals(16, j.get("tile").asInt());
        assertTrue(j.get("peak_device_bytes").asLong() > 0 && j.get("estimated_device_bytes").asLong() >= j.get("peak_device_bytes").asLong(),
                j.toString());
    }

    @Test
    void badValuesAreOneLineNamingTheOption(@TempDir Path d) throws Exception {
        Path o = d.resolve("o.png");
        List<String> stylize = List.of("stylize", "--content", content.toString(), "--style", style.toString(), "-o", o.toString(),
                "--weights", weights.toString(), "--size", "48", "--iterations", "1", "--quiet");
        List<String> texture = List.of("texture", "--style", style.toString(), "-o", o.toString(), "--weights", weights.toString(),
                "--size", "32", "--iterations", "1", "--quiet");
        List<String> loss = List.of("loss", "--content", content.toString(), "--style", style.toString(), "--image", content.toString(),
                "--weights", weights.toString());
        List<String> bench = List.of("bench", "--size", "32", "--iterations", "1", "--warmup", "0");
        for (List<String> base : List.of(stylize, texture, loss, bench)) {
            for (String[] bad : new String[][] {{"--tile", "0", "--tile"}, {"--tile", "-5", "--tile"}, {"--tile", "x", "--tile"},
                    {"--max-device-memory", "8X", "--max-device-memory"}, {"--max-device-memory", "0", "--max-device-memory"},
                    {"--max-device-memory", "1.5G", "--max-device-memory"}}) {
                List<String> a = new ArrayList<>(base);
                a.add(bad[0]);
                a.add(bad[1]);
                StylizeCommandTest.assertFails(2, d, a, bad[2]);
            }
        }
        // A budget nothing fits, and an option that cannot be tiled.
        List<String> tight = new ArrayList<>(stylize);
        tight.addAll(List.of("--max-device-memory", "1M"));
        StylizeCommandTest.assertFails(2, d, tight, "--max-device-memory 1 MiB is too small");
        List<String> tightLoss = new ArrayList<>(loss);
        tightLoss.addAll(List.of("--max-device-memory", "1M"));
        StylizeCommandTest.assertFails(2, d, tightLoss, "--max-device-memory 1 MiB is too small");
        List<String> norm = new ArrayList<>(stylize);
        norm.addAll(List.of("--tile", "16", "--normalize-gradients"));
        StylizeCommandTest.assertFails(2, d, norm, "--normalize-gradients cannot be combined with --tile");
        // Half storage: a bad value, and half with tiles or several devices, for every command that takes it.
        for (List<String> base : List.of(stylize, texture, loss, bench)) {
            List<String> a = new ArrayList<>(base);
            a.addAll(List.of("--storage", "fp16"));
            StylizeCommandTest.assertFails(2, d, a, "--storage must be float or half, not 'fp16'");
            List<String> t = new ArrayList<>(base);
            t.addAll(List.of("--storage", "half", "--tile", "16"));
            StylizeCommandTest.assertFails(2, d, t, "--storage half cannot be combined with tiled evaluation");
        }
        List<String> halfTwo = new ArrayList<>(stylize);
        halfTwo.addAll(List.of("--storage", "half", "--device", "0,0"));
        StylizeCommandTest.assertFails(2, d, halfTwo, "--storage half cannot be combined with tiled evaluation");
        StylizeCommandTest.assertFails(2, d, List.of("bench", "--size", "3840x"), "--size");
        StylizeCommandTest.assertFails(2, d, List.of("bench", "--size", "3840x8"), "--size 3840x8: must be at least 16");
    }

    /** A budget between the tiled and the untiled estimate: loss picks tiles, says so, and gives the untiled values. */
    @Test
    void aBudgetThatNeedsTilesPicksThem() throws Exception {
        org.clstyle.weights.VggWeights w = org.clstyle.transfer.Stylizer.loadWeights(weights);
        org.clstyle.loss.Recipe recipe = org.clstyle.loss.Recipe.defaultsFor(w.preprocessing());
        Path big = CliFixtures.image(dir.resolve("big.png"), 400, 300, 3); // larger than a tile with its halo
        List<int[]> styleHW = List.of(new int[] {36, 36});
        long untiled = org.clstyle.loss.LossFactory.plan(w, recipe, true, 300, 400, styleHW, false,
                org.clstyle.loss.LossFactory.Tiling.NONE, 0).estimateBytes();
        long tiled = org.clstyle.loss.LossFactory.plan(w, recipe, true, 300, 400, styleHW, false,
                new org.clstyle.loss.LossFactory.Tiling(16, 0), 0).estimateBytes();
        assertTrue(tiled < untiled, tiled + " < " + untiled);
        long budgetK = (tiled + untiled) / 2 / 1024;
        List<String> loss = List.of("--content", big.toString(), "--style", style.toString(), "--image", big.toString(),
                "--weights", weights.toString());
        LossCommandTest.Result plain = LossCommandTest.run(loss.toArray(String[]::new));
        List<String> withBudget = new ArrayList<>(loss);
        withBudget.addAll(List.of("--max-device-memory", budgetK + "K"));
        LossCommandTest.Result budget = LossCommandTest.run(withBudget.toArray(String[]::new));
        assertEquals(0, plain.code(), plain.err());
        assertEquals(0, budget.code(), budget.err());
        assertTrue(budget.err().contains("tiled to fit --max-device-memory"), budget.err());
        ObjectMapper json = new ObjectMapper();
        JsonNode a = json.readTree(plain.out()), b = json.readTree(budget.out());
        LossCommandTest.close("total", a.get("total").asDouble(), b.get("total").asDouble());
        for (String kind : List.of("content", "style")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = a.get(kind).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                LossCommandTest.close(kind + " " + e.getKey(), e.getValue().asDouble(), b.get(kind).get(e.getKey()).asDouble());
            }
        }
    }

    /**
     * --device 0,0: two contexts on one device (the same code as two devices) share the tiles; loss gives
     * the golden values, bench reports the run; a bad entry in the list is one line.
     */
    @Test
    void severalDevicesShareTheTiles(@TempDir Path d) throws Exception {
        ObjectMapper json = new ObjectMapper();
        Path golden = LossCommandTest.GOLDEN;
        JsonNode c = json.readTree(golden.resolve("cases.json").toFile()).get("cases").get("caffe_max_mse");
        Path recipe = d.resolve("recipe.json");
        Files.writeString(recipe, c.get("recipe").toString());
        List<String> args = new ArrayList<>(List.of("--content", golden.resolve("content.png").toString(),
                "--image", golden.resolve("image.png").toString(), "--recipe", recipe.toString(),
                "--weights", golden.resolve("vgg19_tiny.safetensors").toString(), "--device", "0,0", "--tile", "16"));
        for (JsonNode s : c.get("styles")) {
            args.add("--style");
            args.add(golden.resolve(s.asText()).toString());
        }
        LossCommandTest.Result r = LossCommandTest.run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("clstyle: note: 4 tiles dealt by speed (measured): device 0: "), r.err());
        JsonNode got = json.readTree(r.out());
        JsonNode expected = c.get("expected");
        LossCommandTest.close("total", expected.get("total").asDouble(), got.get("total").asDouble());
        for (String kind : List.of("content", "style")) {
            for (Iterator<Map.Entry<String, JsonNode>> it = expected.get(kind).fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                LossCommandTest.close(kind + " " + e.getKey(), e.getValue().asDouble(), got.get(kind).get(e.getKey()).asDouble());
            }
        }
        CliFixtures.Run b = CliFixtures.run("bench", "--size", "48x32", "--device", "0,0", "--iterations", "1", "--warmup", "0");
        assertEquals(0, b.exit(), b.err());
        assertTrue(b.out().contains("ShardedTiledLoss.evaluate") && b.out().contains("dealt to 2 devices"), b.out());
        assertTrue(b.out().contains("split: ") && b.out().contains("dealt by speed (measured): device 0: "), b.out());
        StylizeCommandTest.assertFails(2, null, List.of("bench", "--size", "32", "--device", "0,"), "--device 0,: an empty entry");
        StylizeCommandTest.assertFails(2, null, List.of("bench", "--size", "32", "--device", "0,99"), "--device 99");
    }

    /** jcjohnson's --multidevice-strategy (a layer split) is refused in one line that points to --device, exit 2, nothing written. */
    @Test
    void jcjohnsonsLayerSplitIsRefusedWithAdvice(@TempDir Path d) throws Exception {
        Path out = java.nio.file.Files.createDirectory(d.resolve("out")); // must stay empty
        StylizeCommandTest.assertFails(2, out, List.of("stylize", "--content", content.toString(), "--style", style.toString(),
                "-o", out.resolve("x.png").toString(), "--weights", weights.toString(), "--device", "0,0",
                "--multidevice-strategy", "3,6,12"),
                "--multidevice-strategy 3,6,12: clstyle does not split the network's layers across devices; it shares the image's"
                        + " tiles among the --device list");
        StylizeCommandTest.assertFails(2, null, List.of("bench", "--multidevice-strategy", "3"), "--multidevice-strategy 3: ");
    }

    /**
     * -Dclstyle.device.speeds forces the split: bench reports the forced one (a device 1000 times
     * slower gets no tile); a bad list is one line naming the property, exit 2, for bench, loss and
     * stylize (nothing written); with one device the property is not read.
     */
    @Test
    void forcedDeviceSpeeds(@TempDir Path d) throws Exception {
        String before = System.getProperty("clstyle.device.speeds");
        try {
            System.setProperty("clstyle.device.speeds", "1000,1");
            CliFixtures.Run b = CliFixtures.run("bench", "--size", "48x32", "--device", "0,0", "--tile", "16", "--iterations", "1",
                    "--warmup", "0");
            assertEquals(0, b.exit(), b.err());
            assertTrue(b.out().contains("split: 6 tiles dealt by speed (speeds forced): device 0: 6 tiles [0 1 2 3 4 5] (100% of the area),"
                    + " speed 1, device 1: 0 tiles (0% of the area), speed 0.001"), b.out());
            for (String bad : List.of("1", "1,0", "1,x", "1,2,3", "")) {
                System.setProperty("clstyle.device.speeds", bad);
                StylizeCommandTest.assertFails(2, null, List.of("bench", "--size", "32", "--device", "0,0"),
                        "-Dclstyle.device.speeds=" + bad + ": ");
            }
            System.setProperty("clstyle.device.speeds", "2,-1");
            StylizeCommandTest.assertFails(2, null, List.of("loss", "--content", content.toString(), "--style", style.toString(),
                    "--image", content.toString(), "--weights", weights.toString(), "--device", "0,0"),
                    "-Dclstyle.device.speeds=2,-1: '-1' is not a positive number");
            Path bad = java.nio.file.Files.createDirectory(d.resolve("bad")); // must stay empty
            StylizeCommandTest.assertFails(2, bad, List.of("stylize", "--content", content.toString(), "--style", style.toString(),
                    "-o", bad.resolve("bad.png").toString(), "--weights", weights.toString(), "--size", "48", "--iterations", "1",
                    "--quiet", "--device", "0,0"), "-Dclstyle.device.speeds=2,-1: ");
            CliFixtures.Run one = CliFixtures.run("bench", "--size", "32", "--device", "0", "--iterations", "1", "--warmup", "0");
            assertEquals(0, one.exit(), one.err());
        } finally {
            if (before == null) {
                System.clearProperty("clstyle.device.speeds");
            } else {
                System.setProperty("clstyle.device.speeds", before);
            }
        }
    }
}
