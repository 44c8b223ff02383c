package org.clstyle.image;

/**
 * The EXIF orientation tag (0x0112) of a JPEG, read from the bytes of its APP1 "Exif" segment (TIFF
 * header, IFD0), and the transform that displays the stored pixels upright. Values 1..8 as in the
 * TIFF/EXIF specification; anything missing or malformed counts as 1 (as stored).
 */
public final class ExifOrientation {
    private ExifOrientation() {}

    /** The orientation in {@code jpeg} (1 when absent, not a JPEG, or unreadable). */
    public static int read(byte[] jpeg) {
        try {
            return parse(jpeg);
        } catch (RuntimeException e) {
            return 1; // truncated or malformed metadata: display as stored
        }
    }

    private static int parse(byte[] b) {
        if (b.length < 4 || (b[0] & 0xff) != 0xFF || (b[1] & 0xff) != 0xD8) {
            return 1;
        }
        int p = 2;
        while (p + 4 <= b.length) {
            if ((b[p] & 0xff) != 0xFF) {
                return 1;
            }
            int marker = b[p + 1] & 0xff;
            if (marker == 0xFF) { // fill byte
                p++;
                continue;
            }
            if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
                p += 2; // markers without a length
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) {
                return 1; // start of scan / end of image: no EXIF before the data
            }
            int len = ((b[p + 2] & 0xff) << 8) | (b[p + 3] & 0xff);
            int seg = p + 4;
            if (marker == 0xE1 && len >= 8 && seg + 6 <= b.length
                    && b[seg] == 'E' && b[seg + 1] == 'x' && b[seg + 2] == 'i' && b[seg + 3] == 'f'
                    && b[seg + 4] == 0 && b[seg + 5] == 0) {
                int o = tiffOrientation(b, seg + 6, Math.min(b.length, p + 2 + len));
                if (o != 0) {
                    return o;
                }
            }
            p += 2 + len;
        }
        return 1;
    }

    /** Orientation from a TIFF structure at {@code t} (up to {@code end}), 0 when the tag is absent. */
    private static int tiffOrientation(byte[] b, int t, int end) {
        boolean little;
        if (b[t] == 'I' && b[t + 1] == 'I') {
            little = true;
        } else if (b[t] == 'M' && b[t + 1] == 'M') {
            little = false;
        } else {
            return 0;
        }
        if (u16(b, t + 2, little) != 42) {
            return 0;
        }
        long ifd = u32(b, t + 4, little);
        int q = (int) (t + ifd);
        if (ifd < 8 || q + 2 > end) {
            return 0;
        }
        int count = u16(b, q, little);
        for (int k = 0; k < count; k++) {
            int e = q + 2 + 12 * k;
            if (e + 12 > end) {
                return 0;
            }
            if (u16(b, e, little) == 0x0112) {
                int type = u16(b, e + 2, little);
                int v = type == 3 ? u16(b, e + 8, little) : type == 4 ? (int) u32(b, e + 8, little) : 0;
                return v >= 1 && v <= 8 ? v : 0;
            }
        }
        return 0;
    }

    private static int u16(byte[] b, int p, boolean little) {
        int x = b[p] & 0xff, y = b[p + 1] & 0xff;
        return little ? x | (y << 8) : (x << 8) | y;
    }

    private static long u32(byte[] b, int p, boolean little) {
        long v = 0;
        for (int k = 0; k < 4; k++) {
            int byteVal = b[p + (little ? 3 - k : k)] & 0xff;
            v = (v << 8) | byteVal;
        }
        return v;
    }

    /** The upright image for stored pixels {@code img} with EXIF orientation {@code o}. */
    public static FloatImage apply(FloatImage img, int o) {
        if (o <= 1 || o > 8) {
            return img;
        }
        int w = img.width(), h = img.height();
        boolean swap = o >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        float[] src = img.data();
        float[] out = new float[src.length];
        for (int y = 0; y < oh; y++) {
            for (int x = 0; x < ow; x++) {
                int sx, sy; // source column and row of output pixel (x, y)
                switch (o) {
                    case 2 -> { sx = w - 1 - x; sy = y; }          // mirrored horizontally
                    case 3 -> { sx = w - 1 - x; sy = h - 1 - y; }  // rotated 180
                    case 4 -> { sx = x; sy = h - 1 - y; }          // mirrored vertically
                    case 5 -> { sx = y; sy = x; }                  // transposed
                    case 6 -> { sx = y; sy = h - 1 - x; }          // needs 90 degrees clockwise
                    case 7 -> { sx = w - 1 - y; sy = h - 1 - x; }  // transversed
                    default -> { sx = w - 1 - y; sy = x; }         // 8: needs 90 degrees counter-clockwise
                }
                for (int c = 0; c < 3; c++) {
                    out[(c * oh + y) * ow + x] = src[(c * h + sy) * w + sx];
                }
            }
        }
        return new FloatImage(ow, oh, out);
    }
}
