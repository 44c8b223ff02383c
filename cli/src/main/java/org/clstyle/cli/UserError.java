package org.clstyle.cli;

import org.clstyle.cl.ClException;

/** A problem with the user's input, reported as one line and exit 2 (or the code given), never a stack trace. */
public final class UserError extends RuntimeException {
    private final int exitCode;

    public UserError(String message) {
        this(message, 2);
    }

    public UserError(String message, int exitCode) {
        super(message);
        this.exitCode = exitCode;
    }

    public int exitCode() { return exitCode; }

    /**
     * The exit code of a failure: a {@link UserError}'s own; 2 for the one-line validation errors the
     * engine raises (IllegalArgumentException: a bad value, always phrased after its option or file) and
     * for running out of Java heap (the input is too large for the heap); 1 for everything else, an
     * internal fault.
     */
    static int exitCode(Throwable t) {
        if (t instanceof UserError ue) {
            return ue.exitCode();
        }
        if (t instanceof IllegalArgumentException || t instanceof OutOfMemoryError) {
            return 2;
        }
        return 1;
    }

    /**
     * One line for any failure, without Java class names: the message of a known kind; for an internal
     * fault, what happened and where to look.
     */
    static String describe(Throwable t) {
        if (t instanceof UserError || t instanceof IllegalArgumentException) {
            return t.getMessage();
        }
        if (t instanceof ClException) {
            return t.getMessage(); // names the call and the error; a build failure carries its log
        }
        if (t instanceof OutOfMemoryError) {
            return "out of Java heap memory; try a smaller --size or --max-pixels, or raise -Xmx through CLSTYLE_JAVA_OPTS";
        }
        String m = t.getMessage();
        return "internal error" + (m == null || m.isBlank() ? "" : ": " + m)
                + " (please report it; CLSTYLE_DEBUG=1 prints the details)";
    }
}
