package org.clstyle.transfer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.clstyle.image.FloatImage;
import org.clstyle.ops.WarpTransform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class AugmentationTest {
    @TempDir
    Path dir;

    @Test
    void presetsAndKeyValues() {
        assertEquals(new Augmentation(5, 0.05, 8, 0, null), Augmentation.parse("--augment", "medium"));
        assertEquals(new Augmentation(2, 0.02, 4, 0, null), Augmentation.parse("--augment", "Light"));
        assertEquals(new Augmentation(10, 0.1, 16, 0, null), Augmentation.parse("--augment", "strong"));
        assertEquals(new Augmentation(5, 0.05, 8, 0, null), Augmentation.parse("--augment", "rotate=5,scale=0.05,shift=8"));
        assertEquals(new Augmentation(0, 0, 3, 0, null), Augmentation.parse("--augment", "shift=3"));
        assertFalse(Augmentation.parse("--augment", "none").enabled());
        assertFalse(Augmentation.parse("--augment", "rotate=0").enabled());
    }

    @Test
    void badValuesNameTheOption() {
        for (String bad : new String[] {"wobbly", "spin=3", "rotate=x", "rotate=90", "scale=-0.1", "scale=0.6", "shift=NaN"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Augmentation.parse("--augment", bad), bad);
            assertTrue(e.getMessage().startsWith("--augment: "), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> new Augmentation(1, 0, 0, 0, -1));
    }

    @Test
    void recipeField() throws Exception {
        Path r = Files.writeString(dir.resolve("r.json"), "{\"augment\": {\"rotate\": 3, \"shift\": 2, \"seed\": 7, \"pad_edges\": 5}}");
        assertEquals(new Augmentation(3, 0, 2, 7, 5), Augmentation.fromRecipe(r));
        Path preset = Files.writeString(dir.resolve("p.json"), "{\"augment\": \"light\", \"tv\": {\"weight\": 1}}");
        assertEquals(Augmentation.parse("x", "light"), Augmentation.fromRecipe(preset));
        assertNull(Augmentation.fromRecipe(Files.writeString(dir.resolve("n.json"), "{\"tv\": {\"weight\": 1}}")));
        Path bad = Files.writeString(dir.resolve("b.json"), "{\"augment\": {\"spin\": 3}}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Augmentation.fromRecipe(bad));
        assertTrue(e.getMessage().startsWith(bad + ": augment"), e.getMessage());
        Path big = Files.writeString(dir.resolve("g.json"), "{\"augment\": {\"rotate\": 60}}");
        e = assertThrows(IllegalArgumentException.class, () -> Augmentation.fromRecipe(big));
        assertTrue(e.getMessage().startsWith(big + ": augment.rotate"), e.getMessage());
    }

    /**
     * With a padding of reach(w, h), every image pixel lies inside every (w + 2P) x (h + 2P) view: the
     * view's inverse map takes the image's corners into the view, for the extreme corners of the
     * ranges; and no smaller padding would do.
     */
    @ParameterizedTest(name = "{0}x{1} {2}")
    @CsvSource({"256, 256, medium", "512, 341, strong", "64, 43, light", "17, 300, strong", "300, 17, rotate=45,scale=0.5,shift=3"})
    void reachKeepsTheOutputInsideEveryView(int w, int h, String spec) {
        Augmentation a = Augmentation.parse("--augment", spec);
        int p = a.reach(w, h);
        int cw = w + 2 * p, ch = h + 2 * p;
        double tightest = Double.POSITIVE_INFINITY;
        for (double deg : new double[] {-a.rotate(), 0, a.rotate()})
            for (double zoom : new double[] {1 - a.scale(), 1, 1 + a.scale()})
                for (double sx : new double[] {-a.shift(), a.shift()})
                    for (double sy : new double[] {-a.shift(), a.shift()}) {
                        WarpTransform inv = WarpTransform.view(deg, zoom, sx, sy, w, h, cw, ch).inverse();
                        for (int oj : new int[] {0, w - 1})
                            for (int oi : new int[] {0, h - 1}) {
                                double x = inv.sampleX(oj, oi), y = inv.sampleY(oj, oi);
                                assertTrue(x >= -1e-9 && x <= cw - 1 + 1e-9 && y >= -1e-9 && y <= ch - 1 + 1e-9,
                                        spec + " pad " + p + ": output corner lands at " + x + ", " + y);
                                tightest = Math.min(tightest, Math.min(Math.min(x, cw - 1 - x), Math.min(y, ch - 1 - y)));
                            }
                    }
        assertTrue(tightest < 1, "the reach is the smallest that fits, slack " + tightest);
        assertEquals(a.reach(w, h) + Augmentation.EDGE_MARGIN, a.defaultPad(w, h));
        assertEquals(0, Augmentation.NONE.defaultPad(256, 256));
    }

    @Test
    void padReflectMirrorsAboutTheEdgePixels() {
        int w = 5, h = 3, p = 4;
        float[] d = new float[3 * w * h];
        for (int i = 0; i < d.length; i++) d[i] = i;
        FloatImage padded = AugmentedView.padReflect(new FloatImage(w, h, d), p);
        assertEquals(w + 2 * p, padded.width());
        assertEquals(h + 2 * p, padded.height());
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++)
                    assertEquals(d[(c * h + i) * w + j], padded.get(c, i + p, j + p));
        // row 0 of channel 0, columns -4..8: reflect-101 of 0 1 2 3 4
        float[] row = new float[w + 2 * p];
        System.arraycopy(padded.data(), p * (w + 2 * p), row, 0, row.length);
        assertArrayEquals(new float[] {4, 3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0}, row);
    }

    @Test
    void practicalPresetAugmentsUnlessTold() {
        StylizeSettings.Builder b = StylizeSettings.builder().content(Path.of("c.png")).styles(java.util.List.of(Path.of("s.png")))
                .output(Path.of("o.png")).preset("practical");
        assertEquals(Augmentation.parse("x", "medium"), Stylizer.resolveAugmentation(b.build()));
        assertEquals(Augmentation.NONE, Stylizer.resolveAugmentation(b.augmentation(Augmentation.NONE).build()));
        assertFalse(Stylizer.resolveAugmentation(b.augmentation(null).preset("gatys").build()).enabled());
    }
}
