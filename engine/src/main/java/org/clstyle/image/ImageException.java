package org.clstyle.image;

/** An image that cannot be read or written; the message is one line naming the file and the problem. */
public final class ImageException extends Exception {
    public ImageException(String message) {
        super(message);
    }

    public ImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
