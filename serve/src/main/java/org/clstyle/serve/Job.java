package org.clstyle.serve;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArraySet;
import javax.imageio.ImageIO;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;
import org.clstyle.transfer.ProgressListener;
import org.clstyle.transfer.StylizeException;
import org.clstyle.transfer.StylizeSettings;
import org.clstyle.transfer.Stylizer;
import org.clstyle.weights.VggWeights;

/**
 * One studio run: its uploads and settings, its state (queued, running, paused, finished, stopped,
 * cancelled, failed), the weighted loss terms per iteration, the latest preview image, and the event
 * streams watching it. Every change is pushed to those streams as a Server-Sent Event.
 */
final class Job {
    enum State {
        QUEUED, RUNNING, PAUSED, STOPPING, FINISHED, STOPPED, CANCELLED, FAILED;

        boolean terminal() { return this == FINISHED || this == STOPPED || this == CANCELLED || this == FAILED; }

        String key() { return name().toLowerCase(Locale.ROOT); }
    }

    /** Where events go: one open event stream. {@code send} returns false once the client is gone. */
    interface EventSink {
        boolean send(String event, String json);

        void close();
    }

    static final ObjectMapper JSON = new ObjectMapper();

    final String id;
    final Instant created = Instant.now();
    final Path dir;
    final JobSettings settings;
    final Uploads.Stored content;
    final List<Uploads.Stored> styles;
    final Path resultFile;

    private final Set<EventSink> sinks = new CopyOnWriteArraySet<>();
    private State state = State.QUEUED;
    private int position;
    private int iteration, total, width, height;
    private final List<double[]> losses = new ArrayList<>(); // {iteration, content, style, tv, total}, weighted
    private byte[] preview;
    private int previewIteration;
    private boolean hasResult;
    private String message;
    private final List<String> notes = new ArrayList<>();
    private long startNanos, endNanos, pausedNanos, pauseStart;
    private volatile Stylizer stylizer;
    private volatile boolean stopBeforeStart;

    Job(String id, Path dir, JobSettings settings, Uploads.Stored content, List<Uploads.Stored> styles) {
        this.id = id;
        this.dir = dir;
        this.settings = settings;
        this.content = content;
        this.styles = List.copyOf(styles);
        this.resultFile = dir.resolve("result.png");
        this.total = settings.iterations();
    }

    synchronized State state() { return state; }

    synchronized boolean hasResult() { return hasResult; }

    synchronized byte[] preview() { return preview; }

    synchronized int sinkCount() { return sinks.size(); }

    /** Queue position (1 = next); pushed when it changes. */
    synchronized void setPosition(int p) {
        if (state == State.QUEUED && p != position) {
            position = p;
            emit("state", stateJson());
        }
    }

    // ---- control (from request threads) ----

    /** Pauses or resumes a running job; a 409 for any other state. */
    synchronized void pause(boolean pause) {
        Stylizer st = stylizer;
        if (pause && state == State.RUNNING && st != null) {
            st.setPaused(true);
            pauseStart = System.nanoTime();
            state = State.PAUSED;
        } else if (!pause && state == State.PAUSED && st != null) {
            pausedNanos += System.nanoTime() - pauseStart;
            st.setPaused(false);
            state = State.RUNNING;
        } else {
            throw ApiError.conflict("job " + id + " is " + state.key() + ": cannot " + (pause ? "pause" : "resume") + " it");
        }
        emit("state", stateJson());
    }

    /** Asks a running or paused job to stop (it keeps its last image). Returns false if not running. */
    synchronized boolean requestStop() {
        if (state == State.RUNNING || state == State.PAUSED) {
            if (state == State.PAUSED) {
                pausedNanos += System.nanoTime() - pauseStart;
            }
            state = State.STOPPING;
            Stylizer st = stylizer;
            if (st != null) {
                st.requestStop();
            } else {
                stopBeforeStart = true;
            }
            emit("state", stateJson());
            return true;
        }
        return state == State.STOPPING;
    }

    /** A queued job taken off the queue. */
    synchronized void cancelled() {
        state = State.CANCELLED;
        position = 0;
        endNanos = System.nanoTime();
        emit("state", stateJson());
        closeSinks();
    }

    // ---- the run (on the device's worker thread) ----

    /**
     * Marks a job the worker has just taken off the queue as running; false when it is no longer queued.
     * The queue calls it under its own lock, in the same step as taking the job off: so a stop request
     * finds the job either waiting (cancelled) or running (stopped), never in between.
     */
    synchronized boolean begin() {
        if (state != State.QUEUED) {
            return false;
        }
        state = State.RUNNING;
        position = 0;
        startNanos = System.nanoTime();
        emit("state", stateJson());
        return true;
    }

    /** Runs the job on this thread after {@link #begin}; every outcome, including a bug, ends in a terminal state. */
    void run(VggWeights weights, Path weightsFile, String device) {
        StylizeSettings s;
        Recipe recipe;
        try {
            List<Path> stylePaths = styles.stream().map(Uploads.Stored::file).toList();
            s = settings.toStylize(content.file(), stylePaths, resultFile, weightsFile, device);
            recipe = Stylizer.resolveRecipe(s, weights);
        } catch (IllegalArgumentException e) {
            fail(e.getMessage());
            return;
        }
        Stylizer st = new Stylizer(s, new Listener(recipe));
        stylizer = st;
        synchronized (this) {
            if (state == State.STOPPING || stopBeforeStart) {
                st.requestStop();
            }
        }
        try {
            Stylizer.Result r = st.run();
            synchronized (this) {
                hasResult = true;
                width = r.image().width();
                height = r.image().height();
                iteration = r.iterations();
                endNanos = System.nanoTime();
                state = r.interrupted() ? State.STOPPED : State.FINISHED;
                if (r.stopReason() != null) {
                    message = r.stopReason();
                }
                emit("state", stateJson());
                closeSinks();
            }
        } catch (StylizeException e) {
            synchronized (this) {
                if (state == State.STOPPING) { // stopped before its first iteration: nothing to keep
                    state = State.STOPPED;
                    message = "stopped before the first iteration";
                    endNanos = System.nanoTime();
                    emit("state", stateJson());
                    closeSinks();
                    return;
                }
            }
            fail(clean(e.getMessage()));
        } catch (RuntimeException | OutOfMemoryError e) {
            fail("internal error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + clean(e.getMessage())));
        } finally {
            stylizer = null;
        }
    }

    private synchronized void fail(String why) {
        state = State.FAILED;
        message = why;
        endNanos = System.nanoTime();
        emit("state", stateJson());
        closeSinks();
    }

    /** Messages name the studio's own files by their folder; drop it, leaving the file name. */
    private String clean(String m) {
        if (m == null) {
            return "failed";
        }
        String line = m.lines().findFirst().orElse("failed");
        return line.replace(dir.toString() + java.io.File.separator, "").replace(dir.toString(), "");
    }

    private final class Listener implements ProgressListener {
        private final Recipe recipe;

        Listener(Recipe recipe) {
            this.recipe = recipe;
        }

        @Override
        public int previewEvery() { return settings.previewEvery(); }

        @Override
        public void onScaleStart(int scale, int scales, int w, int h, int iterations) {
            synchronized (Job.this) {
                width = w;
                height = h;
                total = scales * iterations;
            }
        }

        @Override
        public void onIteration(Progress p) {
            double[] row = weighted(p.iteration(), p.loss());
            synchronized (Job.this) {
                iteration = p.iteration();
                total = p.totalIterations();
                losses.add(row);
                Map<String, Object> m = timing();
                m.put("iteration", iteration);
                m.put("total", total);
                m.put("loss", lossMap(row));
                emit("progress", m);
            }
        }

        @Override
        public void onPreview(int it, FloatImage image) {
            byte[] png = png(image);
            synchronized (Job.this) {
                preview = png;
                previewIteration = it;
                emit("preview", Map.of("iteration", it, "url", "/api/jobs/" + id + "/preview.png?i=" + it));
            }
        }

        @Override
        public void onNote(String note) {
            synchronized (Job.this) {
                String n = clean(note);
                notes.add(n);
                emit("note", Map.of("note", n));
            }
        }

        private double[] weighted(int it, LossValues v) {
            double c = 0, st = 0;
            for (Map.Entry<String, Double> e : v.content().entrySet()) {
                c += recipe.content().layers().getOrDefault(e.getKey(), 0.0) * e.getValue();
            }
            for (Map.Entry<String, Double> e : v.style().entrySet()) {
                st += recipe.style().layers().getOrDefault(e.getKey(), 0.0) * e.getValue();
            }
            return new double[] {it, recipe.content().weight() * c, recipe.style().weight() * st,
                    recipe.tv().weight() * v.tv(), v.total()};
        }
    }

    static byte[] png(FloatImage image) {
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ImageIO.write(Images.toBuffered(image), "png", out);
            return out.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("PNG encoding failed: " + e.getMessage(), e);
        }
    }

    // ---- JSON views ----

    private static Map<String, Object> lossMap(double[] row) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("content", finite(row[1]));
        m.put("style", finite(row[2]));
        m.put("tv", finite(row[3]));
        m.put("total", finite(row[4]));
        return m;
    }

    private static Double finite(double d) {
        return Double.isFinite(d) ? d : null;
    }

    /** Seconds run (pauses excluded), iterations per second and the estimated seconds left. */
    private Map<String, Object> timing() {
        Map<String, Object> m = new LinkedHashMap<>();
        if (startNanos == 0) {
            return m;
        }
        long now = endNanos != 0 ? endNanos : System.nanoTime();
        long paused = pausedNanos + (state == State.PAUSED ? now - pauseStart : 0);
        double active = Math.max(1e-9, (now - startNanos - paused) / 1e9);
        m.put("seconds", active);
        if (iteration > 0) {
            double speed = iteration / active;
            m.put("speed", speed);
            m.put("eta", state.terminal() ? 0.0 : (total - iteration) / speed);
        }
        return m;
    }

    /** The job's state and counters, the payload of "state" events and of GET /api/jobs. */
    synchronized Map<String, Object> stateJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("state", state.key());
        m.put("position", position);
        m.put("iteration", iteration);
        m.put("total", total);
        m.put("width", width);
        m.put("height", height);
        m.putAll(timing());
        m.put("message", message);
        m.put("created", created.toString());
        m.put("settings", settings.toMap());
        Map<String, Object> inputs = new LinkedHashMap<>();
        inputs.put("content", Map.of("name", content.name(), "url", "/api/jobs/" + id + "/input/content",
                "width", content.width(), "height", content.height()));
        List<Object> st = new ArrayList<>();
        for (int i = 0; i < styles.size(); i++) {
            Uploads.Stored s = styles.get(i);
            st.add(Map.of("name", s.name(), "url", "/api/jobs/" + id + "/input/style" + i, "width", s.width(),
                    "height", s.height()));
        }
        inputs.put("styles", st);
        m.put("inputs", inputs);
        m.put("preview", preview == null ? null : "/api/jobs/" + id + "/preview.png?i=" + previewIteration);
        m.put("result", hasResult ? "/api/jobs/" + id + "/result.png" : null);
        if (!losses.isEmpty()) {
            m.put("loss", lossMap(losses.get(losses.size() - 1)));
        }
        return m;
    }

    /** The state plus every loss row and the notes: what a newly connected page needs to draw the job. */
    synchronized Map<String, Object> snapshotJson() {
        Map<String, Object> m = stateJson();
        List<double[]> rows = new ArrayList<>();
        for (double[] r : losses) {
            rows.add(new double[] {r[0], nz(r[1]), nz(r[2]), nz(r[3]), nz(r[4])});
        }
        m.put("losses", rows);
        m.put("notes", List.copyOf(notes));
        return m;
    }

    private static double nz(double d) {
        return Double.isFinite(d) ? d : 0;
    }

    // ---- event streams ----

    /** Adds a stream: it first gets a "snapshot"; a finished job's stream is closed right after it. */
    synchronized void attach(EventSink sink) {
        if (!sink.send("snapshot", json(snapshotJson()))) {
            return;
        }
        if (state.terminal()) {
            sink.close();
        } else {
            sinks.add(sink);
        }
    }

    synchronized void detach(EventSink sink) {
        sinks.remove(sink);
    }

    /** A comment line to every stream, so that closed connections are noticed and dropped. */
    synchronized void heartbeat() {
        emitRaw("heartbeat", "{}");
    }

    private void emit(String event, Object payload) {
        emitRaw(event, json(payload));
    }

    private void emitRaw(String event, String json) {
        for (EventSink s : sinks) {
            if (!s.send(event, json)) {
                sinks.remove(s);
            }
        }
    }

    private void closeSinks() {
        for (EventSink s : sinks) {
            s.close();
        }
        sinks.clear();
    }

    static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
