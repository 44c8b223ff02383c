package org.clstyle.cli;

import org.clstyle.cl.ClException;

/** A problem with the user's input, reported as one line and a non-zero exit, never a stack trace. */
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

    /** One line for any failure: the message of a known kind, else the exception's class and message. */
    static String describe(Throwable t) {
        if (t instanceof UserError || t instanceof IllegalArgumentException) {
            return t.getMessage();
        }
        if (t instanceof ClException) {
            return t.getMessage(); // names the call and the error; a build failure carries its log
        }
        if (t instanceof OutOfMemoryError) {
            return "out of Java heap memory; try a smaller --size";
        }
        String m = t.getMessage();
        return t.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }
}
