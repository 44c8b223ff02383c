package org.clstyle.cli;

import java.io.PrintWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsConverter;
import org.clstyle.weights.WeightsException;
import org.clstyle.weights.WeightsFetcher;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code clstyle weights convert|info|fetch}: VGG16 or VGG19 weights from any published file to one safetensors file. */
@Command(name = "weights", mixinStandardHelpOptions = true,
        description = "Convert, inspect and download VGG16 and VGG19 weights (torchvision/legacy .pth, .caffemodel, Keras .h5, safetensors).",
        subcommands = {WeightsCommand.Convert.class, WeightsCommand.Info.class, WeightsCommand.Fetch.class})
public final class WeightsCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** {@code clstyle weights} without a subcommand: the usage on stderr, exit 2. */
    @Override
    public Integer call() {
        spec.commandLine().usage(spec.commandLine().getErr());
        return 2;
    }

    /** "VGG16 (13 convolutions)". */
    static String describe(VggArchitecture a) {
        return a.name() + " (" + a.convLayers().size() + " convolutions)";
    }

    static VggArchitecture network(String name) {
        VggArchitecture a = VggArchitecture.byId(name);
        if (a == null) {
            throw new UserError("--network must be vgg16 or vgg19, not '" + name + "'");
        }
        return a;
    }

    static Preprocessing preprocessing(String name) {
        if (name == null) {
            return null;
        }
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "torchvision" -> Preprocessing.TORCHVISION;
            case "caffe" -> Preprocessing.CAFFE;
            default -> throw new UserError("--preprocessing must be torchvision or caffe, not '" + name + "'");
        };
    }

    @Command(name = "convert", mixinStandardHelpOptions = true,
            description = "Convert a VGG16 or VGG19 weights file (format and network recognised by content) to clstyle's safetensors file.")
    static final class Convert implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "IN", description = "the source file")
        Path in;

        @Option(names = {"-o", "--output"}, required = true, paramLabel = "OUT.safetensors", description = "the converted file")
        Path out;

        @Option(names = "--preprocessing", paramLabel = "torchvision|caffe",
                description = "override the preprocessing the source implies (for a file whose origin its content does not show)")
        String preprocessing;

        @Override
        public Integer call() {
            Preprocessing p = preprocessing(preprocessing);
            try {
                if (Files.exists(out) && Files.exists(in) && Files.isSameFile(in, out)) {
                    throw new UserError("-o " + out + " is the same file as IN " + in
                            + "; converting over it would destroy the source: choose another output file");
                }
            } catch (java.io.IOException e) {
                // cannot tell: the converter reports unreadable or unwritable files itself
            }
            try {
                WeightsConverter.Result r = WeightsConverter.convert(in, out, p);
                PrintWriter o = spec.commandLine().getOut();
                o.printf("converted %s (%s) -> %s%n", in, r.sourceFormat(), out);
                o.printf("network: %s%n", describe(r.architecture()));
                o.printf("preprocessing: %s (%s)%n", r.weights().preprocessing().describe(), r.preprocessingReason());
                return 0;
            } catch (WeightsException e) {
                throw new UserError(e.getMessage());
            }
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true,
            description = "Show the layers, shapes, preprocessing and hashes of a weights file (converted or not).")
    static final class Info implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Parameters(index = "0", paramLabel = "FILE")
        Path file;

        @Override
        public Integer call() {
            PrintWriter o = spec.commandLine().getOut();
            try {
                VggWeights w;
                String note;
                try {
                    w = VggWeights.load(file);
                    note = "converted clstyle file";
                } catch (WeightsException notConverted) {
                    if (!Files.isRegularFile(file)) {
                        throw notConverted;
                    }
                    WeightsConverter.Result r = WeightsConverter.read(file, null);
                    w = r.weights();
                    note = "not converted (" + r.sourceFormat() + "); preprocessing from " + r.preprocessingReason();
                }
                o.printf("file           %s%n", file);
                o.printf("kind           %s%n", note);
                o.printf("network        %s%n", describe(w.architecture()));
                o.printf("sha256         %s%n", sha256(file));
                var m = w.metadata();
                o.printf("source         %s (%s), sha256 %s%n", m.get("source_file"), m.get("source_format"), m.get("source_sha256"));
                o.printf("preprocessing  %s%n", w.preprocessing().describe());
                o.printf("width          %s%n", w.isFullWidth() ? "full " + w.architecture().name() : "reduced");
                long params = 0;
                for (String c : w.architecture().convLayers()) {
                    int co = w.outChannels(c), ci = w.inChannels(c);
                    params += (long) co * ci * 9 + co;
                    o.printf("  %-8s weight [%d, %d, 3, 3]  bias [%d]%n", c, co, ci, co);
                }
                o.printf("parameters     %,d (%.1f MB as float32)%n", params, params * 4 / 1e6);
                return 0;
            } catch (WeightsException e) {
                throw new UserError(e.getMessage());
            }
        }

        private static String sha256(Path f) throws WeightsException {
            try (var in = Files.newInputStream(f)) {
                var md = java.security.MessageDigest.getInstance("SHA-256");
                byte[] buf = new byte[1 << 20];
                for (int n; (n = in.read(buf)) > 0; ) {
                    md.update(buf, 0, n);
                }
                return java.util.HexFormat.of().formatHex(md.digest());
            } catch (java.io.IOException | java.security.NoSuchAlgorithmException e) {
                throw new WeightsException(f + ": cannot read (" + e.getMessage() + ")");
            }
        }
    }

    @Command(name = "fetch", mixinStandardHelpOptions = true,
            description = "Download VGG19 or VGG16 weights into the cache (resuming an interrupted download), verify the SHA-256 and convert.")
    static final class Fetch implements Callable<Integer> {
        @Spec
        CommandSpec spec;

        @Option(names = "--network", paramLabel = "vgg16|vgg19",
                description = "which network to fetch (default vgg19); with --url, the network the file must hold (default: any)")
        String network;

        @Option(names = "--source", paramLabel = "torchvision|caffe", defaultValue = "torchvision",
                description = "torchvision: vgg19-dcbb9e9d.pth or vgg16-397923af.pth from download.pytorch.org (RGB, ImageNet mean/std);"
                        + " caffe: vgg19-d01eb7cb.pth or vgg16-00b39a1b.pth, the Caffe VGG converted by J. Johnson (BGR, 0..255)."
                        + " Default: ${DEFAULT-VALUE}")
        String source;

        @Option(names = "--url", paramLabel = "URL", description = "download this file instead (needs --sha256)")
        String url;

        @Option(names = "--sha256", paramLabel = "HEX", description = "expected SHA-256 of the download (for --url)")
        String sha256;

        @Option(names = "--cache-dir", paramLabel = "DIR",
                description = "where to keep the weights (default: $CLSTYLE_CACHE_DIR, else $XDG_CACHE_HOME/clstyle, else ~/.cache/clstyle)")
        Path cacheDir;

        @Option(names = "--keep-source", description = "keep the downloaded original beside the converted file")
        boolean keepSource;

        @Option(names = "--force", description = "download and convert again even if the converted file exists")
        boolean force;

        @Option(names = {"-q", "--quiet"}, description = "no progress line")
        boolean quiet;

        @Override
        public Integer call() {
            WeightsFetcher.Source s;
            if (url != null) {
                if (sha256 == null) {
                    throw new UserError("--url needs --sha256 HEX (the file's SHA-256, to verify the download)");
                }
                URI u;
                try {
                    u = new URI(url);
                } catch (URISyntaxException e) {
                    throw new UserError("--url '" + url + "' is not a URL");
                }
                if (!"http".equals(u.getScheme()) && !"https".equals(u.getScheme())) {
                    throw new UserError("--url must be an http or https URL, not '" + url + "'");
                }
                VggArchitecture wanted = network == null ? null : network(network);
                try {
                    s = WeightsFetcher.custom(u, sha256, wanted);
                } catch (IllegalArgumentException e) {
                    throw new UserError("--sha256: " + e.getMessage());
                }
            } else {
                if (sha256 != null) {
                    throw new UserError("--sha256 goes with --url; the known sources carry their own");
                }
                VggArchitecture a = network == null ? VggArchitecture.VGG19 : network(network);
                s = WeightsFetcher.known(a, source);
                if (s == null) {
                    throw new UserError("--source must be torchvision or caffe, not '" + source + "'");
                }
            }
            Path dir = cacheDir != null ? cacheDir : WeightsFetcher.defaultCacheDir();
            if (Files.exists(dir) && !Files.isDirectory(dir)) {
                throw new UserError((cacheDir != null ? "--cache-dir " : "the cache directory ") + dir
                        + " exists and is not a directory" + (cacheDir != null ? "" : " (set CLSTYLE_CACHE_DIR or pass --cache-dir)"));
            }
            PrintWriter err = spec.commandLine().getErr();
            WeightsFetcher.Progress progress = quiet || System.console() == null ? WeightsFetcher.Progress.NONE
                    : WeightsFetcher.consoleProgress(err, s.fileName());
            try {
                WeightsFetcher.Fetched f = WeightsFetcher.fetch(s, dir, keepSource, force, progress);
                PrintWriter o = spec.commandLine().getOut();
                if (!f.downloaded()) {
                    o.printf("already fetched: %s, %s (use --force to download again)%n", f.weights(), describe(f.network()));
                } else {
                    o.printf("fetched %s%s, SHA-256 verified, converted to %s, %s%n", s.url(),
                            f.resumed() ? " (resumed from byte " + f.resumedFrom() + ")" : "", f.weights(), describe(f.network()));
                    if (f.keptSource() != null) {
                        o.printf("kept the original: %s%n", f.keptSource());
                    }
                }
                return 0;
            } catch (WeightsException e) {
                String m = e.getMessage();
                if (m != null && m.startsWith(s.url().toString()) && !m.contains("SHA-256")) {
                    // No network (or the server failed): say how to do it by hand.
                    m += "; without network here, download " + s.url() + " on another machine, copy it here and run"
                            + " `clstyle weights convert " + s.fileName() + " -o " + dir.resolve(s.outputName()) + "`"
                            + " (README: Getting weights)";
                }
                throw new UserError(m);
            }
        }
    }
}
