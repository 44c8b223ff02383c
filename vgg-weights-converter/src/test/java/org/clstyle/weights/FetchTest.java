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
        byte[] good16 = Files.readAllBytes(Fixtures.file("vgg16-tv-legacy.pth"));
        server.createContext("/good16/vgg16.pth", ex -> serve(ex, good16, true));
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

    @Test
    void knownVgg16Sources() {
        WeightsFetcher.Source tv = WeightsFetcher.known(VggArchitecture.VGG16, "torchvision");
        assertEquals("https://download.pytorch.org/models/vgg16-397923af.pth", tv.url().toString());
        assertEquals("397923af", tv.sha256());
        assertEquals(Preprocessing.TORCHVISION, tv.preprocessing());
        assertEquals("vgg16-torchvision.safetensors", tv.outputName());
        WeightsFetcher.Source caffe = WeightsFetcher.known(VggArchitecture.VGG16, "CAFFE");
        assertEquals("https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth", caffe.url().toString());
        assertEquals("00b39a1b", caffe.sha256());
        assertEquals(Preprocessing.CAFFE, caffe.preprocessing());
        assertEquals("vgg16-caffe.safetensors", caffe.outputName());
        assertEquals(WeightsFetcher.TORCHVISION, WeightsFetcher.known(VggArchitecture.VGG19, "torchvision"));
        assertEquals(WeightsFetcher.CAFFE, WeightsFetcher.known(VggArchitecture.VGG19, "caffe"));
        assertEquals(null, WeightsFetcher.known(VggArchitecture.VGG16, "keras"));
        // Each known source's hash prefix is the converter's known-file prefix for the same network and preprocessing.
        for (WeightsFetcher.Source s : WeightsFetcher.KNOWN) {
            var k = WeightsConverter.knownFile(s.sha256() + "0".repeat(56), s.network());
            assertEquals(s.preprocessing(), k.preprocessing(), s.fileName());
            assertEquals(s.fileName(), k.fileName());
        }
    }

    @Test
    void cachedFilePerNetwork() throws Exception {
        assertEquals(null, WeightsFetcher.cachedFile(VggArchitecture.VGG16, cache));
        Files.writeString(cache.resolve("vgg16-caffe.safetensors"), "x");
        assertEquals(cache.resolve("vgg16-caffe.safetensors"), WeightsFetcher.cachedFile(VggArchitecture.VGG16, cache));
        assertEquals(null, WeightsFetcher.cachedFile(VggArchitecture.VGG19, cache));
        assertTrue(WeightsFetcher.cachedDefault(cache).isEmpty(), "the stylize default stays VGG19");
        Files.writeString(cache.resolve("vgg16-torchvision.safetensors"), "x");
        assertEquals(cache.resolve("vgg16-torchvision.safetensors"), WeightsFetcher.cachedFile(VggArchitecture.VGG16, cache));
        Files.writeString(cache.resolve("vgg19-caffe.safetensors"), "x");
        assertEquals(cache.resolve("vgg19-caffe.safetensors"), WeightsFetcher.cachedDefault(cache).orElseThrow());
        assertTrue(WeightsFetcher.missingWeightsMessage(VggArchitecture.VGG16, cache).contains("--network vgg16"));
    }

    @Test
    void vgg16DownloadIsConvertedAsVgg16() throws Exception {
        String sha = Io.sha256(Fixtures.file("vgg16-tv-legacy.pth"));
        var r = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good16/vgg16.pth"), sha, VggArchitecture.VGG16), cache, false, false,
                WeightsFetcher.Progress.NONE);
        assertEquals(VggArchitecture.VGG16, r.network());
        assertEquals(cache.resolve("vgg16.safetensors"), r.weights());
        Fixtures.assertMatches(Fixtures.expectedVgg16(Fixtures.dir()), VggWeights.load(r.weights()));
        var again = WeightsFetcher.fetch(WeightsFetcher.custom(url("/good16/vgg16.pth"), sha, VggArchitecture.VGG16), cache, false, false,
                WeightsFetcher.Progress.NONE);
        assertFalse(again.downloaded());
        assertEquals(VggArchitecture.VGG16, again.network());
    }

    @Test
    void downloadOfTheOtherNetworkIsRefusedAndNothingWritten() throws Exception {
        // Asked for VGG16, the server sends the VGG19 fixture (right hash, wrong network).
        WeightsException e = assertThrows(WeightsException.class, () -> WeightsFetcher.fetch(
                WeightsFetcher.custom(url("/good/vgg.pth"), goodSha, VggArchitecture.VGG16), cache, false, false, WeightsFetcher.Progress.NONE));
        Fixtures.assertOneLine(e.getMessage());
        assertTrue(e.getMessage().contains("holds vgg19, not the vgg16"), e.getMessage());
        assertEquals(List.of(), listing());
    }

    private List<Path> listing() throws IOException {
        try (var s = Files.list(cache)) {
            return s.toList();
        }
    }
}
