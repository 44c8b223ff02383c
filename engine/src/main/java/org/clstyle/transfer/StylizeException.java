package org.clstyle.transfer;

/** A run that cannot start or go on; the message is one line naming the file or option at fault. */
public final class StylizeException extends Exception {
    public StylizeException(String message) {
        super(message);
    }

    public StylizeException(String message, Throwable cause) {
        super(message, cause);
    }
}
