package org.clstyle.image;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Hostile or unusual image files: huge headers, truncated data, CMYK and YCCK JPEGs. */
class ImageInputSafetyTest {
    @TempDir
    Path dir;

    /** A PNG whose header claims w x h grey pixels, followed by {@code idat} as its only data. */
    static byte[] png(int w, int h, byte[] idat) throws Exception {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(b);
        d.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h2 = new DataOutputStream(ihdr);
        h2.writeInt(w);
        h2.writeInt(h);
        h2.write(new byte[] {8, 0, 0, 0, 0}); // 8-bit grey, deflate, no filter, no interlace
        chunk(d, "IHDR", ihdr.toByteArray());
        chunk(d, "IDAT", idat);
        chunk(d, "IEND", new byte[0]);
        return b.toByteArray();
    }

    static void chunk(DataOutputStream d, String type, byte[] data) throws Exception {
        d.writeInt(data.length);
        byte[] t = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }

    @Test
    void hugeHeaderIsRefusedBeforeDecoding() throws Exception {
        // 20000 x 20000 with almost no data: a decoder would allocate 400 MB before finding out.
        Path bomb = Files.write(dir.resolve("bomb.png"), png(20000, 20000, new byte[] {0x78, (byte) 0x9c, 3, 0}));
        ImageException e = assertThrows(ImageException.class, () -> Images.read(bomb, null));
        String m = e.getMessage();
        assertTrue(m.startsWith(bomb.toString()) && m.contains("20000x20000") && m.contains("--max-pixels"), m);
        assertFalse(m.contains("Exception") || m.contains("\n"), m);
        // The limit is the caller's: a 20x20 image over a limit of 100 pixels is refused the same way.
        Path small = dir.resolve("small.png");
        Images.write(new FloatImage(20, 20, new float[3 * 400]), small);
        e = assertThrows(ImageException.class, () -> Images.read(small, 100, null));
        assertTrue(e.getMessage().contains("--max-pixels 400"), e.getMessage());
        assertEquals(20, Images.read(small, 400, null).width());
        // Beyond what a Java array holds, no limit helps.
        Path giant = Files.write(dir.resolve("giant.png"), png(60000, 60000, new byte[] {0x78, (byte) 0x9c, 3, 0}));
        e = assertThrows(ImageException.class, () -> Images.read(giant, Long.MAX_VALUE, null));
        assertTrue(e.getMessage().contains("more than clstyle can hold"), e.getMessage());
    }

    @Test
    void truncatedJpegIsRefused() throws Exception {
        Path good = dir.resolve("good.jpg");
        Images.write(Images.resize(ImagesTest.random(4, 4, 3), 64, 48), good);
        byte[] all = Files.readAllBytes(good);
        Path cut = Files.write(dir.resolve("cut.jpg"), Arrays.copyOf(all, all.length / 2));
        byte[] before = Files.readAllBytes(cut);
        ImageException e = assertThrows(ImageException.class, () -> Images.read(cut, null));
        assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("cut short"), e.getMessage());
        assertFalse(e.getMessage().contains("Exception"), e.getMessage());
        assertArrayEquals(before, Files.readAllBytes(cut), "the input is untouched");
        assertEquals(64, Images.read(good, null).width(), "the whole file still reads");
    }

    @Test
    void truncatedPngIsRefused() throws Exception {
        Path good = dir.resolve("good.png");
        Images.write(ImagesTest.random(64, 48, 4), good);
        byte[] all = Files.readAllBytes(good);
        Path cut = Files.write(dir.resolve("cut.png"), Arrays.copyOf(all, all.length / 2));
        ImageException e = assertThrows(ImageException.class, () -> Images.read(cut, null));
        assertTrue(e.getMessage().startsWith(cut.toString()) && e.getMessage().contains("cut short"), e.getMessage());
        assertFalse(e.getMessage().contains("Exception"), e.getMessage());
    }

    static Path resource(Path dir, String name) throws Exception {
        try (InputStream in = ImageInputSafetyTest.class.getResourceAsStream("/images/" + name)) {
            Path p = dir.resolve(name);
            Files.write(p, in.readAllBytes());
            return p;
        }
    }

    /** Left half sRGB (255, 0, 0), right half (32, 96, 192): see src/test/resources/images/README.md. */
    static void assertFixtureColours(FloatImage img) {
        assertEquals(32, img.width());
        assertEquals(16, img.height());
        float[][] expect = {{1f, 0f, 0f}, {32 / 255f, 96 / 255f, 192 / 255f}};
        int[] xs = {4, 24};
        for (int k = 0; k < 2; k++) {
            for (int c = 0; c < 3; c++) {
                float v = img.get(c, 8, xs[k]);
                assertEquals(expect[k][c], v, 0.1, "channel " + c + " at x " + xs[k]);
            }
        }
    }

    @Test
    void imageStreamsUseNoFileCache() throws Exception {
        // A file cache registers a shutdown hook per stream: writing the last image after Ctrl-C would fail.
        Images.write(new FloatImage(2, 2, new float[12]), dir.resolve("x.png"));
        assertFalse(javax.imageio.ImageIO.getUseCache());
    }

    @Test
    void cmykJpegIsConverted() throws Exception {
        assertFixtureColours(Images.read(resource(dir, "cmyk-adobe.jpg"), null));
    }

    @Test
    void ycckJpegIsConverted() throws Exception {
        assertFixtureColours(Images.read(resource(dir, "ycck-adobe.jpg"), null));
    }
}
