package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The command line's own errors: no command, a mistyped command, bad file names, long values. */
class MainTest {
    static void assertOneLine(CliFixtures.Run r, int exit, String... mentions) {
        assertEquals(exit, r.exit(), "exit code; stderr: " + r.err());
        assertEquals(1, r.errLines().size(), "one stderr line: " + r.err());
        String line = r.errLines().get(0);
        for (String m : mentions) {
            assertTrue(line.contains(m), "should mention '" + m + "': " + line);
        }
        assertFalse(line.contains("Exception"), "no exception names: " + line);
    }

    @Test
    void noCommandPrintsUsageAndExits2() {
        CliFixtures.Run r = CliFixtures.run();
        assertEquals(2, r.exit());
        assertTrue(r.err().contains("Usage: clstyle"), r.err());
        assertTrue(r.err().contains("stylize"), r.err());
    }

    @Test
    void mistypedCommandSuggestsTheRightOne() {
        CliFixtures.Run r = CliFixtures.run("stylise", "--content", "a.png");
        assertOneLine(r, 2, "unknown command 'stylise'", "did you mean stylize?");
        assertOneLine(CliFixtures.run("weights", "fecth"), 2, "'fecth'", "fetch");
        assertOneLine(CliFixtures.run("frobnicate"), 2, "unknown command 'frobnicate'", "stylize");
    }

    @Test
    void fileNameTheSystemCannotRepresentIsOneLine() {
        // A NUL character raises the same InvalidPathException as a non-ASCII name under LC_ALL=C.
        CliFixtures.Run r = CliFixtures.run("stylize", "--content", "a\0b.png", "--style", "s.png", "-o", "o.png");
        assertOneLine(r, 2, "--content", "NUL");
    }

    @Test
    void longValuesAreNotEchoedInFull() {
        String huge = "9".repeat(100_000) + "x";
        CliFixtures.Run r = CliFixtures.run("stylize", "--content", "a.png", "--style", "s.png", "-o", "o.png",
                "--iterations", huge);
        assertOneLine(r, 2, "--iterations", "100001 characters");
        assertTrue(r.err().length() < 600, "bounded: " + r.err().length() + " characters");
    }

    @Test
    void messagesFoldAndBound() {
        assertEquals("a b", Messages.line("a\nb"));
        String v = Messages.value("x".repeat(1000));
        assertTrue(v.length() < 100 && v.endsWith("(1000 characters)"), v);
        assertEquals("short", Messages.value("short"));
    }

    @Test
    void internalFaultsExit1WithoutClassNames() {
        assertEquals(1, UserError.exitCode(new IllegalStateException("x")));
        assertEquals(2, UserError.exitCode(new UserError("x")));
        assertEquals(2, UserError.exitCode(new IllegalArgumentException("--size: x")));
        String d = UserError.describe(new NullPointerException("boom"));
        assertTrue(d.startsWith("internal error: boom"), d);
        assertFalse(d.contains("Exception"), d);
    }
}
