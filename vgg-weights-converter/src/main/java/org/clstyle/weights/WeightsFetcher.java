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
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.clstyle.io.CacheDir;

/**
 * Downloads a VGG16 or VGG19 weights file into the cache, resuming a partial download ({@code NAME.part}) with an
 * HTTP Range request, verifies its SHA-256, converts it, and keeps only the converted file unless asked otherwise.
 */
public final class WeightsFetcher {
    /**
     * A file to fetch. {@code sha256} is the expected hash or a prefix of it (at least 8 hex digits);
     * {@code preprocessing} is what the file implies, or null to let the converter decide from its content;
     * {@code network} is the network the file must hold, or null to take whichever the converter detects.
     */
    public record Source(String id, URI url, String fileName, String sha256, Preprocessing preprocessing, String outputName,
                         VggArchitecture network) {
        public Source {
            sha256 = checkHash(sha256);
        }
    }

    /**
     * torchvision's VGG19 (548 MB). Only the 8 hex digits of the SHA-256 that torch.hub puts in the file name
     * are known here, so the check is on that prefix.
     */
    public static final Source TORCHVISION = new Source("torchvision", URI.create("https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
            "vgg19-dcbb9e9d.pth", WeightsConverter.TORCHVISION_SHA256_PREFIX, Preprocessing.TORCHVISION, "vgg19-torchvision.safetensors",
            VggArchitecture.VGG19);

    /** The Caffe VGG19 converted to PyTorch by Justin Johnson (used by neural-style-pt); same prefix convention. */
    public static final Source CAFFE = new Source("caffe", URI.create("https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth"),
            "vgg19-d01eb7cb.pth", WeightsConverter.CAFFE_PTH_SHA256_PREFIX, Preprocessing.CAFFE, "vgg19-caffe.safetensors",
            VggArchitecture.VGG19);

    /** torchvision's VGG16 (528 MB); prefix check as for VGG19. */
    public static final Source TORCHVISION_VGG16 = new Source("torchvision",
            URI.create("https://download.pytorch.org/models/vgg16-397923af.pth"), "vgg16-397923af.pth",
            WeightsConverter.VGG16_TORCHVISION_SHA256_PREFIX, Preprocessing.TORCHVISION, "vgg16-torchvision.safetensors",
            VggArchitecture.VGG16);

    /** The Caffe VGG16 (VGG_ILSVRC_16_layers) converted to PyTorch by Justin Johnson (pytorch-vgg). */
    public static final Source CAFFE_VGG16 = new Source("caffe", URI.create("https://web.eecs.umich.edu/~justincj/models/vgg16-00b39a1b.pth"),
            "vgg16-00b39a1b.pth", WeightsConverter.VGG16_CAFFE_PTH_SHA256_PREFIX, Preprocessing.CAFFE, "vgg16-caffe.safetensors",
            VggArchitecture.VGG16);

    /** Every known source, in the order the cache is searched for each network (torchvision's first). */
    public static final List<Source> KNOWN = List.of(TORCHVISION, CAFFE, TORCHVISION_VGG16, CAFFE_VGG16);

    /** The known source {@code id} (torchvision or caffe, any case) of {@code network}, or null. */
    public static Source known(VggArchitecture network, String id) {
        for (Source s : KNOWN) {
            if (s.network() == network && s.id().equalsIgnoreCase(id)) {
                return s;
            }
        }
        return null;
    }

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

    /** What a fetch did, and the network the converted file holds. */
    public record Fetched(Path weights, VggArchitecture network, boolean downloaded, boolean resumed, long resumedFrom, Path keptSource) {
    }

    private WeightsFetcher() {
    }

    /** A custom URL: the name comes from the URL's last path segment; the network is whatever the file holds. */
    public static Source custom(URI url, String sha256) {
        return custom(url, sha256, null);
    }

    /** A custom URL whose file must hold {@code network} (null: any). */
    public static Source custom(URI url, String sha256, VggArchitecture network) {
        String path = url.getPath() == null ? "" : url.getPath();
        String name = path.substring(path.lastIndexOf('/') + 1);
        if (name.isEmpty() || !name.matches("[A-Za-z0-9._-]+")) {
            name = (network == null ? "vgg" : network.id()) + "-download.bin";
        }
        String stem = name.contains(".") ? name.substring(0, name.lastIndexOf('.')) : name;
        return new Source("url", url, name, sha256, null, stem + ".safetensors", network);
    }

    /** The user cache ({@link CacheDir#root()}). */
    public static Path defaultCacheDir() {
        return CacheDir.root();
    }

    /**
     * The converted weights of {@code network} in the user cache ({@link #defaultCacheDir()}), as {@code weights fetch
     * --network} leaves them: torchvision's file, else the Caffe one; null when neither is there.
     */
    public static Path cachedFile(VggArchitecture network) {
        return cachedFile(network, defaultCacheDir());
    }

    /** As {@link #cachedFile(VggArchitecture)}, in {@code cacheDir}. */
    public static Path cachedFile(VggArchitecture network, Path cacheDir) {
        for (Source s : KNOWN) {
            if (s.network() == network) {
                Path p = cacheDir.resolve(s.outputName());
                if (Files.isRegularFile(p)) {
                    return p;
                }
            }
        }
        return null;
    }

    /** The converted weights the stylize commands use when no --weights is given: VGG19, torchvision's, else Caffe's. */
    public static Optional<Path> cachedDefault(Path cacheDir) {
        return Optional.ofNullable(cachedFile(VggArchitecture.VGG19, cacheDir));
    }

    /** The one line to show when no VGG19 weights are available. */
    public static String missingWeightsMessage(Path cacheDir) {
        return missingWeightsMessage(VggArchitecture.VGG19, cacheDir);
    }

    /** The one line to show when no weights of {@code network} are available. */
    public static String missingWeightsMessage(VggArchitecture network, Path cacheDir) {
        String fetch = network == VggArchitecture.VGG19 ? "`clstyle weights fetch` (downloads torchvision's 548 MB file once)"
                : "`clstyle weights fetch --network " + network.id() + "` (downloads torchvision's 528 MB file once)";
        return "no " + network.name() + " weights in " + cacheDir + ": run " + fetch
                + ", or pass --weights FILE.safetensors made by `clstyle weights convert`";
    }

    /**
     * Fetches {@code s} into {@code cacheDir}. An existing converted file is reused unless {@code force}. An
     * interrupted download leaves NAME.part for the next run to resume; a download with the wrong SHA-256 is removed.
     */
    public static Fetched fetch(Source s, Path cacheDir, boolean keepSource, boolean force, Progress progress) throws WeightsException {
        Path out = cacheDir.resolve(s.outputName());
        if (!force && Files.isRegularFile(out)) {
            VggWeights cached = VggWeights.load(out); // still valid?
            if (s.network() != null && cached.architecture() != s.network()) {
                throw new WeightsException(out + ": holds " + cached.architecture().id() + ", not " + s.network().id()
                        + "; fetch again with --force to replace it");
            }
            return new Fetched(out, cached.architecture(), false, false, 0, null);
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
        WeightsConverter.Result r;
        try {
            r = WeightsConverter.read(source, s.preprocessing());
            if (s.network() != null && r.architecture() != s.network()) {
                throw new WeightsException(s.url() + ": holds " + r.architecture().id() + ", not the " + s.network().id()
                        + " asked for; nothing was written");
            }
            r.weights().save(out);
        } finally {
            if (!keepSource) {
                delete(source);
            }
        }
        return new Fetched(out, r.architecture(), downloaded, resumed, resumed ? from : 0, keepSource ? source : null);
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
