package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** clstyle serve refuses bad options with one line and exit 2, before it listens. */
class ServeCommandTest {
    @TempDir
    Path dir;

    static void assertOneLine(CliFixtures.Run r, String... mentions) {
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), r.err());
        String line = r.errLines().get(0);
        for (String m : mentions) {
            assertTrue(line.contains(m), line);
        }
        assertFalse(line.contains("Exception"), line);
    }

    @Test
    void weightsThatAreNotWeights() throws Exception {
        Path bad = Files.writeString(dir.resolve("w.safetensors"), "not weights");
        assertOneLine(CliFixtures.run("serve", "--port", "0", "--weights", bad.toString()), "w.safetensors");
    }

    @Test
    void missingWeightsFile() {
        assertOneLine(CliFixtures.run("serve", "--port", "0", "--weights", dir.resolve("none.safetensors").toString()),
                "none.safetensors");
    }

    @Test
    void portOutOfRange() {
        assertOneLine(CliFixtures.run("serve", "--port", "70000"), "--port");
    }

    @Test
    void unknownDevice() throws Exception {
        Path w = CliFixtures.tinyWeights(dir.resolve("tiny.safetensors"));
        assertOneLine(CliFixtures.run("serve", "--port", "0", "--device", "no-such-device-xyz", "--weights", w.toString()),
                "no-such-device-xyz");
    }
}
