package org.clstyle.cli;

import static org.clstyle.cli.StylizeCommandTest.assertFails;
import static org.clstyle.cli.StylizeCommandTest.base;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --augment, --augment-seed, --pad-edges, a recipe's "augment" and --log-json from the command line. */
class AugmentCommandTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        StylizeCommandTest.dir = dir; // StylizeCommandTest's helpers and fixtures, in this class's folder
        StylizeCommandTest.fixtures();
    }

    @Test
    void augmentedTwoScalesKeepTheSizeAndLogEveryIteration() throws Exception {
        Path d = StylizeCommandTest.outDir("aug-e2e");
        Path o = d.resolve("out.png"), log = d.resolve("log.jsonl");
        List<String> a = base(o, "--optimizer", "adam", "--scales", "2", "--augment", "rotate=5,scale=0.05,shift=3",
                "--augment-seed", "3", "--log-json", log.toString(), "--style-weight", "1e6");
        a.set(a.indexOf("--size") + 1, "40");
        CliFixtures.Run r = CliFixtures.run(a.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = ImageIO.read(o.toFile());
        assertEquals(40, img.getWidth());
        assertEquals(32, img.getHeight());
        List<String> lines = Files.readAllLines(log);
        assertEquals(6, lines.size(), "3 iterations x 2 scales");
        ObjectMapper json = new ObjectMapper();
        for (int i = 0; i < lines.size(); i++) {
            JsonNode n = json.readTree(lines.get(i));
            assertEquals(i + 1, n.get("iteration").asInt());
            assertEquals(i < 3 ? 20 : 40, n.get("width").asInt());
            JsonNode aug = n.get("augment");
            assertTrue(Math.abs(aug.get("rotate").asDouble()) <= 5 && Math.abs(aug.get("zoom").asDouble() - 1) <= 0.05
                    && Math.abs(aug.get("shift_x").asDouble()) <= 3, aug.toString());
            double sum = n.get("tv").get("weighted").asDouble();
            for (String term : List.of("content", "style")) {
                for (JsonNode t : n.get(term)) {
                    sum += t.get("weighted").asDouble();
                }
            }
            double total = n.get("total").asDouble();
            assertEquals(total, sum, 1e-9 * Math.abs(total), "weighted terms add up to the total: " + lines.get(i));
            assertEquals(1e6, n.get("style").get("relu1_1").get("weighted").asDouble()
                    / n.get("style").get("relu1_1").get("raw").asDouble(), 1e-3);
            assertTrue(n.get("grad_norm").asDouble() > 0 && n.get("step_norm").asDouble() > 0, lines.get(i));
        }
    }

    @Test
    void sameSeedSameResultOtherSeedOther() throws Exception {
        Path d = StylizeCommandTest.outDir("aug-seed");
        Path a = d.resolve("a.png"), b = d.resolve("b.png"), c = d.resolve("c.png");
        for (Path p : List.of(a, b, c)) {
            String seed = p == c ? "2" : "1";
            assertEquals(0, CliFixtures.run(base(p, "--augment", "strong", "--augment-seed", seed, "--style-weight", "1e6")
                    .toArray(String[]::new)).exit());
        }
        assertTrue(Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(b)), "deterministic for one seed");
        assertFalse(Arrays.equals(Files.readAllBytes(a), Files.readAllBytes(c)), "another seed draws other views");
    }

    @Test
    void recipeAugmentAndTextureWithLbfgs() throws Exception {
        Path d = StylizeCommandTest.outDir("aug-recipe");
        Path recipe = Files.writeString(d.resolve("r.json"), "{\"augment\": {\"rotate\": 4, \"shift\": 2, \"pad_edges\": 3}}");
        Path o = d.resolve("t.png");
        CliFixtures.Run r = CliFixtures.run("texture", "--style", StylizeCommandTest.style.toString(), "-o", o.toString(),
                "--weights", StylizeCommandTest.weights.toString(), "--size", "24x18", "--iterations", "2",
                "--recipe", recipe.toString(), "--print-every", "1");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("augmenting every step: rotate 4 deg, scale 0, shift 2 px, pad 3 px"), r.err());
        BufferedImage img = ImageIO.read(o.toFile());
        assertEquals(24, img.getWidth());
        assertEquals(18, img.getHeight());
    }

    @Test
    void badOptionsAreOneLine() throws Exception {
        Path d = StylizeCommandTest.outDir("aug-bad");
        Path o = d.resolve("x.png");
        assertFails(2, d, base(o, "--augment", "wobbly"), "--augment", "wobbly");
        assertFails(2, d, base(o, "--augment", "rotate=ten"), "--augment", "rotate");
        assertFails(2, d, base(o, "--augment", "rotate=90"), "--augment", "rotate", "45");
        assertFails(2, d, base(o, "--augment", "light", "--pad-edges", "-2"), "--pad-edges");
        assertFails(2, d, base(o, "--augment-seed", "4"), "--augment-seed", "--augment");
        assertFails(2, d, base(o, "--log-json", d.resolve("missing/log.jsonl").toString()), "--log-json", "missing");
        Path recipe = Files.writeString(StylizeCommandTest.outDir("aug-bad-recipe").resolve("r.json"),
                "{\"augment\": {\"spin\": 1}}");
        assertFails(2, d, base(o, "--recipe", recipe.toString()), recipe.toString(), "spin");
    }
}
