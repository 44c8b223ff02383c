package org.clstyle.io;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;

/** The user cache clstyle keeps converted weights and tuning tables in. */
public final class CacheDir {
    private CacheDir() {}

    /** $CLSTYLE_CACHE_DIR, else $XDG_CACHE_HOME/clstyle (when absolute), else ~/.cache/clstyle. */
    public static Path root() {
        return root(System.getenv(), System.getProperty("user.home"));
    }

    /** {@link #root()} for the environment {@code env} and home directory {@code home}. */
    public static Path root(Map<String, String> env, String home) {
        String own = env.get("CLSTYLE_CACHE_DIR");
        if (own != null && !own.isBlank()) {
            return Paths.get(own);
        }
        String xdg = env.get("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank() && Paths.get(xdg).isAbsolute()) {
            return Paths.get(xdg, "clstyle");
        }
        return Paths.get(home, ".cache", "clstyle");
    }
}
