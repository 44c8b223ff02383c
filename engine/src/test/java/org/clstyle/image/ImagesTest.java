package org.clstyle.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Reading (orientation, alpha, grey), writing (temp + rename), resizing and the luminance transfer. */
class ImagesTest {
    @TempDir
    Path dir;

    static FloatImage random(int w, int h, long seed) {
        float[] d = Tensors.uniform(seed, 3 * w * h, 0, 1);
        for (int i = 0; i < d.length; i++) {
            d[i] = Math.round(d[i] * 255) / 255f; // exactly representable in 8 bits
        }
        return new FloatImage(w, h, d);
    }

    @Test
    void pngRoundTripIsExact() throws Exception {
        FloatImage img = random(7, 5, 1);
        Path f = dir.resolve("a.png");
        Images.write(img, f);
        FloatImage back = Images.read(f, null);
        assertEquals(7, back.width());
        assertEquals(5, back.height());
        assertArrayEquals(img.data(), back.data());
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "only the output file, no temporary left behind");
        }
    }

    @Test
    void jpegRoundTripIsClose() throws Exception {
        FloatImage img = Images.resize(random(4, 3, 2), 40, 30); // smooth, so JPEG keeps it well
        Path f = dir.resolve("a.JPG");
        Images.write(img, f);
        FloatImage back = Images.read(f, null);
        Tensors.assertClose("jpeg", img.data(), back.data(), 0.06, 0);
    }

    @Test
    void overwritesAnExistingFile() throws Exception {
        Path f = dir.resolve("o.png");
        Images.write(random(3, 3, 3), f);
        FloatImage second = random(4, 2, 4);
        Images.write(second, f);
        assertArrayEquals(second.data(), Images.read(f, null).data());
    }

    @Test
    void badFilesGiveOneLineNamingTheFile() throws Exception {
        Path missing = dir.resolve("missing.png");
        ImageException e = assertThrows(ImageException.class, () -> Images.read(missing, null));
        assertTrue(e.getMessage().startsWith(missing.toString()) && e.getMessage().contains("no such file"), e.getMessage());
        Path text = dir.resolve("text.png");
        Files.writeString(text, "not an image");
        e = assertThrows(ImageException.class, () -> Images.read(text, null));
        assertTrue(e.getMessage().contains(text.toString()) && e.getMessage().contains("not a PNG or JPEG"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        e = assertThrows(ImageException.class, () -> Images.write(random(2, 2, 5), dir.resolve("x.gif")));
        assertTrue(e.getMessage().contains("x.gif") && e.getMessage().contains("extension"), e.getMessage());
        Path noDir = dir.resolve("nope/x.png");
        e = assertThrows(ImageException.class, () -> Images.write(random(2, 2, 5), noDir));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        assertThrows(ImageException.class, () -> Images.checkWritable(noDir));
        assertFalse(Files.exists(noDir));
    }

    @Test
    void alphaIsDroppedWithANote() throws Exception {
        BufferedImage argb = new BufferedImage(3, 2, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0x80FF0000);  // half-transparent red
        argb.setRGB(2, 1, 0x0000FF00);  // transparent green
        Path f = dir.resolve("alpha.png");
        ImageIO.write(argb, "png", f.toFile());
        List<String> notes = new ArrayList<>();
        FloatImage img = Images.read(f, notes::add);
        assertEquals(1, notes.size());
        assertTrue(notes.get(0).contains("alpha"), notes.get(0));
        assertEquals(1f, img.get(0, 0, 0));
        assertEquals(0f, img.get(1, 0, 0));
        assertEquals(1f, img.get(1, 1, 2));
    }

    @Test
    void greyIsReadFromRawSamples() throws Exception {
        BufferedImage g = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
        g.getRaster().setSample(1, 0, 0, 128);
        Path f = dir.resolve("grey.png");
        ImageIO.write(g, "png", f.toFile());
        FloatImage img = Images.read(f, null);
        for (int c = 0; c < 3; c++) {
            assertEquals(128 / 255f, img.get(c, 0, 1), 1e-7);
            assertEquals(0f, img.get(c, 1, 1));
        }
    }

    /** A 24x16 JPEG of six 8x8 blocks in distinct colours, with an Exif APP1 orientation tag. */
    static byte[] jpegWithOrientation(int orientation, boolean littleEndian) throws Exception {
        int[] colours = {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFF00, 0x00FFFF, 0xFF00FF};
        BufferedImage bi = new BufferedImage(24, 16, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 24; x++) {
                bi.setRGB(x, y, colours[(y / 8) * 3 + x / 8]);
            }
        }
        ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
        ImageIO.write(bi, "jpeg", jpeg);
        byte[] j = jpeg.toByteArray();
        ByteArrayOutputStream tiff = new ByteArrayOutputStream();
        if (littleEndian) {
            tiff.writeBytes(new byte[] {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0,
                (byte) orientation, 0, 0, 0, 0, 0, 0, 0});
        } else {
            tiff.writeBytes(new byte[] {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1,
                0, (byte) orientation, 0, 0, 0, 0, 0, 0});
        }
        byte[] t = tiff.toByteArray();
        int len = 2 + 6 + t.length;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(j, 0, 2); // SOI
        out.writeBytes(new byte[] {(byte) 0xFF, (byte) 0xE1, (byte) (len >> 8), (byte) len, 'E', 'x', 'i', 'f', 0, 0});
        out.writeBytes(t);
        out.write(j, 2, j.length - 2);
        return out.toByteArray();
    }

    static int colourAt(FloatImage img, int x, int y) {
        int r = Math.round(img.get(0, y, x)), g = Math.round(img.get(1, y, x)), b = Math.round(img.get(2, y, x));
        return (r * 0xFF << 16) | (g * 0xFF << 8) | b * 0xFF;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4, 5, 6, 7, 8})
    void exifOrientationIsApplied(int o) throws Exception {
        for (boolean le : new boolean[] {true, false}) {
            byte[] bytes = jpegWithOrientation(o, le);
            assertEquals(o, ExifOrientation.read(bytes));
            Path f = dir.resolve("o" + o + (le ? "le" : "be") + ".jpg");
            Files.write(f, bytes);
            List<String> notes = new ArrayList<>();
            FloatImage img = Images.read(f, notes::add);
            boolean swap = o >= 5;
            assertEquals(swap ? 16 : 24, img.width());
            assertEquals(swap ? 24 : 16, img.height());
            assertEquals(o == 1 ? 0 : 1, notes.size());
            // Where the stored top-left (red) and top-right (blue) blocks must appear, per the EXIF table.
            String[] redAt = {"", "TL", "TR", "BR", "BL", "TL", "TR", "BR", "BL"};
            String[] blueAt = {"", "TR", "TL", "BL", "BR", "BL", "BR", "TR", "TL"};
            assertEquals(0xFF0000, colourAt(img, cornerX(img, redAt[o]), cornerY(img, redAt[o])), "red, orientation " + o);
            assertEquals(0x0000FF, colourAt(img, cornerX(img, blueAt[o]), cornerY(img, blueAt[o])), "blue, orientation " + o);
        }
    }

    static int cornerX(FloatImage img, String c) { return c.charAt(1) == 'L' ? 3 : img.width() - 4; }

    static int cornerY(FloatImage img, String c) { return c.charAt(0) == 'T' ? 3 : img.height() - 4; }

    @Test
    void malformedExifIsIgnored() {
        assertEquals(1, ExifOrientation.read(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, (byte) 0xE1, 0x7F, 0x7F, 'E'}));
        assertEquals(1, ExifOrientation.read(new byte[] {1, 2, 3}));
        assertEquals(1, ExifOrientation.read(new byte[0]));
    }

    @Test
    void areaDownsamplingAveragesExactly() {
        // one channel ramp 0..7 in a 4x2 image; to 2x1 each output is the mean of a 2x2 block
        float[] d = new float[3 * 8];
        for (int i = 0; i < 8; i++) {
            d[i] = i;
        }
        FloatImage small = Images.resize(new FloatImage(4, 2, d), 2, 1);
        assertEquals((0 + 1 + 4 + 5) / 4f, small.get(0, 0, 0), 1e-6);
        assertEquals((2 + 3 + 6 + 7) / 4f, small.get(0, 0, 1), 1e-6);
        // a non-integer factor keeps the mean of the image: 7 -> 3 columns
        FloatImage r = random(7, 5, 9);
        FloatImage s = Images.resize(r, 3, 5);
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < 5; i++) {
                double a = 0, b = 0;
                for (int j = 0; j < 7; j++) a += r.get(c, i, j);
                for (int j = 0; j < 3; j++) b += s.get(c, i, j);
                assertEquals(a / 7, b / 3, 1e-5);
            }
        }
    }

    @Test
    void bilinearUpsamplingUsesHalfPixelCentres() {
        float[] d = new float[3 * 2];
        d[0] = 0;
        d[1] = 1;
        FloatImage up = Images.resize(new FloatImage(2, 1, d), 4, 1);
        // PyTorch interpolate(mode='bilinear', align_corners=False) of [0,1] to 4: 0, 0.25, 0.75, 1
        assertArrayEquals(new float[] {0, 0.25f, 0.75f, 1}, new float[] {up.get(0, 0, 0), up.get(0, 0, 1), up.get(0, 0, 2), up.get(0, 0, 3)}, 1e-6f);
        FloatImage constant = new FloatImage(3, 2, new float[] {.5f, .5f, .5f, .5f, .5f, .5f, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0});
        FloatImage big = Images.resize(constant, 7, 5);
        for (int i = 0; i < 5; i++) {
            assertEquals(.5f, big.get(0, i, 6), 1e-6);
            assertEquals(1f, big.get(1, i, 3), 1e-6);
        }
        assertArrayEquals(new int[] {512, 341}, Images.scaledSize(1500, 1000, 512));
        assertArrayEquals(new int[] {341, 512}, Images.scaledSize(1000, 1500, 512));
        assertArrayEquals(new int[] {64, 1}, Images.scaledSize(1000, 3, 64));
    }

    @Test
    void luminanceTransferKeepsStylizedLumaAndContentChroma() {
        FloatImage stylized = random(5, 4, 11);
        // content chroma kept moderate so the result needs no clamping
        float[] cd = Tensors.uniform(12, 3 * 20, 0.4, 0.6);
        FloatImage content = new FloatImage(5, 4, cd);
        FloatImage out = Images.transferLuminance(stylized, content);
        int n = 20;
        for (int p = 0; p < n; p++) {
            double ys = luma(stylized.data(), p, n), yo = luma(out.data(), p, n);
            if (ys > 0.15 && ys < 0.85) {
                assertEquals(ys, yo, 1e-5, "luma at " + p);
                float[] o = out.data();
                double cbOut = -0.168736 * o[p] - 0.331264 * o[n + p] + 0.5 * o[2 * n + p];
                double cbIn = -0.168736 * cd[p] - 0.331264 * cd[n + p] + 0.5 * cd[2 * n + p];
                assertEquals(cbIn, cbOut, 1e-5, "Cb at " + p);
            }
        }
    }

    static double luma(float[] d, int p, int n) {
        return 0.299 * d[p] + 0.587 * d[n + p] + 0.114 * d[2 * n + p];
    }
}
