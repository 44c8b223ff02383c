package org.clstyle.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** fetch against an HTTP server on 127.0.0.1: good, resumed and corrupted downloads. */
class FetchTest {
    @TempDir
    Path cache;

    private HttpServer server;
    private byte[] good;
    private String goodSha;
    /** The Range header of every request ("" when none). */
    private final List<String> ranges = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        good = Files.readAllBytes(Fixtures.file("tv-zip.pth"));
        goodSha = Io.sha256(Fixtures.file("tv-zip.pth"));
        byte[] bad = good.clone();
        bad[bad.length / 2] ^= 1; // one flipped bit
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/good/vgg.pth", ex -> serve(ex, good, true));
        server.createContext("/corrupt/vgg.pth", ex -> serve(ex, bad, true));
        server.createContext("/norange/vgg.pth", ex -> serve(ex, good, false));
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private URI url(String path) {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort() + path);
    }

    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private void serve(HttpExchange ex, byte[] body, boolean rangeSupport) throws IOException {
        String range = ex.getRequestHeaders().getFirst("Range");
        ranges.add(range == null ? "" : range);
        int from = 0;
        Matcher m = range == null ? null : RANGE.matcher(range);
        if (rangeSupport && m != null && m.matches()) {
            from = Integer.parseInt(m.group(1));
            if (from >= body.length) {
                ex.sendResponseHeaders(416, -1);
                ex.close();
                return;
            }
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
            ex.sendResponseHeaders(206, body.length - from);
        } else {
            ex.sendResponseHeaders(200, body.length);
        }
        try (OutputStream os = ex.getResponseBody()) {
            os.write(body, from, body.length - from);
        }
    }

    private static final class CountingProgress implements WeightsFetcher.Progress {
        final AtomicLong last = new AtomicLong(), total = new AtomicLong();

        @Override
        public void update(long done, long t) {
            last.set(done);
            total.set(t);
        }

        @Override
        public void finish() {
        }
    }

    @Test
    void goodDownloadIsVerifiedConvertedAndTheSourceRemoved() throws Exception {
        CountingProgress progress = new CountingProgress();
        var r = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha), cache, false, false, progress);
        assertEquals(cache.resolve("vgg.safetensors"), r.weights());
        assertTrue(r.downloaded());
        assertFalse(r.resumed());
        assertEquals(List.of(""), ranges);
        assertEquals(good.length, progress.last.get());
        assertEquals(good.length, progress.total.get());
        VggWeights w = VggWeights.load(r.weights());
        Fixtures.assertMatches(Fixtures.expected(Fixtures.dir()), w);
        assertEquals(goodSha, w.metadata().get("source_sha256"));
        assertEquals("vgg.pth", w.metadata().get("source_file"));
        assertEquals(List.of(cache.resolve("vgg.safetensors")), listing(), "only the converted file is kept");

        // A second fetch reuses the converted file without downloading.
        var again = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha), cache, false, false, progress);
        assertFalse(again.downloaded());
        assertEquals(1, ranges.size());
    }

    @Test
    void interruptedDownloadResumesWithARangeRequest() throws Exception {
        Files.write(cache.resolve("vgg.pth.part"), Arrays.copyOf(good, 1000));
        var r = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha), cache, true, false, WeightsFetcher.Progress.NONE);
        assertEquals(List.of("bytes=1000-"), ranges);
        assertTrue(r.resumed());
        assertEquals(1000, r.resumedFrom());
        Fixtures.assertMatches(Fixtures.expected(Fixtures.dir()), VggWeights.load(r.weights()));
        // Asked to keep the source: it is there, whole, and no .part is left.
        assertEquals(goodSha, Io.sha256(cache.resolve("vgg.pth")));
        assertFalse(Files.exists(cache.resolve("vgg.pth.part")));
    }

    @Test
    void serverWithoutRangeSupportRestartsFromTheBeginning() throws Exception {
        Files.write(cache.resolve("vgg.pth.part"), Arrays.copyOf(good, 1000));
        var r = WeightsFetcher.fetch(WeightsFetcher.custom(url("/norange/vgg.pth"), goodSha), cache, false, false, WeightsFetcher.Progress.NONE);
        assertEquals(List.of("bytes=1000-"), ranges);
        assertFalse(r.resumed());
        Fixtures.assertMatches(Fixtures.expected(Fixtures.dir()), VggWeights.load(r.weights()));
    }

    @Test
    void corruptDownloadIsRejectedAndRemoved() throws Exception {
        WeightsException e = assertThrows(WeightsException.class, () ->
                WeightsFetcher.fetch(WeightsFetcher.custom(url("/corrupt/vgg.pth"), goodSha), cache, false, false, WeightsFetcher.Progress.NONE));
        Fixtures.assertOneLine(e.getMessage());
        assertTrue(e.getMessage().contains("SHA-256") && e.getMessage().contains(goodSha), e.getMessage());
        Fixtures.assertDirEmpty(cache);
    }

    @Test
    void corruptPartialFileIsCaughtByTheHash() throws Exception {
        byte[] part = Arrays.copyOf(good, 1000);
        part[500] ^= 1; // a damaged earlier download: resuming it gives a file with the wrong hash
        Files.write(cache.resolve("vgg.pth.part"), part);
        assertThrows(WeightsException.class, () ->
                WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha), cache, false, false, WeightsFetcher.Progress.NONE));
        Fixtures.assertDirEmpty(cache);
        // The next run starts clean and succeeds.
        WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha), cache, false, false, WeightsFetcher.Progress.NONE);
        assertEquals(List.of("bytes=1000-", ""), ranges);
    }

    @Test
    void hashPrefixAsForTheKnownSources() throws Exception {
        // The known sources carry only the 8-hex prefix from their file names; a prefix check works the same way.
        var r = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), goodSha.substring(0, 8)), cache, false, false,
                WeightsFetcher.Progress.NONE);
        assertTrue(Files.isRegularFile(r.weights()));
        String wrong = (goodSha.charAt(0) == '0' ? "1" : "0") + goodSha.substring(1, 8);
        assertThrows(WeightsException.class, () -> WeightsFetcher.fetch(WeightsFetcher.custom(url("/good/vgg.pth"), wrong), cache, false, true,
                WeightsFetcher.Progress.NONE));
    }

    @Test
    void httpErrorIsOneLine() {
        WeightsException e = assertThrows(WeightsException.class, () ->
                WeightsFetcher.fetch(WeightsFetcher.custom(url("/missing/vgg.pth"), goodSha), cache, false, false, WeightsFetcher.Progress.NONE));
        assertTrue(e.getMessage().contains("HTTP 404"), e.getMessage());
        Fixtures.assertOneLine(e.getMessage());
    }

    @Test
    void knownSourcesAndCacheDefaults() {
        assertEquals("dcbb9e9d", WeightsFetcher.TORCHVISION.sha256());
        assertEquals("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth", WeightsFetcher.TORCHVISION.url().toString());
        assertEquals(Preprocessing.CAFFE, WeightsFetcher.CAFFE.preprocessing());
        assertTrue(WeightsFetcher.cachedDefault(cache).isEmpty());
        assertThrows(IllegalArgumentException.class, () -> WeightsFetcher.custom(url("/x.pth"), "xyz"));
    }

    private List<Path> listing() throws IOException {
        try (var s = Files.list(cache)) {
            return s.toList();
        }
    }
}
