package org.clstyle.io;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Never a partial output file: every file clstyle writes (images, converted weights, gradients, bench
 * JSON) goes to a hidden temporary name beside the target and is renamed over it once complete. The
 * temporary file is created with the process's umask (a file from Files.createTempFile would be
 * owner-only and keep that mode after the rename).
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** Writes the file's bytes through a channel. */
    public interface ChannelBody {
        void write(FileChannel ch) throws IOException;
    }

    /** Writes the file's bytes through a stream. */
    public interface StreamBody {
        void write(OutputStream out) throws IOException;
    }

    /** Writes {@code file} atomically through a stream; on failure nothing is left behind. */
    public static void write(Path file, StreamBody body) throws IOException {
        writeChannel(file, ch -> {
            OutputStream out = Channels.newOutputStream(ch);
            body.write(out);
            out.flush();
        });
    }

    /** Writes {@code file} atomically through a channel, forced to disk before the rename. */
    public static void writeChannel(Path file, ChannelBody body) throws IOException {
        Path abs = file.toAbsolutePath();
        Path tmp = abs.resolveSibling("." + abs.getFileName() + "."
                + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + ".tmp");
        boolean done = false;
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                body.write(ch);
                ch.force(false);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
            done = true;
        } finally {
            if (!done) {
                try {
                    Files.deleteIfExists(tmp);
                } catch (IOException ignored) {
                    // the write already failed; that error is the one to report
                }
            }
        }
    }
}
