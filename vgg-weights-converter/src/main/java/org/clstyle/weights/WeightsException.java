package org.clstyle.weights;

/** A weights file that cannot be used: the message is one line naming the file and what is wrong. */
public class WeightsException extends Exception {
    public WeightsException(String message) {
        super(oneLine(message));
    }

    public WeightsException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** Messages from libraries can span lines; the user sees exactly one. */
    static String oneLine(String s) {
        return s == null ? "" : s.replaceAll("\\s*[\\r\\n]+\\s*", "; ").strip();
    }
}
