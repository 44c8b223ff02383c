package org.clstyle.vgg;

import java.util.Locale;

/** How VGG19's five 2x2 pooling layers pool: max (the trained network) or average (Gatys et al.'s variant). */
public enum Pooling {
    MAX, AVG;

    /** The recipe spelling: "max" or "avg". */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Parses "max" or "avg" (any case); null for anything else. */
    public static Pooling parse(String s) {
        if (s == null) {
            return null;
        }
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "max" -> MAX;
            case "avg", "average" -> AVG;
            default -> null;
        };
    }
}
