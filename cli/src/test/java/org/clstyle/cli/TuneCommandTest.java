package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

/** {@code clstyle tune}'s user errors: one line, exit code 2, nothing tuned or written. */
class TuneCommandTest {
    private static String[] run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new String[] {String.valueOf(rc), out.toString(), err.toString()};
    }

    @Test
    void unknownOpIsOneLine() {
        String[] r = run("tune", "--ops", "conv,bogus", "--dry-run");
        assertEquals("2", r[0]);
        assertEquals("", r[1]);
        assertEquals(1, r[2].strip().lines().count(), r[2]);
        assertTrue(r[2].contains("--ops: unknown op 'bogus'"), r[2]);
    }

    @Test
    void unknownDeviceIsOneLine() {
        String[] r = run("tune", "--device", "no-such-device-anywhere", "--dry-run");
        assertEquals("2", r[0]);
        assertEquals(1, r[2].strip().lines().count(), r[2]);
        assertTrue(r[2].startsWith("clstyle: --device no-such-device-anywhere"), r[2]);
    }
}
