package org.clstyle.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The engine's packages import one way: transfer/train -> loss -> vgg -> nn -> tune -> ops -> cl. Each
 * package below may not import the ones above it (reads the main sources' import lines).
 */
class LayeringTest {
    /** Package -> the engine packages it must not import. */
    private static final Map<String, List<String>> FORBIDDEN = Map.of(
            "cl", List.of("ops", "tune", "nn", "vgg", "loss", "optim", "transfer", "train", "perf", "image", "reference"),
            "ops", List.of("tune", "nn", "vgg", "loss", "transfer", "train", "perf"),
            "tune", List.of("nn", "vgg", "loss", "transfer", "train"),
            "nn", List.of("vgg", "loss", "transfer", "train", "perf"),
            "vgg", List.of("loss", "transfer", "train", "perf"),
            "loss", List.of("transfer", "train", "perf"));

    private static final Pattern IMPORT = Pattern.compile("^import (?:static )?org\\.clstyle\\.(\\w+)\\.", Pattern.MULTILINE);

    @Test
    void packagesImportOnlyDownwards() throws IOException {
        Path root = Path.of("src/main/java/org/clstyle");
        assertTrue(Files.isDirectory(root.resolve("ops")), "run from the engine module: " + root.toAbsolutePath());
        List<String> violations = new ArrayList<>();
        for (Map.Entry<String, List<String>> e : FORBIDDEN.entrySet()) {
            Path dir = root.resolve(e.getKey());
            if (!Files.isDirectory(dir)) {
                continue;
            }
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path f : (Iterable<Path>) files.filter(p -> p.toString().endsWith(".java"))::iterator) {
                    Matcher m = IMPORT.matcher(Files.readString(f));
                    while (m.find()) {
                        if (e.getValue().contains(m.group(1))) {
                            violations.add(root.relativize(f) + " imports org.clstyle." + m.group(1));
                        }
                    }
                }
            }
        }
        assertEquals(List.of(), violations);
    }
}
