package org.clstyle.serve;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;

/**
 * Checks an uploaded image as the command line checks its input files, before anything is queued: the
 * file's size, its format by content (PNG or JPEG signature, not the name), its pixel count from the
 * header (before decoding), and a full decode. Accepted files are stored under the job's folder with a
 * name of the studio's choosing; the user's file name appears only in messages.
 */
final class Uploads {
    private Uploads() {}

    /** A checked upload stored at {@code file}; {@code name} is the user's (cleaned) file name. */
    record Stored(Path file, String name, int width, int height) {}

    /**
     * Reads at most {@code maxBytes + 1} bytes of {@code in}, checks them and writes them to
     * {@code dir/baseName.png|.jpg}. {@code field} ("content", "style 2") leads every message.
     */
    static Stored store(InputStream in, String userName, String field, Path dir, String baseName, StudioOptions limits)
            throws IOException {
        String name = cleanName(userName);
        String who = field + " '" + name + "'";
        byte[] bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limits.maxFileBytes() + 1));
        if (bytes.length > limits.maxFileBytes()) {
            throw ApiError.tooLarge(who + ": larger than the limit of " + mib(limits.maxFileBytes()));
        }
        if (bytes.length == 0) {
            throw ApiError.badRequest(who + ": empty file");
        }
        String ext = formatOf(bytes);
        if (ext == null) {
            throw ApiError.badRequest(who + ": not a PNG or JPEG image");
        }
        int[] wh = headerSize(bytes);
        if (wh == null) {
            throw ApiError.badRequest(who + ": not a readable " + ext.toUpperCase(Locale.ROOT) + " image (bad header)");
        }
        long pixels = (long) wh[0] * wh[1];
        if (pixels > limits.maxPixels()) {
            throw ApiError.tooLarge(String.format(Locale.ROOT, "%s: %dx%d is %.1f megapixels, over the limit of %.1f",
                    who, wh[0], wh[1], pixels / 1e6, limits.maxPixels() / 1e6));
        }
        Path file = dir.resolve(baseName + "." + ext);
        Path tmp = dir.resolve(baseName + ".upload");
        Files.write(tmp, bytes);
        try {
            Images.read(tmp, null); // the full decode the engine will do: corrupt data fails here, not in the queue
        } catch (ImageException e) {
            Files.deleteIfExists(tmp);
            throw ApiError.badRequest(who + ": not a readable " + ext.toUpperCase(Locale.ROOT) + " image");
        } catch (OutOfMemoryError e) {
            Files.deleteIfExists(tmp);
            throw ApiError.tooLarge(who + ": too large to decode");
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        return new Stored(file, name, wh[0], wh[1]);
    }

    /** "png" or "jpg" from the file's signature, or null. */
    static String formatOf(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G'
                && b[4] == 0x0d && b[5] == 0x0a && b[6] == 0x1a && b[7] == 0x0a) {
            return "png";
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xff && (b[1] & 0xff) == 0xd8 && (b[2] & 0xff) == 0xff) {
            return "jpg";
        }
        return null;
    }

    /** Width and height from the image header (no pixel data decoded), or null when unreadable. */
    static int[] headerSize(byte[] bytes) {
        try (ImageInputStream iis = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(iis);
            if (!readers.hasNext()) {
                return null;
            }
            ImageReader r = readers.next();
            try {
                r.setInput(iis, true, true);
                return new int[] {r.getWidth(0), r.getHeight(0)};
            } finally {
                r.dispose();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The last path element of a browser-supplied name, printable, at most 60 characters. */
    static String cleanName(String userName) {
        if (userName == null || userName.isBlank()) {
            return "upload";
        }
        String n = userName.replace('\\', '/');
        n = n.substring(n.lastIndexOf('/') + 1);
        n = n.replaceAll("[\\p{Cntrl}'\"]", "_");
        return n.length() > 60 ? n.substring(0, 57) + "..." : n.isEmpty() ? "upload" : n;
    }

    static String mib(long bytes) {
        return bytes >= (1 << 20) ? String.format(Locale.ROOT, "%.0f MiB", bytes / (double) (1 << 20))
                : String.format(Locale.ROOT, "%.0f KiB", bytes / 1024.0);
    }
}
