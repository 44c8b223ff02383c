package org.clstyle.image;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageWriteParam;
import javax.imageio.ImageWriter;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;

import org.clstyle.io.AtomicFile;

/**
 * Image files to and from {@link FloatImage} (RGB [0,1], [3,H,W]): PNG and JPEG through javax.imageio,
 * EXIF orientation honoured, alpha dropped with a note; writes go to a temporary name in the target's
 * directory and are renamed into place, so a failed or interrupted write never leaves a partial file.
 * Also resizing and the luminance-only colour transfer for --original-colors.
 */
public final class Images {
    private Images() {}

    static {
        // Streams cached in memory, not in temporary files: a file cache registers a JVM shutdown hook, which
        // fails once shutdown has begun, so the last image written after Ctrl-C would be lost.
        ImageIO.setUseCache(false);
    }

    /** JPEG quality of written files. */
    public static final float JPEG_QUALITY = 0.95f;

    /**
     * The largest image read by default: 100 megapixels (e.g. 10000 x 10000), about 1.6 GB of memory
     * once decoded and converted to floats. A larger image is refused from its header, before any pixel
     * is decoded (a decompression bomb costs nothing); {@code --max-pixels} raises the limit.
     */
    public static final long DEFAULT_MAX_PIXELS = 100_000_000L;

    /** The most pixels any image may have: three float planes must fit one Java array. */
    public static final long HARD_MAX_PIXELS = (Integer.MAX_VALUE - 8) / 3;

    /** Reads a PNG or JPEG of at most {@link #DEFAULT_MAX_PIXELS}; see {@link #read(Path, long, Consumer)}. */
    public static FloatImage read(Path file, Consumer<String> notes) throws ImageException {
        return read(file, DEFAULT_MAX_PIXELS, notes);
    }

    /**
     * Reads a PNG or JPEG; {@code notes} receives one-line remarks (alpha dropped, orientation applied).
     * The size is read from the header and checked against {@code maxPixels} before decoding; a file cut
     * short is refused (the JPEG decoder would fill the missing part with grey); CMYK and YCCK JPEGs are
     * converted to RGB through their ICC profile or the Adobe convention (TwelveMonkeys' reader).
     */
    public static FloatImage read(Path file, long maxPixels, Consumer<String> notes) throws ImageException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ImageException(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new ImageException(file + ": permission denied");
        } catch (IOException e) {
            throw new ImageException(file + ": cannot read (" + (Files.isDirectory(file) ? "a directory" : reason(e)) + ")");
        } catch (OutOfMemoryError e) {
            throw new ImageException(file + ": too large to read");
        }
        Consumer<String> note = notes == null ? s -> { } : notes;
        BufferedImage img = decode(file, bytes, maxPixels, note);
        if (img.getColorModel().hasAlpha()) {
            note.accept(file + ": alpha channel dropped (transparent pixels keep their stored colour)");
        }
        FloatImage out = toFloat(img);
        int o = ExifOrientation.read(bytes);
        if (o != 1) {
            note.accept(file + ": EXIF orientation " + o + " applied");
            out = ExifOrientation.apply(out, o);
        }
        return out;
    }

    private static BufferedImage decode(Path file, byte[] bytes, long maxPixels, Consumer<String> note)
            throws ImageException {
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = in == null ? null : ImageIO.getImageReaders(in);
            if (readers == null || !readers.hasNext()) {
                throw new ImageException(file + ": not a PNG or JPEG image");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in, true, true);
                long w, h;
                try {
                    w = reader.getWidth(0);
                    h = reader.getHeight(0);
                } catch (IOException | RuntimeException e) {
                    throw new ImageException(file + ": not a readable PNG or JPEG image (damaged header" + detail(e) + ")");
                }
                checkPixels(file, w, h, maxPixels);
                List<String> warnings = new ArrayList<>();
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                BufferedImage img;
                try {
                    img = reader.read(0);
                } catch (IOException | RuntimeException e) {
                    throw new ImageException(file + ": the image data is damaged or cut short" + detail(e));
                } catch (OutOfMemoryError e) {
                    throw new ImageException(file + ": " + w + "x" + h + " pixels do not fit in the Java heap; "
                            + "raise -Xmx through CLSTYLE_JAVA_OPTS or use a smaller image");
                }
                for (String warning : warnings) {
                    if (isTruncation(warning)) {
                        throw new ImageException(file + ": the file is cut short (truncated " + format(reader)
                                + "); the missing part would be grey");
                    }
                }
                for (String warning : warnings) {
                    note.accept(file + ": decoder warning: " + warning);
                }
                if (img == null) {
                    throw new ImageException(file + ": not a PNG or JPEG image");
                }
                return img;
            } finally {
                reader.dispose();
            }
        } catch (IOException e) {
            throw new ImageException(file + ": not a readable PNG or JPEG image" + detail(e));
        }
    }

    /** Refuses an image whose header says it has more than {@code maxPixels} pixels, naming --max-pixels. */
    static void checkPixels(Path file, long w, long h, long maxPixels) throws ImageException {
        long pixels = w * h; // both < 2^31: no overflow in 64 bits
        if (w < 1 || h < 1) {
            throw new ImageException(file + ": the header gives an empty image (" + w + "x" + h + ")");
        }
        if (pixels > HARD_MAX_PIXELS) {
            throw new ImageException(String.format(Locale.ROOT,
                    "%s: %dx%d is %.0f megapixels, more than clstyle can hold (%.0f megapixels); scale it down first",
                    file, w, h, pixels / 1e6, HARD_MAX_PIXELS / 1e6));
        }
        if (pixels > maxPixels) {
            throw new ImageException(String.format(Locale.ROOT,
                    "%s: %dx%d is %.1f megapixels, above the limit of %.1f (--max-pixels %d); decoding it needs about %.1f GB"
                            + " of memory: pass --max-pixels %d to read it anyway, or scale it down first",
                    file, w, h, pixels / 1e6, maxPixels / 1e6, maxPixels, pixels * 16 / 1e9, pixels));
        }
    }

    private static boolean isTruncation(String warning) {
        String w = warning == null ? "" : warning.toLowerCase(Locale.ROOT);
        return w.contains("premature end") || w.contains("truncated") || w.contains("missing eoi");
    }

    private static String format(ImageReader reader) {
        try {
            return reader.getFormatName().toUpperCase(Locale.ROOT);
        } catch (IOException e) {
            return "image";
        }
    }

    /** ": reason" from an exception, unless it would show a Java class name or nothing useful. */
    private static String detail(Throwable e) {
        String r = reason(e);
        return r.isEmpty() ? "" : ": " + r;
    }

    private static String reason(Throwable e) {
        String m = e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null ? fs.getReason() : e.getMessage();
        if (m == null || m.contains("Exception") || m.contains("java.") || m.contains("\n")) {
            return "";
        }
        m = m.strip();
        return m.length() > 120 ? m.substring(0, 117) + "..." : m;
    }

    /** Pixels of a decoded image as RGB floats in [0,1]. */
    static FloatImage toFloat(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        float[] data = new float[3 * w * h];
        Raster r = img.getRaster();
        boolean gray = img.getColorModel().getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_GRAY
                && r.getNumBands() <= 2;
        if (gray) {
            // Raw samples: getRGB would push Java's linear-gray colour space through a gamma curve.
            double max = (1 << img.getColorModel().getComponentSize(0)) - 1;
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    float v = (float) (r.getSample(j, i, 0) / max);
                    for (int c = 0; c < 3; c++) {
                        data[(c * h + i) * w + j] = v;
                    }
                }
            }
        } else {
            int[] row = new int[w];
            for (int i = 0; i < h; i++) {
                img.getRGB(0, i, w, 1, row, 0, w);
                for (int j = 0; j < w; j++) {
                    int p = row[j];
                    data[(0 * h + i) * w + j] = ((p >> 16) & 0xff) / 255f;
                    data[(1 * h + i) * w + j] = ((p >> 8) & 0xff) / 255f;
                    data[(2 * h + i) * w + j] = (p & 0xff) / 255f;
                }
            }
        }
        return new FloatImage(w, h, data);
    }

    /** 8-bit RGB image of {@code img}, values clamped to [0,1] and rounded. */
    public static BufferedImage toBuffered(FloatImage img) {
        int w = img.width(), h = img.height();
        float[] d = img.data();
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        int[] row = new int[w];
        for (int i = 0; i < h; i++) {
            for (int j = 0; j < w; j++) {
                int rr = to8(d[(0 * h + i) * w + j]);
                int gg = to8(d[(1 * h + i) * w + j]);
                int bb = to8(d[(2 * h + i) * w + j]);
                row[j] = (rr << 16) | (gg << 8) | bb;
            }
            out.setRGB(0, i, w, 1, row, 0, w);
        }
        return out;
    }

    private static int to8(float v) {
        if (!(v > 0)) {
            return 0; // also NaN
        }
        return v >= 1 ? 255 : Math.round(v * 255f);
    }

    /** "png" or "jpeg" from the file name's extension, or an exception naming the file. */
    public static String formatOf(Path file) throws ImageException {
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".png")) {
            return "png";
        }
        if (name.endsWith(".jpg") || name.endsWith(".jpeg")) {
            return "jpeg";
        }
        throw new ImageException(file + ": unsupported output extension (use .png, .jpg or .jpeg)");
    }

    /**
     * Checks that {@code file} could be written (known extension, existing writable directory, not a
     * directory itself) without creating it; for failing before hours of work rather than after.
     */
    public static void checkWritable(Path file) throws ImageException {
        formatOf(file);
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (Files.isDirectory(abs)) {
            throw new ImageException(file + ": is a directory");
        }
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ImageException(file + ": directory " + dir + " does not exist");
        }
        if (!Files.isWritable(dir)) {
            throw new ImageException(file + ": directory " + dir + " is not writable");
        }
        if (Files.exists(abs) && !Files.isWritable(abs)) {
            throw new ImageException(file + ": exists and is not writable");
        }
    }

    /** Writes PNG or JPEG by extension, through a temporary file in the same directory and a rename. */
    public static void write(FloatImage img, Path file) throws ImageException {
        String format = formatOf(file);
        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new ImageException(file + ": directory " + dir + " does not exist");
        }
        if (Files.isDirectory(abs)) {
            throw new ImageException(file + ": is a directory");
        }
        for (float v : img.data()) {
            if (!Float.isFinite(v)) {
                throw new ImageException(file + ": not written: the image has non-finite pixel values (NaN or infinity)");
            }
        }
        BufferedImage bi = toBuffered(img);
        try {
            AtomicFile.write(abs, os -> encode(bi, format, os));
        } catch (AccessDeniedException e) {
            throw new ImageException(file + ": permission denied");
        } catch (java.nio.file.FileSystemException e) {
            // Its file is our hidden temporary name: report the reason against the user's file.
            String r = e.getReason();
            throw new ImageException(file + ": cannot write" + (r == null ? "" : " (" + r + ")"));
        } catch (IOException e) {
            throw new ImageException(file + ": cannot write" + detail(e));
        }
    }

    private static void encode(BufferedImage bi, String format, OutputStream os) throws IOException {
        if (format.equals("png")) {
            if (!ImageIO.write(bi, "png", os)) {
                throw new IOException("no PNG writer");
            }
            return;
        }
        Iterator<ImageWriter> it = ImageIO.getImageWritersByFormatName("jpeg");
        if (!it.hasNext()) {
            throw new IOException("no JPEG writer");
        }
        ImageWriter w = it.next();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(os)) {
            w.setOutput(ios);
            ImageWriteParam p = w.getDefaultWriteParam();
            p.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            p.setCompressionQuality(JPEG_QUALITY);
            w.write(null, new IIOImage(bi, null, null), p);
        } finally {
            w.dispose();
        }
    }

    /**
     * Resamples to {@code width} x {@code height}, separably: an axis that shrinks is area-averaged
     * (each output pixel the exact mean of the input area it covers, so no aliasing), an axis that
     * grows is bilinear with half-pixel centres (PyTorch's align_corners=False).
     */
    public static FloatImage resize(FloatImage img, int width, int height) {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("resize to " + width + "x" + height + ": size must be positive");
        }
        if ((long) width * height > HARD_MAX_PIXELS || (long) img.height() * width > HARD_MAX_PIXELS) {
            throw new IllegalArgumentException("resize to " + width + "x" + height + ": more pixels than an image can hold");
        }
        if (width == img.width() && height == img.height()) {
            return img;
        }
        Kernel1d kx = Kernel1d.of(img.width(), width);
        Kernel1d ky = Kernel1d.of(img.height(), height);
        int w = img.width(), h = img.height();
        float[] src = img.data();
        float[] tmp = new float[3 * h * width]; // [3, h, width]: rows resampled
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < h; i++) {
                int base = (c * h + i) * w;
                for (int j = 0; j < width; j++) {
                    double s = 0;
                    for (int k = kx.start[j]; k < kx.start[j] + kx.weights[j].length; k++) {
                        s += kx.weights[j][k - kx.start[j]] * src[base + k];
                    }
                    tmp[(c * h + i) * width + j] = (float) s;
                }
            }
        }
        float[] out = new float[3 * height * width]; // [3, height, width]
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < height; i++) {
                for (int j = 0; j < width; j++) {
                    double s = 0;
                    for (int k = ky.start[i]; k < ky.start[i] + ky.weights[i].length; k++) {
                        s += ky.weights[i][k - ky.start[i]] * tmp[(c * h + k) * width + j];
                    }
                    out[(c * height + i) * width + j] = (float) s;
                }
            }
        }
        return new FloatImage(width, height, out);
    }

    /** Scales so that the longest side is {@code size}, keeping the aspect ratio (each side at least 1). */
    public static FloatImage fitLongestSide(FloatImage img, int size) {
        int[] wh = scaledSize(img.width(), img.height(), size);
        return resize(img, wh[0], wh[1]);
    }

    /** {width, height} with the longest side {@code size} and the aspect ratio of w x h. */
    public static int[] scaledSize(int w, int h, int size) {
        if (w >= h) {
            return new int[] {size, Math.max(1, (int) Math.round((double) h * size / w))};
        }
        return new int[] {Math.max(1, (int) Math.round((double) w * size / h)), size};
    }

    /** One axis's resampling weights: output o reads input start[o] .. start[o]+weights[o].length-1. */
    private record Kernel1d(int[] start, double[][] weights) {
        static Kernel1d of(int in, int out) {
            int[] start = new int[out];
            double[][] wts = new double[out][];
            if (out < in) { // area average
                double scale = (double) in / out;
                for (int o = 0; o < out; o++) {
                    double a = o * scale, b = (o + 1) * scale;
                    int lo = (int) Math.floor(a), hi = Math.min(in, (int) Math.ceil(b));
                    start[o] = lo;
                    wts[o] = new double[hi - lo];
                    for (int k = lo; k < hi; k++) {
                        wts[o][k - lo] = (Math.min(b, k + 1) - Math.max(a, k)) / scale;
                    }
                }
            } else { // bilinear, half-pixel centres
                double scale = (double) in / out;
                for (int o = 0; o < out; o++) {
                    double srcPos = Math.max(0, (o + 0.5) * scale - 0.5);
                    int i0 = Math.min((int) Math.floor(srcPos), in - 1);
                    int i1 = Math.min(i0 + 1, in - 1);
                    double f = srcPos - i0;
                    start[o] = i0;
                    wts[o] = i1 == i0 ? new double[] {1} : new double[] {1 - f, f};
                }
            }
            return new Kernel1d(start, wts);
        }
    }

    /**
     * --original-colors: the luminance of {@code stylized} with the chroma of {@code content} (resized
     * to the stylized size when they differ), in full-range BT.601 YCbCr (JPEG's), clamped to [0,1].
     */
    public static FloatImage transferLuminance(FloatImage stylized, FloatImage content) {
        FloatImage c = content.width() == stylized.width() && content.height() == stylized.height()
                ? content : resize(content, stylized.width(), stylized.height());
        int n = stylized.width() * stylized.height();
        float[] s = stylized.data(), k = c.data();
        float[] out = new float[3 * n];
        for (int p = 0; p < n; p++) {
            double y = 0.299 * s[p] + 0.587 * s[n + p] + 0.114 * s[2 * n + p];
            double r = k[p], g = k[n + p], b = k[2 * n + p];
            double cb = -0.168736 * r - 0.331264 * g + 0.5 * b;
            double cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
            out[p] = clamp01(y + 1.402 * cr);
            out[n + p] = clamp01(y - 0.344136 * cb - 0.714136 * cr);
            out[2 * n + p] = clamp01(y + 1.772 * cb);
        }
        return new FloatImage(stylized.width(), stylized.height(), out);
    }

    private static float clamp01(double v) {
        return (float) Math.min(1, Math.max(0, v));
    }
}
