package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.clstyle.transfer.OutputGuard;
import org.clstyle.transfer.ProgressListener;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14's classes of bad input, each through the real command line: exit code 2, one stderr line
 * naming the file or option, no exception class names, the user's files untouched and nothing written.
 */
class HardeningTest {
    @TempDir
    static Path dir;
    static Path weights, content, style, style2;

    @BeforeAll
    static void fixtures() throws Exception {
        weights = CliFixtures.tinyWeights(dir.resolve("tiny.safetensors"));
        content = CliFixtures.image(dir.resolve("content.png"), 40, 32, 1);
        style = CliFixtures.image(dir.resolve("style.png"), 36, 36, 2);
        style2 = CliFixtures.image(dir.resolve("style2.png"), 30, 40, 3);
    }

    static List<String> stylize(Path output, String... more) {
        List<String> a = new ArrayList<>(List.of("stylize", "--content", content.toString(), "--style", style.toString(),
                "-o", output.toString(), "--weights", weights.toString(), "--size", "32", "--iterations", "2", "--quiet"));
        a.addAll(List.of(more));
        return a;
    }

    /** The contents of every input, to check nothing was touched. */
    static List<byte[]> snapshot() throws Exception {
        List<byte[]> b = new ArrayList<>();
        for (Path p : List.of(weights, content, style, style2)) {
            b.add(Files.readAllBytes(p));
        }
        return b;
    }

    static void assertUntouched(List<byte[]> before) throws Exception {
        List<byte[]> after = snapshot();
        for (int i = 0; i < before.size(); i++) {
            assertArrayEquals(before.get(i), after.get(i), "input " + i + " untouched");
        }
    }

    static CliFixtures.Run assertFails(Path emptyDir, List<String> args, String... mentions) throws Exception {
        List<byte[]> before = snapshot();
        CliFixtures.Run r = CliFixtures.run(args.toArray(String[]::new));
        assertEquals(2, r.exit(), "exit code; stderr: " + r.err());
        assertEquals(1, r.errLines().size(), "one stderr line: " + r.err());
        String line = r.errLines().get(0);
        for (String m : mentions) {
            assertTrue(line.contains(m), "should mention '" + m + "': " + line);
        }
        assertFalse(line.contains("Exception"), "no exception names: " + line);
        assertTrue(line.length() < 600, "bounded: " + line.length());
        assertUntouched(before);
        if (emptyDir != null) {
            try (Stream<Path> s = Files.list(emptyDir)) {
                assertEquals(List.of(), s.toList(), "nothing written");
            }
        }
        return r;
    }

    static Path sub(String name) throws Exception {
        return Files.createDirectories(dir.resolve(name));
    }

    @Test
    void outputThatIsAnInputIsRefused() throws Exception {
        assertFails(null, stylize(content), "-o", "--content", content.toString(), "same file");
        // Another spelling of the same file, and a link to it.
        Path spelled = dir.resolve("x/../style.png");
        Files.createDirectories(dir.resolve("x"));
        assertFails(null, stylize(spelled), "-o", "--style", "same file");
        Path link = Files.createSymbolicLink(dir.resolve("link.png"), content);
        assertFails(null, stylize(link), "--content", "same file");
        assertFails(null, List.of("texture", "--style", style.toString(), "-o", style.toString(), "--weights",
                weights.toString(), "--size", "32", "--quiet"), "--style", "same file");
        // loss --grad-out onto an input (any name ending: it is the same file that matters).
        Path img = Files.copy(content, dir.resolve("image-for-loss.png"));
        byte[] imgBytes = Files.readAllBytes(img);
        assertFails(null, List.of("loss", "--image", img.toString(), "--style", style.toString(), "--weights",
                weights.toString(), "--grad-out", img.toString()), "--grad-out", "--image", "same file");
        assertFails(null, List.of("loss", "--image", img.toString(), "--style", style.toString(), "--weights",
                weights.toString(), "--grad-out", weights.toString()), "--grad-out", "--weights");
        assertArrayEquals(imgBytes, Files.readAllBytes(img));
        // A snapshot name that is an input (out_2.png with --save-every 2) is refused before any work.
        Path snapDir = sub("snapshot-is-input");
        Path snapInput = Files.copy(style, snapDir.resolve("out_2.png"));
        assertFails(null, List.of("stylize", "--content", content.toString(), "--style", snapInput.toString(), "-o",
                snapDir.resolve("out.png").toString(), "--weights", weights.toString(), "--size", "32", "--iterations", "3",
                "--save-every", "2", "--quiet"), "--save-every", "same file");
        assertEquals(1, Files.list(snapDir).count(), "only the input, untouched");
        // weights convert onto its own input.
        Path copy = Files.copy(weights, dir.resolve("copy.safetensors"));
        byte[] w = Files.readAllBytes(copy);
        assertFails(null, List.of("weights", "convert", copy.toString(), "-o", copy.toString()), "-o", "same file");
        assertArrayEquals(w, Files.readAllBytes(copy));
    }

    @Test
    void twoRunsCannotWriteTheSameOutput() throws Exception {
        Path d = sub("locked");
        Path o = d.resolve("o.png");
        try (OutputGuard held = OutputGuard.lock("-o", d.resolve("./o.png"))) {
            assertFails(d, stylize(o), "-o", o.toString(), "another clstyle run");
        }
        assertEquals(0, CliFixtures.run(stylize(o).toArray(String[]::new)).exit(), "free again once released");
    }

    @Test
    void nonFiniteLossIsAnErrorAndWritesNothingWithoutAFiniteImage() throws Exception {
        Path d = sub("nan");
        assertFails(d, stylize(d.resolve("o.png"), "--style-weight", "1e300"), "--style-weight", "lower", "nothing written");
    }

    @Test
    void nonFiniteLossAfterFiniteStepsKeepsTheLastFiniteImage() throws Exception {
        // Adam from the content: the content term starts at 0 and its gradient overflows float32 a few steps
        // later, once the image has moved; the image of the last step with a finite loss is written. The weight
        // itself fits float32 (max 3.4e38: 1e39 would be infinite from the start, and nothing written).
        Path d = sub("nan-late");
        Path o = d.resolve("o.png");
        List<String> a = stylize(o, "--optimizer", "adam", "--content-weight", "2e38");
        a.set(a.indexOf("--iterations") + 1, "30");
        CliFixtures.Run r = assertFails(null, a, "--content-weight", "lower", "wrote the last finite image (iteration");
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(List.of(o), s.toList(), "the last finite image only, no temporary");
        }
        assertEquals(32, javax.imageio.ImageIO.read(o.toFile()).getWidth());
        assertFalse(r.err().contains("iteration 0)"), r.err());
    }

    @Test
    void stopBeforeTheFirstIterationWritesNothing() throws Exception {
        Path d = sub("stop0");
        Path o = d.resolve("o.png");
        StylizeSettings s = StylizeSettings.builder().content(content).styles(List.of(style)).output(o).weights(weights)
                .size(32).iterations(5).installShutdownHook(false).build();
        List<String> notes = new ArrayList<>();
        Stylizer st = new Stylizer(s, new ProgressListener() {
            @Override
            public void onNote(String note) {
                notes.add(note);
            }
        });
        st.requestStop(); // Ctrl-C while the network is still loading
        Stylizer.Result r = st.run();
        assertTrue(r.interrupted());
        assertNull(r.output());
        assertEquals(0, r.iterations());
        assertTrue(notes.stream().anyMatch(n -> n.contains("nothing written")), notes.toString());
        try (Stream<Path> f = Files.list(d)) {
            assertEquals(0, f.count());
        }
    }

    @Test
    void sizesAreCheckedIn64BitsNamingTheOption() throws Exception {
        Path d = sub("sizes");
        assertFails(d, stylize(d.resolve("o.png"), "--style-scale", "1000"), "--style-scale 1000", "try a smaller --style-scale");
        assertFails(d, List.of("texture", "--style", style.toString(), "-o", d.resolve("t.png").toString(), "--weights",
                weights.toString(), "--size", "16x100000", "--quiet"), "--size 16x100000");
        // A style scale that fits an array but not the device: the memory message blames --style-scale.
        StylizeSettings s = StylizeSettings.builder().content(content).styles(List.of(style)).output(d.resolve("o.png"))
                .weights(weights).size(32).styleScale(100).iterations(1).installShutdownHook(false)
                .deviceMemoryLimit(50_000_000).build();
        org.clstyle.transfer.StylizeException e = org.junit.jupiter.api.Assertions.assertThrows(
                org.clstyle.transfer.StylizeException.class, () -> new Stylizer(s, null).run());
        assertTrue(e.getMessage().startsWith("--style-scale 100") && e.getMessage().contains("try a smaller --style-scale"),
                e.getMessage());
    }

    @Test
    void imagesAboveThePixelLimitAreRefusedNamingTheOption() throws Exception {
        Path d = sub("pixels");
        assertFails(d, stylize(d.resolve("o.png"), "--max-pixels", "1000"), content.toString(), "40x32", "--max-pixels");
        assertFails(d, List.of("loss", "--image", content.toString(), "--style", style.toString(), "--weights",
                weights.toString(), "--max-pixels", "1000"), content.toString(), "--max-pixels");
    }

    @Test
    void userErrorsExitTwoNamingTheFileOrOption() throws Exception {
        Path d = sub("exit2");
        Path blend = Files.writeString(dir.resolve("blend.json"), "{\"style_blend\": [1, 2]}");
        assertFails(d, stylize(d.resolve("o.png"), "--recipe", blend.toString()), blend.toString(), "style_blend");
        assertFails(d, List.of("loss", "--image", content.toString(), "--style", style.toString(), "--weights",
                weights.toString(), "--size", "1"), "--size");
        assertFails(null, List.of("weights", "fetch", "--url", "https://example.invalid/w.pth", "--sha256", "xyz",
                "--cache-dir", d.toString()), "--sha256");
        Path file = Files.writeString(dir.resolve("not-a-dir"), "x");
        assertFails(null, List.of("weights", "fetch", "--cache-dir", file.toString()), "--cache-dir", "not a directory");
        Path dupKey = Files.writeString(dir.resolve("dup.json"), "{\"style\": {\"weight\": 1, \"weight\": 2}}");
        assertFails(d, stylize(d.resolve("o.png"), "--recipe", dupKey.toString()), dupKey.toString(), "appears twice");
        assertFails(d, stylize(d.resolve("o.png"), "--style-layers", "", "--content-layers", ""), "--style-layers", "empty");
    }

    @Test
    void unconvertedWeightsSayConvertFirst() throws Exception {
        Path d = sub("pth");
        Path pth = Files.write(dir.resolve("vgg19-dcbb9e9d.pth"), new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0});
        List<String> a = stylize(d.resolve("o.png"));
        a.set(a.indexOf(weights.toString()), pth.toString());
        assertFails(d, a, pth.toString(), "convert it first", "clstyle weights convert");
    }

    @Test
    void offlineFetchSaysHowToDownloadElsewhere() throws Exception {
        Path cache = sub("cache");
        CliFixtures.Run r = assertFails(null, List.of("weights", "fetch", "--url", "http://127.0.0.1:9/vgg19.pth",
                "--sha256", "deadbeef", "--cache-dir", cache.toString(), "--quiet"), "127.0.0.1", "another machine",
                "clstyle weights convert");
        assertTrue(r.err().contains(cache.resolve("vgg19.safetensors").toString()), r.err());
    }

    @Test
    void saveEveryNamesAreZeroPaddedAndCommaStylesWork() throws Exception {
        Path d = sub("snapshots");
        Path o = d.resolve("out.png");
        List<String> a = stylize(o, "--save-every", "5", "--style-blend", "1,1");
        a.set(a.indexOf("--iterations") + 1, "12");
        a.set(a.indexOf(style.toString()), style + "," + style2);
        CliFixtures.Run r = CliFixtures.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(List.of("out.png", "out_05.png", "out_10.png"),
                    s.map(p -> p.getFileName().toString()).sorted().toList());
        }
    }

    @Test
    void seedMinusOneIsRandomAndPrinted() throws Exception {
        Path d = sub("seed");
        Path a = d.resolve("a.png"), b = d.resolve("b.png");
        CliFixtures.Run r = CliFixtures.run(stylize(a, "--init", "noise", "--seed", "-1")
                .toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        Matcher m = Pattern.compile("using seed (\\d+)").matcher(r.err());
        assertTrue(m.find(), r.err());
        CliFixtures.Run again = CliFixtures.run(stylize(b, "--init", "noise", "--seed", m.group(1))
                .toArray(String[]::new));
        assertEquals(0, again.exit(), again.err());
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "the printed seed repeats the run");
        assertFails(null, stylize(d.resolve("c.png"), "--seed", "-2"), "--seed");
    }

    @Test
    void lbfgsHistoryIsAnOption() throws Exception {
        Path d = sub("history");
        assertEquals(0, CliFixtures.run(stylize(d.resolve("o.png"), "--lbfgs-history", "3").toArray(String[]::new)).exit());
        Path e = sub("history-bad");
        assertFails(e, stylize(e.resolve("o.png"), "--lbfgs-history", "0"), "--lbfgs-history");
        assertFails(e, stylize(e.resolve("o.png"), "--lbfgs-history", "5", "--optimizer", "adam"), "--lbfgs-history");
    }

    @Test
    void textureHelpDoesNotOfferContentInit() {
        CliFixtures.Run r = CliFixtures.run("texture", "--help");
        assertEquals(0, r.exit());
        String init = r.out().lines().filter(l -> l.contains("--init")).findFirst().orElseThrow();
        assertFalse(init.contains("content"), init);
        assertTrue(CliFixtures.run("stylize", "--help").out().contains("content|noise|IMAGE"));
    }
}
