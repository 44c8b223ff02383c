package org.clstyle.cli;

import static org.clstyle.cli.StylizeCommandTest.assertFails;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** visualize: one layer from noise (content or style), the labelled grid, and its one-line errors. */
class VisualizeCommandTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void fixtures() throws Exception {
        StylizeCommandTest.dir = dir;
        StylizeCommandTest.fixtures();
    }

    static List<String> args(Path out, String... more) {
        List<String> a = new ArrayList<>(List.of("visualize", "-o", out.toString(), "--weights",
                StylizeCommandTest.weights.toString(), "--size", "32", "--iterations", "2", "--quiet"));
        a.addAll(List.of(more));
        return a;
    }

    @Test
    void oneContentLayerAndOneStyleLayer() throws Exception {
        Path d = StylizeCommandTest.outDir("vis-one");
        Path c = d.resolve("c.png"), s = d.resolve("s.png");
        CliFixtures.Run r = CliFixtures.run(args(c, "--content", StylizeCommandTest.content.toString(), "--layer", "relu2_1")
                .toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = ImageIO.read(c.toFile());
        assertEquals(32, img.getWidth());   // the content's 40x32 at longest side 32
        assertEquals(26, img.getHeight());
        r = CliFixtures.run(args(s, "--style", StylizeCommandTest.style.toString(), "--layer", "relu1_1").toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        assertEquals(32, ImageIO.read(s.toFile()).getHeight());
    }

    @Test
    void gridHasOneLabelledCellPerLayer() throws Exception {
        Path d = StylizeCommandTest.outDir("vis-grid");
        Path g = d.resolve("grid.png");
        CliFixtures.Run r = CliFixtures.run(args(g, "--style", StylizeCommandTest.style.toString(), "--grid", "--layers",
                "relu1_1,conv2_1,relu3_1").toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        BufferedImage img = ImageIO.read(g.toFile());
        assertEquals(3 * 32 + 4 * 4, img.getWidth());   // 3 cells and 4 gaps
        assertEquals(18 + 32 + 16 + 4 + 4, img.getHeight()); // title, cell, label, gaps
        // The label band under the first cell has dark text pixels on white.
        boolean dark = false;
        for (int x = 4; x < 36; x++)
            for (int y = 18 + 32; y < 18 + 32 + 16; y++)
                dark |= (img.getRGB(x, y) & 0xff) < 128;
        assertEquals(true, dark, "a label is drawn under the cell");
        assertNotEquals(img.getRGB(10, 30), 0xffffffff, "the cell holds the image");
    }

    @Test
    void errors() throws Exception {
        Path d = StylizeCommandTest.outDir("vis-bad");
        Path o = d.resolve("x.png");
        String c = StylizeCommandTest.content.toString();
        assertFails(2, d, args(o, "--content", c, "--layer", "relu9_9"), "--layer", "relu9_9");
        assertFails(2, d, args(o, "--content", c, "--layer", "relu1_1", "--grid"), "--layer", "--grid");
        assertFails(2, d, args(o, "--content", c), "--layer", "--grid");
        assertFails(2, d, args(o, "--content", c, "--grid", "--layers", "relu1_1,nope"), "--layers", "nope");
        assertFails(2, d, args(o, "--content", c, "--style", c, "--layer", "relu1_1"), "--content", "--style");
    }
}
