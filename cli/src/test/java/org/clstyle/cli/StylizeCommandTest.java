package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clstyle.transfer.ProgressListener;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * stylize and texture from the command line: every error case gives a non-zero exit, exactly one
 * stderr line naming the file or option, and no output file (nor temporary); short end-to-end runs on
 * a tiny random VGG19 produce valid images of the right size.
 */
class StylizeCommandTest {
    @TempDir
    static Path dir;
    static Path weights, content, style, out;

    @BeforeAll
    static void fixtures() throws Exception {
        weights = CliFixtures.tinyWeights(dir.resolve("tiny.safetensors"));
        content = CliFixtures.image(dir.resolve("content.png"), 40, 32, 1);
        style = CliFixtures.image(dir.resolve("style.png"), 36, 36, 2);
    }

    static Path outDir(String name) throws Exception {
        return Files.createDirectories(dir.resolve(name));
    }

    static List<String> base(Path output, String... more) {
        List<String> a = new ArrayList<>(List.of("stylize", "--content", content.toString(), "--style", style.toString(),
                "-o", output.toString(), "--weights", weights.toString(), "--size", "32", "--iterations", "3", "--quiet"));
        for (int i = 0; i < more.length; i++) {
            int at = a.indexOf(more[i]);
            boolean valued = i + 1 < more.length && !more[i + 1].startsWith("--");
            if (at >= 0 && valued && !more[i].equals("--style")) {
                a.set(at + 1, more[++i]); // later value of a repeated option replaces the default above
            } else {
                a.add(more[i]);
                if (valued) {
                    a.add(more[++i]);
                }
            }
        }
        return a;
    }

    /** Runs, then checks: exit code, one stderr line containing every {@code mentions}, nothing in {@code d}. */
    static void assertFails(int exit, Path d, List<String> args, String... mentions) throws Exception {
        CliFixtures.Run r = CliFixtures.run(args.toArray(String[]::new));
        assertEquals(exit, r.exit(), "exit code; stderr: " + r.err());
        assertEquals(1, r.errLines().size(), "exactly one stderr line, got: " + r.err());
        String line = r.errLines().get(0);
        for (String m : mentions) {
            assertTrue(line.contains(m), "stderr line should mention '" + m + "': " + line);
        }
        assertFalse(line.contains("Exception"), "no exception names: " + line);
        if (d != null) {
            try (Stream<Path> s = Files.list(d)) {
                assertEquals(List.of(), s.toList(), "no output or temporary file left behind");
            }
        }
    }

    @Test
    void missingContentImage() throws Exception {
        Path d = outDir("missing");
        Path missing = dir.resolve("nope.png");
        List<String> a = base(d.resolve("o.png"));
        a.set(a.indexOf(content.toString()), missing.toString());
        assertFails(2, d, a, missing.toString(), "no such file");
    }

    @Test
    void styleThatIsNotAnImage() throws Exception {
        Path d = outDir("notimage");
        Path text = Files.writeString(dir.resolve("text.jpg"), "hello");
        List<String> a = base(d.resolve("o.png"));
        a.set(a.indexOf(style.toString()), text.toString());
        assertFails(2, d, a, text.toString(), "not a PNG or JPEG");
    }

    @Test
    void unknownLayerName() throws Exception {
        Path d = outDir("layer");
        assertFails(2, d, base(d.resolve("o.png"), "--style-layers", "relu1_1,relu9_9"), "--style-layers", "relu9_9");
        assertFails(2, d, base(d.resolve("o.png"), "--content-layers", "conv4_7"), "--content-layers", "conv4_7");
    }

    @Test
    void malformedRecipe() throws Exception {
        Path d = outDir("recipe");
        Path recipe = Files.writeString(dir.resolve("bad.json"), "{\"style\": {\"weight\": ");
        assertFails(2, d, base(d.resolve("o.png"), "--recipe", recipe.toString()), recipe.toString());
        Path wrongField = Files.writeString(dir.resolve("field.json"), "{\"style\": {\"wieght\": 3}}");
        assertFails(2, d, base(d.resolve("o.png"), "--recipe", wrongField.toString()), wrongField.toString(), "wieght");
        Path missing = dir.resolve("none.json");
        assertFails(2, d, base(d.resolve("o.png"), "--recipe", missing.toString()), missing.toString());
    }

    @Test
    void badPresets() throws Exception {
        Path d = outDir("presets");
        Path o = d.resolve("o.png");
        assertFails(2, d, base(o, "--preset", "paper"), "--preset", "unknown preset 'paper'");
        assertFails(2, d, base(o, "--preset", "vgg16"), "preset vgg16 needs VGG16 weights", "holds VGG19");
        assertFails(2, d, base(o, "--preset", "gatys", "--loss", "l1"), "style.gram \"gatys\"", "needs style.loss \"mse\"");
        assertFails(2, d, base(o, "--preset", "practical", "--line-search"), "--line-search applies to --optimizer lbfgs only");
        Path recipe = Files.writeString(dir.resolve("preset.json"), "{\"preset\": \"nope\"}");
        assertFails(2, d, base(o, "--recipe", recipe.toString()), recipe.toString(), "unknown preset 'nope'");
    }

    @Test
    void badNumbers() throws Exception {
        Path d = outDir("numbers");
        Path o = d.resolve("o.png");
        assertFails(2, d, base(o, "--iterations", "-3"), "--iterations");
        assertFails(2, d, base(o, "--size", "0"), "--size");
        assertFails(2, d, base(o, "--iterations", "many"), "--iterations");
        assertFails(2, d, base(o, "--style-weight", "-1"), "--style-weight");
        assertFails(2, d, base(o, "--lr", "0"), "--lr");
        assertFails(2, d, base(o, "--style-blend", "1,2"), "--style-blend");
        assertFails(2, d, base(o, "--scales", "3", "--size", "32"), "--scales");
        assertFails(2, d, base(o, "--optimizer", "sgd"), "--optimizer");
        assertFails(2, d, base(o, "--loss", "huber"), "--loss");
        assertFails(2, d, base(o, "--save-every", "-1"), "--save-every");
    }

    @Test
    void unwritableOutput() throws Exception {
        Path d = outDir("unwritable");
        Path noDir = d.resolve("no/such/dir/o.png");
        assertFails(2, d, base(noDir), noDir.toString(), "does not exist");
        Path isDir = Files.createDirectories(dir.resolve("adir.png"));
        assertFails(2, null, base(isDir), isDir.toString(), "directory");
        Path gif = d.resolve("o.gif");
        assertFails(2, d, base(gif), gif.toString(), "extension");
    }

    @Test
    void weightsThatAreNotWeights() throws Exception {
        Path d = outDir("weights");
        Path bogus = Files.writeString(dir.resolve("bogus.safetensors"), "definitely not safetensors");
        List<String> a = base(d.resolve("o.png"));
        a.set(a.indexOf(weights.toString()), bogus.toString());
        assertFails(2, d, a, bogus.toString());
    }

    @Test
    void deviceAllocationFailureNamesTheSize() throws Exception {
        Path d = outDir("huge");
        assertFails(2, d, base(d.resolve("o.png"), "--size", "100000"), "--size 100000", "try a smaller --size");
    }

    @Test
    void deviceMemoryLimitHookGivesTheSameMessage() throws Exception {
        Path d = outDir("limit");
        StylizeSettings s = StylizeSettings.builder().content(content).styles(List.of(style)).output(d.resolve("o.png"))
                .weights(weights).size(64).iterations(1).installShutdownHook(false).deviceMemoryLimit(100_000).build();
        StylizeException e = org.junit.jupiter.api.Assertions.assertThrows(StylizeException.class,
                () -> new Stylizer(s, null).run());
        assertTrue(e.getMessage().contains("--size 64") && e.getMessage().contains("try a smaller --size"), e.getMessage());
        try (Stream<Path> f = Files.list(d)) {
            assertEquals(0, f.count());
        }
    }

    @Test
    void unknownDevice() throws Exception {
        Path d = outDir("device");
        assertFails(2, d, base(d.resolve("o.png"), "--device", "no-such-device-xyz"), "--device");
    }

    static BufferedImage readPng(Path p) throws Exception {
        BufferedImage img = ImageIO.read(p.toFile());
        assertTrue(img != null, p + " is a readable image");
        return img;
    }

    @Test
    void endToEndThreeIterationsAt32Pixels() throws Exception {
        Path d = outDir("e2e");
        Path o = d.resolve("out.png");
        CliFixtures.Run r = CliFixtures.run(base(o, "--save-every", "2", "--normalize-gradients").toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = readPng(o);
        assertEquals(32, img.getWidth());   // content 40x32, longest side 32
        assertEquals(26, img.getHeight());  // 32 * 32/40 = 25.6
        BufferedImage snap = readPng(d.resolve("out_2.png"));
        assertEquals(32, snap.getWidth());
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(2, s.count(), "out.png and out_2.png only");
        }
        assertEquals("", r.err(), "--quiet prints nothing on stderr");
    }

    @Test
    void endToEndAdamTwoScalesOriginalColoursJpeg() throws Exception {
        Path d = outDir("e2e2");
        Path o = d.resolve("out.jpg");
        List<String> a = base(o, "--optimizer", "adam", "--scales", "2", "--original-colors", "--init", "noise",
                "--print-every", "1");
        a.set(a.indexOf("--size") + 1, "40"); // --size 40 -> scales 20x16 then 40x32
        a.remove("--quiet");
        CliFixtures.Run r = CliFixtures.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = readPng(o);
        assertEquals(40, img.getWidth());
        assertEquals(32, img.getHeight());
        assertTrue(r.err().contains("iteration 6/6"), r.err());
        assertTrue(r.out().contains("wrote"), r.out());
    }

    @Test
    void textureOfAnySize() throws Exception {
        Path d = outDir("texture");
        Path o = d.resolve("tex.png");
        CliFixtures.Run r = CliFixtures.run("texture", "--style", style.toString(), "-o", o.toString(), "--weights",
                weights.toString(), "--size", "48x20", "--iterations", "2", "--quiet");
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = readPng(o);
        assertEquals(48, img.getWidth());
        assertEquals(20, img.getHeight());
        Path bad = outDir("texture-bad");
        assertFails(2, bad, List.of("texture", "--style", style.toString(), "-o", bad.resolve("t2.png").toString(),
                "--weights", weights.toString(), "--size", "48x"), "--size");
        assertFails(2, bad, List.of("texture", "--style", style.toString(), "-o", bad.resolve("t2.png").toString(),
                "--weights", weights.toString(), "--size", "8x40"), "--size");
    }

    @Test
    void stopRequestWritesTheLastImage() throws Exception {
        Path d = outDir("stop");
        Path o = d.resolve("o.png");
        Stylizer[] holder = new Stylizer[1];
        List<Integer> seen = new ArrayList<>();
        StylizeSettings s = StylizeSettings.builder().content(content).styles(List.of(style)).output(o).weights(weights)
                .size(32).iterations(50).installShutdownHook(false).build();
        holder[0] = new Stylizer(s, new ProgressListener() {
            @Override
            public void onIteration(Progress p) {
                seen.add(p.iteration());
                if (p.iteration() == 2) {
                    holder[0].requestStop();
                }
            }
        });
        Stylizer.Result r = holder[0].run();
        assertTrue(r.interrupted());
        assertEquals(2, r.iterations());
        assertEquals(List.of(1, 2), seen);
        assertEquals(32, readPng(o).getWidth());
    }

    @Test
    void sameSeedSameNoiseStart() throws Exception {
        Path d = outDir("seed");
        Path a = d.resolve("a.png"), b = d.resolve("b.png");
        for (Path p : List.of(a, b)) {
            assertEquals(0, CliFixtures.run(base(p, "--init", "noise", "--seed", "5", "--iterations", "1")
                    .toArray(String[]::new)).exit());
        }
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(b)), "deterministic for one seed");
    }
}
