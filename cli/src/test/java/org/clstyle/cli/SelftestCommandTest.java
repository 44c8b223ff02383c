package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.clstyle.selftest.KernelSelftest;
import org.junit.jupiter.api.Test;

/** {@code clstyle selftest} and {@code clstyle devices} on the test device. */
class SelftestCommandTest {
    private static String[] run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int rc = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new String[] {String.valueOf(rc), out.toString(), err.toString()};
    }

    @Test
    void everyKernelRowPassesOnTheTestDevice() {
        String[] r = run("selftest", "--kernels-only");
        assertEquals("0", r[0], r[1] + r[2]);
        for (String name : KernelSelftest.names()) {
            assertTrue(r[1].lines().anyMatch(l -> l.startsWith(name + " ") && l.contains(" ok ")), name + " row in\n" + r[1]);
        }
        assertTrue(r[1].contains("PASS: 0 failed"), r[1]);
    }

    @Test
    void unknownDeviceIsOneLine() {
        String[] r = run("selftest", "--device", "no-such-device-anywhere");
        assertEquals("2", r[0]);
        assertEquals(1, r[2].strip().lines().count(), r[2]);
        assertTrue(r[2].startsWith("clstyle: --device no-such-device-anywhere"), r[2]);
    }

    @Test
    void devicesSaysWhetherTheMinimumIsMet() {
        String[] r = run("devices");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("requirements    met"), r[1]);
        assertTrue(r[1].contains("per dimension"), r[1]);
    }
}
