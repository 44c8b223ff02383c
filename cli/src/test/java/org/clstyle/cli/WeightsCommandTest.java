package org.clstyle.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code clstyle weights convert|info|fetch} with VGG16 and VGG19: the network is reported, fetch takes --network,
 * bad input is one line and exit 2. Uses the converter module's committed fixtures (made by its make_fixtures.py).
 */
class WeightsCommandTest {
    @TempDir
    Path tmp;

    /** The converter's fixtures; surefire runs in the cli module directory. */
    private static Path fixture(String name) {
        return Paths.get("..", "vgg-weights-converter", "src", "test", "resources", "fixtures", name).toAbsolutePath().normalize();
    }

    private static void assertUserError(CliFixtures.Run r, String part) {
        assertEquals(2, r.exit(), r.err());
        assertEquals(1, r.errLines().size(), "not one line: " + r.err());
        assertTrue(r.err().contains(part), r.err());
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), r.err());
    }

    @Test
    void convertReportsVgg16AndInfoPrintsIt() throws Exception {
        Path out = tmp.resolve("v16.safetensors");
        CliFixtures.Run r = CliFixtures.run("weights", "convert", fixture("vgg16-tv-zip.pth").toString(), "-o", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("network: VGG16 (13 convolutions)"), r.out());
        assertEquals(VggArchitecture.VGG16, VggWeights.load(out).architecture());

        CliFixtures.Run info = CliFixtures.run("weights", "info", out.toString());
        assertEquals(0, info.exit(), info.err());
        assertTrue(info.out().contains("network        VGG16 (13 convolutions)"), info.out());
        assertTrue(info.out().contains("kind           converted clstyle file"), info.out());
        assertTrue(info.out().contains("  conv5_3 "), info.out());
        assertFalse(info.out().contains("conv5_4") || info.out().contains("conv3_4"), info.out());

        // info on an unconverted file detects the network too.
        CliFixtures.Run raw = CliFixtures.run("weights", "info", fixture("vgg16-v1.caffemodel").toString());
        assertEquals(0, raw.exit(), raw.err());
        assertTrue(raw.out().contains("network        VGG16 (13 convolutions)"), raw.out());
        assertTrue(raw.out().contains("not converted (caffemodel)"), raw.out());
    }

    @Test
    void convertReportsVgg19() throws Exception {
        Path out = tmp.resolve("v19.safetensors");
        CliFixtures.Run r = CliFixtures.run("weights", "convert", fixture("keras.h5").toString(), "-o", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("network: VGG19 (16 convolutions)"), r.out());
        CliFixtures.Run info = CliFixtures.run("weights", "info", out.toString());
        assertTrue(info.out().contains("network        VGG19 (16 convolutions)") && info.out().contains("  conv5_4 "), info.out());
    }

    @Test
    void truncatedOrMixedFileIsOneLineAndNoOutput() throws Exception {
        byte[] all = Files.readAllBytes(fixture("vgg16-tv-legacy.pth"));
        Path cut = Files.write(tmp.resolve("cut.pth"), Arrays.copyOf(all, all.length / 2));
        Path outDir = Files.createDirectories(tmp.resolve("out"));
        assertUserError(CliFixtures.run("weights", "convert", cut.toString(), "-o", outDir.resolve("w.safetensors").toString()),
                cut.toString());

        // VGG16's convs except conv5_3, with conv names: a partial network.
        Path mixed = tmp.resolve("partial.safetensors");
        writeSafetensors(mixed, VggArchitecture.VGG16, List.of("conv5_3"));
        CliFixtures.Run r = CliFixtures.run("weights", "convert", mixed.toString(), "-o", outDir.resolve("w.safetensors").toString());
        assertUserError(r, "as VGG16 it lacks conv5_3");
        assertTrue(r.err().contains(mixed.toString()), r.err());
        try (Stream<Path> s = Files.list(outDir)) {
            assertEquals(0, s.count(), "a refused input left files");
        }
    }

    @Test
    void fetchOptionsAreCheckedInOneLine() {
        String cache = tmp.resolve("cache").toString();
        assertUserError(CliFixtures.run("weights", "fetch", "--network", "vgg17", "--cache-dir", cache), "--network must be vgg16 or vgg19");
        assertUserError(CliFixtures.run("weights", "fetch", "--network", "vgg16", "--source", "keras", "--cache-dir", cache),
                "--source must be torchvision or caffe");
        assertFalse(Files.exists(tmp.resolve("cache")));
    }

    @Test
    void fetchWithNetworkVgg16() throws Exception {
        byte[] v16 = Files.readAllBytes(fixture("vgg16-tv-zip.pth")), v19 = Files.readAllBytes(fixture("tv-zip.pth"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        for (var e : List.of(new Object[] {"/a/vgg16.pth", v16}, new Object[] {"/b/vgg19.pth", v19})) {
            byte[] body = (byte[]) e[1];
            server.createContext((String) e[0], ex -> {
                ex.sendResponseHeaders(200, body.length);
                try (OutputStream os = ex.getResponseBody()) {
                    os.write(body);
                }
            });
        }
        server.start();
        try {
            String base = "http://127.0.0.1:" + server.getAddress().getPort();
            Path cache = tmp.resolve("cache");
            CliFixtures.Run r = CliFixtures.run("weights", "fetch", "--network", "vgg16", "--url", base + "/a/vgg16.pth", "--sha256", sha256(v16),
                    "--cache-dir", cache.toString(), "--quiet");
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.out().contains("converted to " + cache.resolve("vgg16.safetensors") + ", VGG16 (13 convolutions)"), r.out());

            // The server has VGG19 where VGG16 was asked for: one line, nothing kept.
            Path cache2 = tmp.resolve("cache2");
            CliFixtures.Run wrong = CliFixtures.run("weights", "fetch", "--network", "vgg16", "--url", base + "/b/vgg19.pth", "--sha256",
                    sha256(v19), "--cache-dir", cache2.toString(), "--quiet");
            assertUserError(wrong, "holds vgg19, not the vgg16");
            try (Stream<Path> s = Files.list(cache2)) {
                assertEquals(0, s.count());
            }
        } finally {
            server.stop(0);
        }
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    /** A safetensors file with network {@code a}'s convs (conv names, width 2, zeros) except {@code omit}. */
    private static void writeSafetensors(Path file, VggArchitecture a, List<String> omit) throws Exception {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        long off = 0;
        int cin = 3;
        for (String c : a.convLayers()) {
            if (!omit.contains(c)) {
                long wBytes = 4L * 2 * cin * 9;
                header.putObject(c + ".weight").put("dtype", "F32").<ObjectNode>set("shape", json.valueToTree(new int[] {2, cin, 3, 3}))
                        .set("data_offsets", json.valueToTree(new long[] {off, off + wBytes}));
                off += wBytes;
                header.putObject(c + ".bias").put("dtype", "F32").<ObjectNode>set("shape", json.valueToTree(new int[] {2}))
                        .set("data_offsets", json.valueToTree(new long[] {off, off + 8}));
                off += 8;
            }
            cin = 2;
        }
        byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + (int) off).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Files.write(file, b.array());
    }
}
