package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HexFormat;
import java.util.stream.Stream;

/** The committed fixtures (written by src/test/python/make_fixtures.py) and their expected tensors. */
final class Fixtures {
    private Fixtures() {
    }

    static Path dir() {
        try {
            return Paths.get(Fixtures.class.getResource("/fixtures/expected.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static Path file(String name) {
        return dir().resolve(name);
    }

    /** The reduced-width VGG19's tensors (expected.json). */
    static JsonNode expected(Path dir) {
        return expected(dir, "expected.json");
    }

    /** The reduced-width VGG16's tensors (expected-vgg16.json). */
    static JsonNode expectedVgg16(Path dir) {
        return expected(dir, "expected-vgg16.json");
    }

    static JsonNode expected(Path dir, String name) {
        try {
            return new ObjectMapper().readTree(dir.resolve(name).toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** SHA-256 of the float32 little-endian bytes: the same thing numpy hashes in the generator. */
    static String sha256(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(v);
        return HexFormat.of().formatHex(Io.sha256().digest(b.array()));
    }

    /** Every conv's shape and bytes equal the generator's, bit for bit via SHA-256, and the network has no other conv. */
    static void assertMatches(JsonNode expected, VggWeights w) {
        assertEquals(expected.get("layers").size(), w.architecture().convLayers().size(), "conv count of " + w.architecture());
        expected.get("layers").fields().forEachRemaining(e -> {
            String conv = e.getKey();
            JsonNode x = e.getValue();
            int[] ws = new int[4];
            for (int i = 0; i < 4; i++) {
                ws[i] = x.get("weight_shape").get(i).asInt();
            }
            assertArrayEquals(ws, new int[] {w.outChannels(conv), w.inChannels(conv), 3, 3}, conv + " weight shape");
            assertEquals(x.get("weight_sha256").asText(), sha256(w.weight(conv)), conv + " weight bytes");
            assertEquals(x.get("bias_sha256").asText(), sha256(w.bias(conv)), conv + " bias bytes");
        });
    }

    /** What a refused input must leave behind: nothing in the output directory. */
    static void assertDirEmpty(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            assertFalse(s.findAny().isPresent(), "left files in " + dir);
        }
    }

    static void assertOneLine(String message) {
        assertFalse(message.contains("\n") || message.contains("\r"), "not one line: " + message);
        assertFalse(message.isBlank());
    }
}
