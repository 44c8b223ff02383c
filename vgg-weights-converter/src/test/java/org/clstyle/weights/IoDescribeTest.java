package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** I/O errors in words: no Java class names, no hidden temporary file names. */
class IoDescribeTest {
    @Test
    void noClassNamesNorTemporaryNames(@TempDir Path dir) throws Exception {
        String d = Io.describe(new FileSystemException(dir.resolve(".w.safetensors.1a2b.tmp").toString(), null,
                "No space left on device"));
        assertEquals("No space left on device", d);
        Path file = Files.writeString(dir.resolve("cache"), "x");
        String exists = Io.describe(new FileAlreadyExistsException(file.toString()));
        assertTrue(exists.equals(file + " already exists and is not a directory"), exists);
        String other = Io.describe(new IOException());
        assertFalse(other.contains("Exception"), other);
    }
}
