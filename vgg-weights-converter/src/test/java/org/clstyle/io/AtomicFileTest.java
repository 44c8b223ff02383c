package org.clstyle.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFileTest {
    @Test
    void writesWholeFileWithTheUsualPermissions(@TempDir Path dir) throws IOException {
        Path ordinary = Files.createFile(dir.resolve("ordinary"));
        Path out = dir.resolve("out.bin");
        AtomicFile.write(out, os -> os.write(new byte[] {1, 2, 3}));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(out));
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(ordinary)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(out)),
                "an atomically written file gets the same mode as any file the user creates");
        AtomicFile.write(out, os -> os.write(new byte[] {9}));
        assertArrayEquals(new byte[] {9}, Files.readAllBytes(out), "replaces an existing file");
    }

    @Test
    void failedWriteLeavesNothingAndKeepsTheOldFile(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("out.bin");
        Files.write(out, new byte[] {7});
        assertThrows(IOException.class, () -> AtomicFile.write(out, os -> {
            os.write(new byte[] {1, 2});
            throw new IOException("disk full");
        }));
        assertArrayEquals(new byte[] {7}, Files.readAllBytes(out));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(1, s.count(), "no temporary file left behind");
        }
    }
}
