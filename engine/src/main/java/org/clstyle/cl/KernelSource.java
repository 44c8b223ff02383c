package org.clstyle.cl;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;

/** Kernel sources from the classpath: the shared header common.cl, then the family's own file. */
public final class KernelSource {
    private static final String ROOT = "org/clstyle/kernels/";
    private static final ConcurrentHashMap<String, String> CACHE = new ConcurrentHashMap<>();

    private KernelSource() {}

    /** common.cl followed by {@code family}.cl. */
    public static String load(String family) {
        return CACHE.computeIfAbsent(family, f -> read("common") + "\n#line 1 \"" + f + ".cl\"\n" + read(f));
    }

    private static String read(String name) {
        String path = ROOT + name + ".cl";
        try (InputStream in = KernelSource.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("kernel source " + path + " is not on the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read kernel source " + path + ": " + e.getMessage(), e);
        }
    }
}
