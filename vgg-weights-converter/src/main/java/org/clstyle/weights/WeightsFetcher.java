package org.clstyle.weights;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.clstyle.io.CacheDir;

/**
 * Downloads a VGG19 weights file into the cache, resuming a partial download ({@code NAME.part}) with an HTTP
 * Range request, verifies its SHA-256, converts it, and keeps only the converted file unless asked otherwise.
 */
public final class WeightsFetcher {
    /**
     * A file to fetch. {@code sha256} is the expected hash or a prefix of it (at least 8 hex digits);
     * {@code preprocessing} is what the file implies, or null to let the converter decide from its content.
     */
    public record Source(String id, URI url, String fileName, String sha256, Preprocessing preprocessing, String outputName) {
        public Source {
            sha256 = checkHash(sha256);
        }
    }

    /**
     * torchvision's VGG19 (548 MB). Only the 8 hex digits of the SHA-256 that torch.hub puts in the file name
     * are known here, so the check is on that prefix.
     */
    public static final Source TORCHVISION = new Source("torchvision", URI.create("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
            "vgg19-dcbb9e9d.pth", WeightsConverter.TORCHVISION_SHA256_PREFIX, Preprocessing.TORCHVISION, "vgg19-torchvision.safetensors");

    /** The Caffe VGG19 converted to PyTorch by Justin Johnson (used by neural-style-pt); same prefix convention. */
    public static final Source CAFFE = new Source("caffe", URI.create("https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth"),
            "vgg19-d01eb7cb.pth", WeightsConverter.CAFFE_PTH_SHA256_PREFIX, Preprocessing.CAFFE, "vgg19-caffe.safetensors");

    /** Receives download progress; total is -1 when the server does not say. */
    public interface Progress {
        void update(long done, long total);

        void finish();

        Progress NONE = new Progress() {
            @Override
            public void update(long done, long total) {
            }

            @Override
            public void finish() {
            }
        };
    }

    /** What a fetch did. */
    public record Fetched(Path weights, boolean downloaded, boolean resumed, long resumedFrom, Path keptSource) {
    }

    private WeightsFetcher() {
    }

    /** A custom URL: the name comes from the URL's last path segment. */
    public static Source custom(URI url, String sha256) {
        String path = url.getPath() == null ? "" : url.getPath();
        String name = path.substring(path.lastIndexOf('/') + 1);
        if (name.isEmpty() || !name.matches("[A-Za-z0-9._-]+")) {
            name = "vgg19-download.bin";
        }
        String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        return new Source("url", url, name, sha256, null, stem + ".safetensors");
    }

    /** The user cache ({@link CacheDir#root()}). */
    public static Path defaultCacheDir() {
        return CacheDir.root();
    }

    /** The converted weights the stylize commands use when no --weights is given: torchvision's, else Caffe's. */
    public static Optional<Path> cachedDefault(Path cacheDir) {
        for (Source s : new Source[] {TORCHVISION, CAFFE}) {
            Path p = cacheDir.resolve(s.outputName());
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /** The one line to show when no weights are available. */
    public static String missingWeightsMessage(Path cacheDir) {
        return "no VGG19 weights in " + cacheDir + ": run `clstyle weights fetch` (downloads torchvision's 548 MB file once), "
                + "or pass --weights FILE.safetensors made by `clstyle weights convert`";
    }

    /**
     * Fetches {@code s} into {@code cacheDir}. An existing converted file is reused unless {@code force}. An
     * interrupted download leaves NAME.part for the next run to resume; a download with the wrong SHA-256 is removed.
     */
    public static Fetched fetch(Source s, Path cacheDir, boolean keepSource, boolean force, Progress progress) throws WeightsException {
        Path out = cacheDir.resolve(s.outputName());
        if (!force && Files.isRegularFile(out)) {
            VggWeights.load(out); // still valid?
            return new Fetched(out, false, false, 0, null);
        }
        try {
            Files.createDirectories(cacheDir);
        } catch (IOException e) {
            throw new WeightsException(cacheDir + ": cannot create the cache directory (" + Io.describe(e) + ")");
        }
        Path source = cacheDir.resolve(s.fileName());
        Path part = cacheDir.resolve(s.fileName() + ".part");
        boolean downloaded = false, resumed = false;
        long from = 0;
        if (!Files.isRegularFile(source) || !Io.sha256(source).startsWith(s.sha256())) {
            from = sizeOf(part);
            resumed = download(s.url(), part, from, progress);
            downloaded = true;
            String sha = Io.sha256(part);
            if (!sha.startsWith(s.sha256())) {
                delete(part);
                throw new WeightsException(s.url() + ": the download has SHA-256 " + sha + ", expected " + s.sha256()
                        + (s.sha256().length() < 64 ? "..." : "") + "; removed it (run fetch again)");
            }
            try {
                Files.move(part, source, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                throw new WeightsException(source + ": cannot move the download into place (" + Io.describe(e) + ")");
            }
        }
        try {
            WeightsConverter.convert(source, out, s.preprocessing());
        } finally {
            if (!keepSource) {
                delete(source);
            }
        }
        return new Fetched(out, downloaded, resumed, resumed ? from : 0, keepSource ? source : null);
    }

    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-(\\d+)/(\\d+|\\*)");

    /** Downloads into {@code part}, from byte {@code have} if the server honours Range; true if it resumed. */
    static boolean download(URI url, Path part, long have, Progress progress) throws WeightsException {
        HttpClient client = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(30)).build();
        HttpRequest.Builder rb = HttpRequest.newBuilder(url).GET().header("User-Agent", "clstyle");
        if (have > 0) {
            rb.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> resp;
        try {
            resp = client.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new WeightsException(url + ": cannot download (" + Io.describe(e) + ")");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new WeightsException(url + ": download interrupted");
        }
        int status = resp.statusCode();
        boolean append;
        long total = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
        if (status == 206 && have > 0) {
            Matcher m = CONTENT_RANGE.matcher(resp.headers().firstValue("Content-Range").orElse(""));
            if (!m.matches() || Long.parseLong(m.group(1)) != have) {
                close(resp);
                throw new WeightsException(url + ": the server answered the resume request with the wrong range ("
                        + resp.headers().firstValue("Content-Range").orElse("none") + "); delete " + part + " and fetch again");
            }
            append = true;
            total = m.group(3).equals("*") ? -1 : Long.parseLong(m.group(3));
        } else if (status == 200) {
            append = false; // no range support: start again
            have = 0;
        } else if (status == 416 && have > 0) {
            close(resp); // the part file is already complete; the hash check decides
            return true;
        } else {
            close(resp);
            throw new WeightsException(url + ": the server answered HTTP " + status);
        }
        long done = have;
        try (InputStream in = resp.body();
             OutputStream os = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                os.write(buf, 0, n);
                done += n;
                progress.update(done, total);
            }
        } catch (IOException e) {
            progress.finish();
            throw new WeightsException(url + ": download interrupted after " + done + " bytes (" + Io.describe(e)
                    + "); run fetch again to resume from " + part.getFileName());
        }
        progress.finish();
        if (total >= 0 && done != total) {
            throw new WeightsException(url + ": the download stopped at " + done + " of " + total
                    + " bytes; run fetch again to resume from " + part.getFileName());
        }
        return append;
    }

    /** A percentage line on a terminal, rewritten in place. */
    public static Progress consoleProgress(PrintWriter err, String name) {
        return new Progress() {
            int last = -1;

            @Override
            public void update(long done, long total) {
                int pct = total > 0 ? (int) (100 * done / total) : -1;
                if (pct != last || total <= 0 && done % (8 << 20) < (1 << 16)) {
                    last = pct;
                    err.print(String.format(Locale.ROOT, "\rdownloading %s: %s%.1f MB", name,
                            pct >= 0 ? pct + "% of " + String.format(Locale.ROOT, "%.1f MB, ", total / 1e6) : "", done / 1e6));
                    err.flush();
                }
            }

            @Override
            public void finish() {
                if (last != -1) {
                    err.println();
                }
            }
        };
    }

    static String checkHash(String h) {
        if (h == null) {
            throw new IllegalArgumentException("a SHA-256 is required to verify the download");
        }
        String l = h.strip().toLowerCase(Locale.ROOT);
        if (!l.matches("[0-9a-f]{8,64}")) {
            throw new IllegalArgumentException("SHA-256 '" + h + "' is not 8 to 64 hex digits");
        }
        return l;
    }

    private static long sizeOf(Path p) {
        try {
            return Files.isRegularFile(p) ? Files.size(p) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // Best effort: the message the caller raises matters more.
        }
    }

    private static void close(HttpResponse<InputStream> r) {
        try {
            r.body().close();
        } catch (IOException ignored) {
            // Nothing to save from a response we reject.
        }
    }
}
