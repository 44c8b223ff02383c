package org.clstyle.cl;

/**
 * A failed OpenCL call: the call's name, the status's name, and a detail where one helps (for a
 * failed program build, the options and the build log).
 */
public class ClException extends RuntimeException {
    private final String call;
    private final int code;
    private final String detail;

    public ClException(String call, int code, String detail) {
        super(call + " failed: " + ClError.name(code) + (detail == null || detail.isBlank() ? "" : ": " + detail));
        this.call = call;
        this.code = code;
        this.detail = detail;
    }

    /** A failure found by checking results rather than reported by a call: {@code message} as it is. */
    protected ClException(String message, String call, int code, String detail) {
        super(message);
        this.call = call;
        this.code = code;
        this.detail = detail;
    }

    public String call() { return call; }

    public int code() { return code; }

    public String errorName() { return ClError.name(code); }

    /** The build log for a failed program build, the hint for a missing platform, else null. */
    public String detail() { return detail; }

    /** True for the codes that mean the device ran out of memory for a buffer or a launch. */
    public boolean isOutOfMemory() {
        return code == -4 || code == -5 || code == -6 || code == -61;
    }
}
