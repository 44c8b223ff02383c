package org.clstyle.weights;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.clstyle.io.AtomicFile;

/** File helpers: atomic writes (never a partial output) and SHA-256. */
final class Io {
    private Io() {
    }

    interface ChannelWriter {
        void write(FileChannel ch) throws IOException;
    }

    /** Writes to a temporary file beside the target, then renames it over the target. */
    static void writeAtomically(Path file, ChannelWriter writer) throws WeightsException {
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            AtomicFile.writeChannel(file, writer::write);
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot write (" + describe(e) + ")");
        }
    }

    static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    static String sha256(Path file) throws WeightsException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = sha256();
            byte[] buf = new byte[1 << 20];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (IOException e) {
            throw new WeightsException(file + ": cannot read (" + describe(e) + ")");
        }
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this Java lacks SHA-256", e);
        }
    }

    /** An I/O error in words: the JDK's messages are often only the file name. */
    static String describe(IOException e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.net.ConnectException) {
            return "could not connect" + (e.getMessage() == null ? "" : ": " + e.getMessage());
        }
        if (e instanceof java.net.UnknownHostException) {
            return "unknown host " + e.getMessage();
        }
        if (e instanceof java.net.http.HttpTimeoutException) {
            return "timed out";
        }
        if (e instanceof java.nio.file.FileAlreadyExistsException f) {
            return f.getFile() + " already exists" + (java.nio.file.Files.isDirectory(java.nio.file.Path.of(f.getFile()))
                    ? "" : " and is not a directory");
        }
        if (e instanceof java.nio.file.FileSystemException f) {
            // Its file may be our hidden temporary name: give the reason only, the caller names the user's file.
            return f.getReason() == null ? "file system error" : f.getReason();
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? "input/output error" : m; // no Java class names in user messages
    }
}
