package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Pickles that would run a command under Python's pickle are refused with one line, and nothing runs: the
 * marker file their command would create never appears.
 */
class MaliciousPickleTest {
    @TempDir
    Path tmp;

    private Path marker;

    @BeforeEach
    void noMarker() throws IOException {
        // The committed fixtures name this path; see make_fixtures.py (which proves torch.load does create it).
        marker = Path.of(Fixtures.expected(Fixtures.dir()).get("marker").asText());
        Files.deleteIfExists(marker);
    }

    @ParameterizedTest
    @ValueSource(strings = {"evil-zip.pth", "evil-legacy.pth"})
    void torchSavedExploitIsRefused(String fixture) throws Exception {
        assertTrue(new String(Files.readAllBytes(Fixtures.file(fixture)), StandardCharsets.ISO_8859_1).contains("system"),
                "the fixture must really carry the exploit");
        assertRefused(Fixtures.file(fixture), "posix.system");
    }

    @Test
    void protocol0GlobalInZipIsRefused() throws Exception {
        String p = "cos\nsystem\n(S'touch " + marker + "'\ntR.";
        assertRefused(zipWithPickle(p.getBytes(StandardCharsets.ISO_8859_1)), "os.system");
    }

    @Test
    void stackGlobalIsRefused() throws Exception {
        // Protocol 4: SHORT_BINUNICODE 'builtins', SHORT_BINUNICODE 'eval', STACK_GLOBAL, then a call.
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        b.write(new byte[] {(byte) 0x80, 4});
        shortUnicode(b, "builtins");
        shortUnicode(b, "eval");
        b.write(0x93);
        shortUnicode(b, "__import__('os').system('touch " + marker + "')");
        b.write(new byte[] {(byte) 0x85, 'R', '.'});
        assertRefused(zipWithPickle(b.toByteArray()), "builtins.eval");
    }

    @Test
    void exploitInTheLegacyMagicPickleIsRefused() throws Exception {
        // The very first pickle of a legacy file is read too, so it is as guarded as the state_dict.
        byte[] p = ("\u0080\u0002cposix\nsystem\nX____touch " + marker + "\u0085R.").getBytes(StandardCharsets.ISO_8859_1);
        int len = ("touch " + marker).length();
        p[16] = (byte) len;
        p[17] = p[18] = p[19] = 0;
        Path f = tmp.resolve("in").resolve("legacy.pth");
        Files.createDirectories(f.getParent());
        Files.write(f, p);
        assertRefused(f, "posix.system");
    }

    @Test
    void instOpcodeIsRefused() throws Exception {
        String p = "(S'touch " + marker + "'\nios\nsystem\n.";
        assertRefused(zipWithPickle(p.getBytes(StandardCharsets.ISO_8859_1)), "os.system");
    }

    private void assertRefused(Path in, String global) throws IOException {
        Path outDir = Files.createDirectories(tmp.resolve("out"));
        WeightsException e = assertThrows(WeightsException.class,
                () -> WeightsConverter.convert(in, outDir.resolve("w.safetensors"), null));
        Fixtures.assertOneLine(e.getMessage());
        assertTrue(e.getMessage().contains("refused") && e.getMessage().contains(global), e.getMessage());
        assertFalse(Files.exists(marker), "the pickle's command ran");
        Fixtures.assertDirEmpty(outDir);
    }

    private static void shortUnicode(ByteArrayOutputStream b, String s) {
        byte[] u = s.getBytes(StandardCharsets.UTF_8);
        b.write(0x8c);
        b.write(u.length);
        b.write(u, 0, u.length);
    }

    /** A zip laid out like torch.save's, with the given bytes as data.pkl (stored, as torch writes it). */
    private Path zipWithPickle(byte[] pickle) throws IOException {
        Path f = Files.createDirectories(tmp.resolve("in")).resolve("evil.pth");
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(f))) {
            ZipEntry e = new ZipEntry("evil/data.pkl");
            e.setMethod(ZipEntry.STORED);
            e.setSize(pickle.length);
            CRC32 crc = new CRC32();
            crc.update(pickle);
            e.setCrc(crc.getValue());
            z.putNextEntry(e);
            z.write(pickle);
            z.closeEntry();
        }
        return f;
    }
}
