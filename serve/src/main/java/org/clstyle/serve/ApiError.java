package org.clstyle.serve;

/**
 * A request the studio refuses: an HTTP status and one line for the page (naming the field or file at
 * fault), sent as {@code {"error": "..."}}; never a stack trace.
 */
public final class ApiError extends RuntimeException {
    private final int status;

    public ApiError(int status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    public int status() { return status; }

    static ApiError badRequest(String message) { return new ApiError(400, message); }

    static ApiError notFound(String message) { return new ApiError(404, message); }

    static ApiError conflict(String message) { return new ApiError(409, message); }

    static ApiError tooLarge(String message) { return new ApiError(413, message); }
}
