package org.clstyle.cli;

import static org.clstyle.cli.StylizeCommandTest.assertFails;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** compare: several recipes on the same inputs into one labelled contact sheet; its one-line errors. */
class CompareCommandTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        StylizeCommandTest.dir = dir;
        StylizeCommandTest.fixtures();
    }

    static List<String> args(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("compare", "-o", out.toString(), "--weights",
                StylizeCommandTest.weights.toString(), "--content", StylizeCommandTest.content.toString(),
                "--style", StylizeCommandTest.style.toString(), "--size", "32", "--iterations", "2", "--quiet"));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void twoPresetsAndARecipeFileMakeOneSheetWithACellEach() throws Exception {
        Path d = StylizeCommandTest.outDir("compare");
        Path recipe = Files.writeString(dir.resolve("mine.json"), "{\"content\": {\"weight\": 1}, \"style\": {\"weight\": 10}}");
        Path sheet = d.resolve("sheet.png");
        CliFixtures.Run r = CliFixtures.run(args(sheet, "--preset", "jcjohnson", "--preset", "tutorial", "--recipe",
                recipe.toString()).toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = ImageIO.read(sheet.toFile());
        // Three cells of at most 32 px side by side with gaps, a title line and a label row.
        assertTrue(img.getWidth() >= 3 * 20 && img.getWidth() <= 3 * 32 + 4 * 4, "width " + img.getWidth());
        assertTrue(img.getHeight() > 32, "height " + img.getHeight());
        try (Stream<Path> s = Files.list(d)) {
            assertEquals(List.of(sheet), s.toList(), "only the sheet is written");
        }
        String label = CompareCommand.terms(org.clstyle.loss.Recipe.defaultsFor(org.clstyle.weights.Preprocessing.CAFFE),
                new org.clstyle.loss.LossValues(3, java.util.Map.of("relu4_2", 0.2), java.util.Map.of("relu1_1", 0.01), 0.5));
        assertTrue(label.startsWith("c 1.0 s 1.0 tv 16"), label); // defaults: content 5, style 100, tv 32.5
    }

    @Test
    void badInputIsOneLine() throws Exception {
        Path d = StylizeCommandTest.outDir("compare-bad");
        assertFails(2, d, args(d.resolve("s.png"), "--preset", "jcjohnson"), "at least two");
        assertFails(2, d, args(d.resolve("s.png"), "--preset", "jcjohnson", "--preset", "nope"), "--preset");
        assertFails(2, d, args(d.resolve("s.png"), "--preset", "jcjohnson", "--recipe", dir.resolve("none.json").toString()),
                "none.json");
    }
}
