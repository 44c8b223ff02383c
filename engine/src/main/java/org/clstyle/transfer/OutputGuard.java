package org.clstyle.transfer;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;

/**
 * Protects the user's files from a run's outputs: an output may not be one of the inputs (the same
 * file, however it is named: another spelling, a symbolic or hard link), and two runs may not write
 * the same output at once (their intermediate snapshots would mix). The lock is an OS file lock on a
 * file named after the output's real path, kept in the system's temporary directory (not beside the
 * user's files); the OS releases it when the process ends, however it ends.
 */
public final class OutputGuard implements AutoCloseable {
    private final FileChannel channel;
    private final FileLock lock;

    private OutputGuard(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Refuses {@code output} (written through {@code outputOption}) when it is the same file as any of
     * {@code inputs} (option -> path; missing inputs are skipped, their own check reports them).
     */
    public static void refuseInputs(String outputOption, Path output, Map<String, Path> inputs) throws StylizeException {
        if (output == null || !Files.exists(output)) {
            return; // a file that does not exist yet is none of the inputs
        }
        for (Map.Entry<String, Path> e : inputs.entrySet()) {
            Path in = e.getValue();
            if (in == null || !Files.exists(in)) {
                continue;
            }
            boolean same;
            try {
                same = Files.isSameFile(output, in);
            } catch (IOException ex) {
                same = false;
            }
            if (same) {
                throw new StylizeException(outputOption + " " + output + " is the same file as " + e.getKey() + " " + in
                        + "; writing it would destroy that input: choose another output file");
            }
        }
    }

    /**
     * Takes the lock on {@code output} for this run, or fails naming the option when another run holds
     * it. The caller closes the guard when the run has written its last file.
     */
    public static OutputGuard lock(String outputOption, Path output) throws StylizeException {
        Path lockFile;
        try {
            Path abs = output.toAbsolutePath().normalize();
            Path dir = abs.getParent() == null ? abs : abs.getParent().toRealPath();
            String key = dir.resolve(abs.getFileName().toString()).toString();
            Path locks = Path.of(System.getProperty("java.io.tmpdir"), "clstyle-locks-" + user());
            Files.createDirectories(locks);
            lockFile = locks.resolve(sha256(key) + ".lock");
        } catch (IOException e) {
            return new OutputGuard(null, null); // no lock directory: run unguarded rather than refuse
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null; // held by this process (another run in the same JVM)
            }
            if (l == null) {
                ch.close();
                throw new StylizeException(outputOption + " " + output + ": another clstyle run is writing this file"
                        + " right now; wait for it to finish or choose another output file");
            }
            return new OutputGuard(ch, l);
        } catch (IOException e) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // nothing more to release
                }
            }
            return new OutputGuard(null, null);
        }
    }

    private static String user() {
        String u = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
        return u.isEmpty() ? "user" : u;
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void close() {
        try {
            if (lock != null) {
                lock.release();
            }
            if (channel != null) {
                channel.close();
            }
        } catch (IOException ignored) {
            // the OS releases the lock with the process anyway
        }
    }
}
