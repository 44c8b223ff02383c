package org.clstyle.cl;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Kernel sources from the classpath: the shared header common.cl, then the family's own file. A
 * family may pull in another family's file with a line {@code #include "gemm.cl"}; the host resolves
 * it (the device compiler cannot see the classpath), once per file.
 */
public final class KernelSource {
    private static final String ROOT = "org/clstyle/kernels/";
    private static final Pattern INCLUDE = Pattern.compile("(?m)^\\s*#include\\s+\"(\\w+)\\.cl\"\\s*$");
    private static final ConcurrentHashMap<String, String> CACHE = new ConcurrentHashMap<>();

    private KernelSource() {}

    /** common.cl followed by {@code family}.cl with its includes resolved. */
    public static String load(String family) {
        return CACHE.computeIfAbsent(family, f -> {
            Set<String> seen = new LinkedHashSet<>();
            seen.add("common");
            return read("common") + "\n" + expand(f, seen);
        });
    }

    private static String expand(String name, Set<String> seen) {
        if (!seen.add(name)) {
            return "";
        }
        String text = read(name);
        Matcher m = INCLUDE.matcher(text);
        StringBuilder out = new StringBuilder("#line 1 \"" + name + ".cl\"\n");
        int last = 0;
        int line = 1;
        while (m.find()) {
            String before = text.substring(last, m.start());
            out.append(before);
            line += (int) before.chars().filter(c -> c == '\n').count();
            out.append(expand(m.group(1), seen)).append('\n');
            out.append("#line ").append(line + 1).append(" \"").append(name).append(".cl\"\n");
            last = m.end();
            if (last < text.length() && text.charAt(last) == '\n') {
                last++;
                line++;
            }
        }
        out.append(text.substring(last));
        return out.toString();
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
