package org.clstyle.serve;

import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.UploadedFile;
import io.javalin.http.staticfiles.Location;
import jakarta.servlet.MultipartConfigElement;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClException;
import org.clstyle.loss.Preset;
import org.clstyle.loss.Recipe;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.Stylizer;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;

/**
 * The local web studio behind {@code clstyle serve}: one page (static files from the jar) and the JSON
 * API it uses, documented in the README. Jobs run one at a time on the device, in submission order;
 * uploads are checked before queueing; every file the studio writes lies in one temporary folder per
 * studio session, deleted on {@link #close()}. Any refused request is {@code {"error": "one line"}} with
 * a 4xx status; an unexpected failure is a 500 with one line, never a stack trace.
 */
public final class Studio implements AutoCloseable {
    static {
        // Javalin and Jetty log through SLF4J (slf4j-simple): warnings only, no banner chatter.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel",
                System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    }

    private final StudioOptions options;
    private final Path sessionDir;
    private final VggWeights weights;
    private final Path weightsFile;
    private final Recipe defaults;
    private final DeviceQueue queue;
    private final Map<String, Job> jobs = new LinkedHashMap<>();
    private final AtomicInteger nextId = new AtomicInteger(1);
    private final ScheduledExecutorService heartbeat;
    private final Javalin app;
    private final MultipartConfigElement multipart;

    private Studio(StudioOptions options, Path sessionDir, VggWeights weights, Path weightsFile) {
        this.options = options;
        this.sessionDir = sessionDir;
        this.weights = weights;
        this.weightsFile = weightsFile;
        this.defaults = Recipe.defaultsFor(weights.preprocessing());
        this.queue = new DeviceQueue(weights, weightsFile, options.device());
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "clstyle-studio-heartbeat");
            t.setDaemon(true);
            return t;
        });
        this.multipart = new MultipartConfigElement(sessionDir.resolve("multipart").toString(), options.maxFileBytes(),
                options.maxRequestBytes(), (int) Math.min(Integer.MAX_VALUE, options.maxFileBytes()));
        this.app = Javalin.create(config -> {
            config.showJavalinBanner = false;
            config.startupWatcherEnabled = false;
            config.http.maxRequestSize = options.maxRequestBytes();
            config.staticFiles.add(sf -> {
                sf.hostedPath = "/";
                sf.directory = "/org/clstyle/serve/studio";
                sf.location = Location.CLASSPATH;
            });
        });
        routes();
    }

    /**
     * Loads the weights, makes the session folder and starts listening. Throws StylizeException (one line)
     * when the weights are missing or unreadable, or the address cannot be bound.
     */
    public static Studio start(StudioOptions options) throws StylizeException {
        try {
            ClDevice.select(options.device()); // a bad --device fails here, not in the first job
        } catch (IllegalArgumentException | ClException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        Path weightsFile = Stylizer.resolveWeights(options.weights());
        VggWeights w;
        try {
            w = VggWeights.load(weightsFile);
        } catch (WeightsException e) {
            throw new StylizeException(e.getMessage(), e);
        }
        // ImageIO caches streams in files under java.io.tmpdir by default; the studio keeps them in memory
        // so that nothing is written outside its session folder.
        ImageIO.setUseCache(false);
        Path dir;
        try {
            dir = Files.createTempDirectory("clstyle-studio-");
            Files.createDirectories(dir.resolve("multipart"));
        } catch (IOException e) {
            throw new StylizeException("cannot create the studio's temporary folder: " + e.getMessage(), e);
        }
        Studio s = new Studio(options, dir, w, weightsFile);
        try {
            s.app.start(options.host(), options.port());
        } catch (RuntimeException e) {
            s.close();
            Throwable c = e;
            while (c.getCause() != null) {
                c = c.getCause();
            }
            throw new StylizeException("--port " + options.port() + ": cannot listen on " + options.host() + ":"
                    + options.port() + " (" + (c.getMessage() == null ? c.getClass().getSimpleName() : c.getMessage())
                    + ")", e);
        }
        long hb = options.heartbeatMillis();
        s.heartbeat.scheduleAtFixedRate(s::beat, hb, hb, TimeUnit.MILLISECONDS);
        return s;
    }

    public int port() { return app.port(); }

    /** The page's address, e.g. http://127.0.0.1:8080/ */
    public String url() {
        String h = options.host().contains(":") && !options.host().startsWith("[") ? "[" + options.host() + "]"
                : options.host();
        if (h.equals("0.0.0.0") || h.equals("[::]")) {
            h = "127.0.0.1";
        }
        return "http://" + h + ":" + port() + "/";
    }

    /** The session's temporary folder (uploads, previews, results); deleted by {@link #close()}. */
    public Path sessionDir() { return sessionDir; }

    /** Open event streams over all jobs (for tests: closed clients must be dropped). */
    public int openStreams() {
        synchronized (jobs) {
            return jobs.values().stream().mapToInt(Job::sinkCount).sum();
        }
    }

    // ---- routes ----

    private void routes() {
        app.before(this::guard);
        app.get("/api/info", ctx -> json(ctx, 200, info()));
        app.get("/api/jobs", ctx -> {
            List<Object> list = new ArrayList<>();
            for (Job j : snapshotJobs()) {
                list.add(j.stateJson());
            }
            json(ctx, 200, Map.of("jobs", list));
        });
        app.post("/api/jobs", this::submit);
        app.get("/api/jobs/{id}", ctx -> json(ctx, 200, job(ctx).snapshotJson()));
        app.sse("/api/jobs/{id}/events", client -> {
            Job j = findJob(client.ctx().pathParam("id"));
            if (j == null) {
                client.sendEvent("error", Job.json(Map.of("error", "no job " + clipId(client.ctx().pathParam("id")))));
                client.close();
                return;
            }
            client.keepAlive();
            Job.EventSink sink = new Job.EventSink() {
                @Override
                public boolean send(String event, String data) {
                    if (client.terminated()) {
                        return false;
                    }
                    if (event.equals("heartbeat")) {
                        client.sendComment("heartbeat");
                    } else {
                        client.sendEvent(event, data);
                    }
                    return !client.terminated();
                }

                @Override
                public void close() {
                    client.close();
                }
            };
            client.onClose(() -> j.detach(sink));
            j.attach(sink);
        });
        app.post("/api/jobs/{id}/pause", ctx -> {
            Job j = job(ctx);
            j.pause(true);
            json(ctx, 200, j.stateJson());
        });
        app.post("/api/jobs/{id}/resume", ctx -> {
            Job j = job(ctx);
            j.pause(false);
            json(ctx, 200, j.stateJson());
        });
        app.post("/api/jobs/{id}/stop", ctx -> {
            Job j = job(ctx);
            if (!queue.cancel(j) && !j.requestStop() && !j.state().terminal()) {
                throw ApiError.conflict("job " + j.id + " is " + j.state().key() + ": cannot stop it");
            }
            json(ctx, 200, j.stateJson());
        });
        app.get("/api/jobs/{id}/preview.png", ctx -> {
            byte[] png = job(ctx).preview();
            if (png == null) {
                throw ApiError.notFound("job " + ctx.pathParam("id") + " has no preview yet");
            }
            ctx.header("Cache-Control", "no-store").contentType("image/png").result(png);
        });
        app.get("/api/jobs/{id}/result.png", ctx -> {
            Job j = job(ctx);
            if (!j.hasResult()) {
                throw ApiError.notFound("job " + j.id + " has no result yet (state: " + j.state().key() + ")");
            }
            if (ctx.queryParam("download") != null) {
                ctx.header("Content-Disposition", "attachment; filename=\"clstyle-" + j.id + ".png\"");
            }
            ctx.contentType("image/png").result(Files.readAllBytes(j.resultFile));
        });
        app.get("/api/jobs/{id}/input/{which}", ctx -> {
            Job j = job(ctx);
            String which = ctx.pathParam("which");
            Uploads.Stored s;
            if (which.equals("content")) {
                s = j.content;
            } else if (which.matches("style[0-9]{1,2}") && Integer.parseInt(which.substring(5)) < j.styles.size()) {
                s = j.styles.get(Integer.parseInt(which.substring(5)));
            } else {
                throw ApiError.notFound("job " + j.id + " has no input '" + JobSettings.clip(which) + "'");
            }
            ctx.contentType(s.file().toString().endsWith(".png") ? "image/png" : "image/jpeg")
                    .result(Files.readAllBytes(s.file()));
        });

        app.exception(ApiError.class, (e, ctx) -> json(ctx, e.status(), Map.of("error", e.getMessage())));
        app.exception(Exception.class, (e, ctx) -> {
            if (exceedsLimit(e)) { // Jetty's multipart parser: "Request exceeds maxRequestSize", "... exceeds max filesize"
                json(ctx, 413, Map.of("error", "request too large (limit " + Uploads.mib(options.maxRequestBytes())
                        + " per request, " + Uploads.mib(options.maxFileBytes()) + " per file)"));
            } else if (String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT).contains("too many parts")) {
                json(ctx, 400, Map.of("error", "too many form fields"));
            } else {
                json(ctx, 500, Map.of("error", "internal error: " + e.getClass().getSimpleName()
                        + (e.getMessage() == null ? "" : ": " + e.getMessage().lines().findFirst().orElse(""))));
            }
        });
        app.error(404, ctx -> {
            if (ctx.result() == null || !ctx.result().startsWith("{")) {
                json(ctx, 404, Map.of("error", "not found: " + JobSettings.clip(ctx.path())));
            }
        });
    }

    /**
     * Refuses what a local studio must not serve: requests whose Host is not this server's (DNS
     * rebinding), cross-site POSTs (an Origin that is not this server), and bodies over the limit.
     */
    private void guard(Context ctx) {
        String host = ctx.header("Host");
        if (options.loopback()) {
            if (host == null || !allowedHosts().contains(host.toLowerCase(Locale.ROOT))) {
                throw new ApiError(403, "this studio answers only to http://127.0.0.1:" + port() + "/ or localhost");
            }
        }
        String origin = ctx.header("Origin");
        if (origin != null && !ctx.method().name().equals("GET") && !ctx.method().name().equals("HEAD")) {
            String authority;
            try {
                authority = URI.create(origin).getRawAuthority();
            } catch (IllegalArgumentException e) {
                authority = null;
            }
            if (authority == null || host == null || !authority.equalsIgnoreCase(host)) {
                throw new ApiError(403, "cross-site request refused (Origin " + JobSettings.clip(origin) + ")");
            }
        }
        // Javalin's multipart settings are global to the JVM; this request attribute makes them this
        // studio's: parts spill to the session folder only (never java.io.tmpdir), within the limits.
        ctx.req().setAttribute("org.eclipse.jetty.multipartConfig", multipart);
        long len = ctx.contentLength();
        if (len > options.maxRequestBytes()) {
            ctx.header("Connection", "close");
            throw ApiError.tooLarge("request too large: " + Uploads.mib(len) + " (limit "
                    + Uploads.mib(options.maxRequestBytes()) + " per request)");
        }
    }

    private static boolean exceedsLimit(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && m.toLowerCase(Locale.ROOT).contains("exceeds max")) {
                return true;
            }
        }
        return false;
    }

    private Set<String> allowedHosts() {
        Set<String> s = new HashSet<>();
        int p = port();
        for (String h : List.of("127.0.0.1", "localhost", "[::1]", options.host().toLowerCase(Locale.ROOT))) {
            s.add(h + ":" + p);
        }
        return s;
    }

    private Map<String, Object> info() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("device", options.device());
        m.put("weights", weightsFile.getFileName().toString());
        m.put("preprocessing", weights.preprocessing().toString());
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("size", JobSettings.DEFAULT_SIZE);
        d.put("iterations", JobSettings.DEFAULT_ITERATIONS);
        d.put("optimizer", "lbfgs");
        d.put("contentWeight", defaults.content().weight());
        d.put("styleWeight", defaults.style().weight());
        d.put("tvWeight", defaults.tv().weight());
        d.put("styleScale", 1.0);
        d.put("originalColors", false);
        d.put("previewEvery", JobSettings.DEFAULT_PREVIEW_EVERY);
        d.put("preset", null);
        m.put("defaults", d);
        List<Map<String, Object>> presets = new ArrayList<>();
        for (Preset p : Preset.values()) {
            if (p.networkMismatch(weights.architecture().id(), weightsFile.getFileName()) != null) {
                continue; // the server's weights cannot run it
            }
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("name", p.key());
            e.put("description", p.description());
            e.put("optimizer", p.optimizer());
            e.put("init", p.init());
            presets.add(e);
        }
        m.put("presets", presets);
        Map<String, Object> l = new LinkedHashMap<>();
        l.put("maxFileBytes", options.maxFileBytes());
        l.put("maxRequestBytes", options.maxRequestBytes());
        l.put("maxPixels", options.maxPixels());
        l.put("maxSize", options.maxSize());
        l.put("maxIterations", options.maxIterations());
        l.put("maxStyles", options.maxStyles());
        m.put("limits", l);
        m.put("queue", Map.of("running", queue.running() == null ? "" : queue.running().id,
                "waiting", queue.waitingCount()));
        return m;
    }

    /** POST /api/jobs: multipart form with "content", one or more "style" files and the settings fields. */
    private void submit(Context ctx) throws IOException {
        String ct = ctx.contentType();
        if (ct == null || !ct.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
            throw ApiError.badRequest("send the images and settings as multipart/form-data (fields: content, style, ...)");
        }
        Set<String> known = new HashSet<>(JobSettings.FIELDS);
        known.addAll(List.of("content", "style", "inputsFrom"));
        for (String f : ctx.formParamMap().keySet()) {
            if (!known.contains(f)) {
                throw ApiError.badRequest("unknown field '" + JobSettings.clip(f) + "' (known: "
                        + String.join(", ", JobSettings.FIELDS) + ", content, style, inputsFrom)");
            }
        }
        for (String f : known) {
            if (!f.equals("style") && ctx.formParams(f).size() > 1) {
                throw ApiError.badRequest(f + ": given " + ctx.formParams(f).size() + " times");
            }
        }
        JobSettings settings = JobSettings.parse(ctx::formParam, options);
        if (settings.preset() != null) {
            String mismatch = Preset.parse("preset", settings.preset()).networkMismatch(weights.architecture().id(),
                    weightsFile.getFileName());
            if (mismatch != null) {
                throw ApiError.badRequest(mismatch);
            }
        }
        queue.checkRoom();
        UploadedFile contentFile = ctx.uploadedFile("content");
        List<UploadedFile> styleFiles = ctx.uploadedFiles("style");
        String from = ctx.formParam("inputsFrom");
        Job source = from == null || from.isBlank() ? null : findJob(from.trim());
        if (from != null && !from.isBlank() && source == null) {
            throw ApiError.badRequest("inputsFrom: no job '" + JobSettings.clip(from) + "' in this session");
        }
        if (contentFile == null && source == null) {
            throw ApiError.badRequest("content: choose a content image (PNG or JPEG)");
        }
        if (styleFiles.isEmpty() && source == null) {
            throw ApiError.badRequest("style: choose at least one style image (PNG or JPEG)");
        }
        if (styleFiles.size() > options.maxStyles()) {
            throw ApiError.badRequest("style: at most " + options.maxStyles() + " style images, got " + styleFiles.size());
        }
        String id = "j" + nextId.getAndIncrement();
        Path dir = sessionDir.resolve(id);
        Files.createDirectories(dir);
        try {
            Uploads.Stored content;
            if (contentFile != null) {
                try (InputStream in = contentFile.content()) {
                    content = Uploads.store(in, contentFile.filename(), "content", dir, "content", options);
                }
            } else {
                content = copy(source.content, dir, "content");
            }
            List<Uploads.Stored> styles = new ArrayList<>();
            if (!styleFiles.isEmpty()) {
                for (int i = 0; i < styleFiles.size(); i++) {
                    UploadedFile f = styleFiles.get(i);
                    try (InputStream in = f.content()) {
                        styles.add(Uploads.store(in, f.filename(), "style " + (i + 1), dir, "style" + i, options));
                    }
                }
            } else {
                for (int i = 0; i < source.styles.size(); i++) {
                    styles.add(copy(source.styles.get(i), dir, "style" + i));
                }
            }
            // The engine's own checks (sizes, option combinations) before queueing.
            try {
                settings.toStylize(content.file(), styles.stream().map(Uploads.Stored::file).toList(),
                        dir.resolve("result.png"), weightsFile, options.device());
            } catch (IllegalArgumentException e) {
                throw ApiError.badRequest(e.getMessage());
            }
            Job job = new Job(id, dir, settings, content, styles);
            synchronized (jobs) {
                jobs.put(id, job);
            }
            try {
                queue.submit(job);
            } catch (ApiError e) {
                synchronized (jobs) {
                    jobs.remove(id);
                }
                throw e;
            }
            prune();
            json(ctx, 202, job.stateJson());
        } catch (RuntimeException | IOException e) {
            boolean registered;
            synchronized (jobs) {
                registered = jobs.containsKey(id);
            }
            if (!registered) {
                deleteTree(dir);
            }
            throw e;
        }
    }

    private static Uploads.Stored copy(Uploads.Stored s, Path dir, String base) throws IOException {
        String name = s.file().getFileName().toString();
        Path to = dir.resolve(base + name.substring(name.lastIndexOf('.')));
        Files.copy(s.file(), to);
        return new Uploads.Stored(to, s.name(), s.width(), s.height());
    }

    /** Keeps at most historyLimit finished jobs; the oldest finished ones lose their files first. */
    private void prune() {
        List<Job> drop = new ArrayList<>();
        synchronized (jobs) {
            List<Job> done = jobs.values().stream().filter(j -> j.state().terminal()).toList();
            for (int i = 0; i < done.size() - options.historyLimit(); i++) {
                drop.add(done.get(i));
                jobs.remove(done.get(i).id);
            }
        }
        for (Job j : drop) {
            deleteTree(j.dir);
        }
    }

    private void beat() {
        for (Job j : snapshotJobs()) {
            if (!j.state().terminal()) {
                j.heartbeat();
            }
        }
    }

    private List<Job> snapshotJobs() {
        synchronized (jobs) {
            List<Job> l = new ArrayList<>(jobs.values());
            java.util.Collections.reverse(l); // newest first
            return l;
        }
    }

    private Job findJob(String id) {
        synchronized (jobs) {
            return jobs.get(id);
        }
    }

    private Job job(Context ctx) {
        Job j = findJob(ctx.pathParam("id"));
        if (j == null) {
            throw ApiError.notFound("no job '" + clipId(ctx.pathParam("id")) + "' in this session");
        }
        return j;
    }

    private static String clipId(String id) {
        return JobSettings.clip(id);
    }

    private static void json(Context ctx, int status, Object body) {
        ctx.status(status).contentType("application/json").result(Job.json(body));
    }

    /** Stops the server and the device queue (the running job is stopped) and deletes the session folder. */
    @Override
    public void close() {
        heartbeat.shutdownNow();
        try {
            app.stop();
        } finally {
            queue.close();
            deleteTree(sessionDir);
        }
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            // best effort: a file still open elsewhere stays until the OS cleans its temp folder
        }
    }
}
