package org.clstyle.transfer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.clstyle.io.AtomicFile;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;

/**
 * --log-json: one JSON object per line per iteration, written (atomically, at the end of the run, also
 * a stopped or failed one) to the given file. Each line holds:
 * <pre>
 * {"iteration": 12, "scale": 1, "width": 256, "height": 256, "time_s": 3.41,
 *  "total": 1.2e5,                       // the loss of the iteration's last evaluation
 *  "content": {"relu4_2": {"raw": r, "weighted": content.weight * w_l * r}},
 *  "style": {"relu1_1": {"raw": r, "weighted": style.weight * w_l * r}, ...},
 *  "tv": {"raw": r, "weighted": tv.weight * r},
 *  "grad_norm": |d total / d x|_2 of that evaluation,
 *  "step_norm": |x after - x before|_2 of the iteration (after clamping), "lr": the optimiser's rate,
 *  "augment": {"rotate": deg, "zoom": z, "shift_x": px, "shift_y": px}}   // only with --augment
 * </pre>
 * With augmentation the terms are those of the augmented view the step used.
 */
final class IterationLog {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final Path file;
    private final Recipe recipe;
    private final StringBuilder lines = new StringBuilder();

    private IterationLog(Path file, Recipe recipe) {
        this.file = file;
        this.recipe = recipe;
    }

    /** A log for {@code file}, failing early (one line) if its folder does not exist or is not writable. */
    static IterationLog open(Path file, Recipe recipe) throws StylizeException {
        Path dir = file.toAbsolutePath().getParent();
        if (Files.isDirectory(file)) {
            throw new StylizeException("--log-json " + file + ": is a directory");
        }
        if (dir == null || !Files.isDirectory(dir)) {
            throw new StylizeException("--log-json " + file + ": no such directory " + dir);
        }
        if (!Files.isWritable(dir)) {
            throw new StylizeException("--log-json " + file + ": directory " + dir + " is not writable");
        }
        return new IterationLog(file, recipe);
    }

    void add(int scale, int w, int h, int iteration, double timeS, LossValues v, double gradNorm, double stepNorm,
            double lr, double[] view) {
        ObjectNode o = JSON.createObjectNode();
        o.put("iteration", iteration);
        o.put("scale", scale);
        o.put("width", w);
        o.put("height", h);
        o.put("time_s", timeS);
        o.put("total", v.total());
        terms(o.putObject("content"), v.content(), recipe.content().weight(), recipe.content().layers());
        terms(o.putObject("style"), v.style(), recipe.style().weight(), recipe.style().layers());
        ObjectNode tv = o.putObject("tv");
        tv.put("raw", v.tv());
        tv.put("weighted", recipe.tv().weight() * v.tv());
        o.put("grad_norm", gradNorm);
        o.put("step_norm", stepNorm);
        o.put("lr", lr);
        if (view != null) {
            ObjectNode a = o.putObject("augment");
            a.put("rotate", view[0]);
            a.put("zoom", view[1]);
            a.put("shift_x", view[2]);
            a.put("shift_y", view[3]);
        }
        lines.append(o.toString()).append('\n');
    }

    private static void terms(ObjectNode into, Map<String, Double> raw, double weight, Map<String, Double> layers) {
        for (Map.Entry<String, Double> e : raw.entrySet()) {
            ObjectNode t = into.putObject(e.getKey());
            t.put("raw", e.getValue());
            t.put("weighted", weight * layers.getOrDefault(e.getKey(), 1.0) * e.getValue());
        }
    }

    /** Writes the log; a failure (the run's result stands) becomes a note. */
    void writeOrNote(ProgressListener listener) {
        try {
            write();
        } catch (StylizeException e) {
            listener.onNote(e.getMessage());
        }
    }

    void write() throws StylizeException {
        byte[] bytes = lines.toString().getBytes(StandardCharsets.UTF_8);
        try {
            AtomicFile.write(file, out -> out.write(bytes));
        } catch (IOException e) {
            throw new StylizeException("--log-json " + file + ": cannot write: " + e.getMessage(), e);
        }
    }
}
