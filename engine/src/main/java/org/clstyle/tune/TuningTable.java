package org.clstyle.tune;

import org.clstyle.ops.OpSettings;
import org.clstyle.ops.ShapeClass;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.clstyle.cl.ClDevice;
import org.clstyle.io.CacheDir;
import org.clstyle.io.AtomicFile;

/**
 * The autotuner's winners for one device and driver: op, then {@link ShapeClass} name, to a kernel
 * variant and a map of define overrides (plus the default and best times they were chosen on, for
 * the record). Stored as JSON in the user cache, {@code <cache>/tuning/<device>__<driver>.json}
 * with {@code <cache>} = $CLSTYLE_CACHE_DIR, else $XDG_CACHE_HOME/clstyle, else ~/.cache/clstyle
 * (the rule of WeightsFetcher.defaultCacheDir, so weights and tunings share one cache).
 * A missing, unreadable or malformed file, or one of another format version, gives an empty table,
 * which means: the ops' own defaults everywhere.
 */
public final class TuningTable implements OpSettings {
    /** Bumped when the meaning of stored defines changes; files of another version are ignored. */
    public static final int FORMAT = 1;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** One winner: the kernel variant's enum name (null: the device default) and its define overrides. */
    public record Entry(String variant, Map<String, Object> defines, double defaultMs, double bestMs) {
        public Entry {
            defines = Collections.unmodifiableMap(new TreeMap<>(defines));
        }
    }

    private final String device;
    private final String driver;
    private final Map<String, Map<String, Entry>> ops = new TreeMap<>();
    private String problem;

    public TuningTable(String device, String driver) {
        this.device = device;
        this.driver = driver;
    }

    /** The table of {@code d} from the user cache (empty when there is none or it cannot be read). */
    public static TuningTable load(ClDevice d) {
        return load(cacheRoot(), d.name(), d.driverVersion());
    }

    /** The table of device {@code name} with driver {@code driver} under cache root {@code root}. */
    public static TuningTable load(Path root, String name, String driver) {
        TuningTable t = new TuningTable(name.trim(), driver.trim());
        Path file = file(root, name, driver);
        if (!Files.isRegularFile(file)) {
            return t;
        }
        try {
            t.read(JSON.readTree(file.toFile()));
        } catch (IOException | RuntimeException e) {
            t.ops.clear();
            t.problem = file + ": " + e.getMessage() + " (ignored: using the default kernel settings)";
        }
        return t;
    }

    /** The user cache ({@link CacheDir#root()}), shared with the weights. */
    public static Path cacheRoot() {
        return CacheDir.root();
    }

    /** {@code root/tuning/<sanitised name>__<sanitised driver>.json}. */
    public static Path file(Path root, String name, String driver) {
        return root.resolve("tuning").resolve(sanitise(name) + "__" + sanitise(driver) + ".json");
    }

    /** Letters, digits, '.', '-' and '_' kept, every other run of characters one '_'; never empty. */
    static String sanitise(String s) {
        String t = s.trim().replaceAll("[^A-Za-z0-9._-]+", "_").replaceAll("^[._]+", "");
        if (t.length() > 80) {
            t = t.substring(0, 80);
        }
        return t.isEmpty() ? "unknown" : t;
    }

    public String device() { return device; }

    public String driver() { return driver; }

    /** Why the file on disk was ignored, if it was. */
    public Optional<String> problem() { return Optional.ofNullable(problem); }

    @Override
    public boolean isEmpty() { return ops.isEmpty(); }

    /** The tuned define overrides for calls of class {@code c} of {@code op}; empty when untuned. */
    @Override
    public Map<String, Object> definesFor(String op, ShapeClass c) {
        Entry e = entry(op, c);
        return e == null ? Map.of() : e.defines();
    }

    /** The tuned variant (the enum constant's name) for class {@code c} of {@code op}, if one was stored. */
    @Override
    public Optional<String> variantFor(String op, ShapeClass c) {
        Entry e = entry(op, c);
        return e == null ? Optional.empty() : Optional.ofNullable(e.variant());
    }

    public Entry entry(String op, ShapeClass c) {
        Map<String, Entry> m = ops.get(op);
        return m == null ? null : m.get(c.name());
    }

    public void put(String op, ShapeClass c, Entry e) {
        ops.computeIfAbsent(op, k -> new TreeMap<>()).put(c.name(), e);
    }

    /** Removes every entry of {@code op} (before re-tuning it). */
    public void clear(String op) {
        ops.remove(op);
    }

    /** Op to class name to entry, read-only. */
    public Map<String, Map<String, Entry>> entries() {
        Map<String, Map<String, Entry>> out = new LinkedHashMap<>();
        ops.forEach((k, v) -> out.put(k, Collections.unmodifiableMap(v)));
        return Collections.unmodifiableMap(out);
    }

    /** Writes the table to its file under {@code root} (temporary name, then rename); returns the file. */
    public Path save(Path root) throws IOException {
        Path file = file(root, device, driver);
        Files.createDirectories(file.getParent());
        byte[] bytes = JSON.writeValueAsBytes(toJson());
        AtomicFile.write(file, out -> out.write(bytes));
        return file;
    }

    /** Saves under {@link #cacheRoot()}. */
    public Path save() throws IOException {
        return save(cacheRoot());
    }

    ObjectNode toJson() {
        ObjectNode root = JSON.createObjectNode();
        root.put("format", FORMAT);
        root.put("device", device);
        root.put("driver", driver);
        ObjectNode o = root.putObject("ops");
        ops.forEach((op, classes) -> {
            ObjectNode on = o.putObject(op);
            classes.forEach((cls, e) -> {
                ObjectNode en = on.putObject(cls);
                if (e.variant() != null) {
                    en.put("variant", e.variant());
                }
                ObjectNode dn = en.putObject("defines");
                e.defines().forEach((k, v) -> {
                    if (v instanceof Integer i) {
                        dn.put(k, i);
                    } else if (v instanceof Long l) {
                        dn.put(k, l);
                    } else {
                        dn.put(k, String.valueOf(v));
                    }
                });
                en.put("default_ms", e.defaultMs());
                en.put("best_ms", e.bestMs());
            });
        });
        return root;
    }

    private void read(JsonNode root) throws IOException {
        if (!root.isObject()) {
            throw new IOException("not a JSON object");
        }
        if (root.path("format").asInt(-1) != FORMAT) {
            throw new IOException("format " + root.path("format") + ", this version reads " + FORMAT);
        }
        JsonNode o = root.path("ops");
        if (!o.isObject()) {
            throw new IOException("no \"ops\" object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = o.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> op = it.next();
            if (!op.getValue().isObject()) {
                throw new IOException("ops." + op.getKey() + " is not an object");
            }
            for (Iterator<Map.Entry<String, JsonNode>> ct = op.getValue().fields(); ct.hasNext(); ) {
                Map.Entry<String, JsonNode> cls = ct.next();
                JsonNode en = cls.getValue();
                JsonNode dn = en.path("defines");
                if (!en.isObject() || !(dn.isObject() || dn.isMissingNode())) {
                    throw new IOException("ops." + op.getKey() + "." + cls.getKey() + " is malformed");
                }
                Map<String, Object> defines = new TreeMap<>();
                for (Iterator<Map.Entry<String, JsonNode>> dt = dn.fields(); dt.hasNext(); ) {
                    Map.Entry<String, JsonNode> d = dt.next();
                    JsonNode v = d.getValue();
                    if (v.isInt()) {
                        defines.put(d.getKey(), v.intValue());
                    } else if (v.isIntegralNumber()) {
                        defines.put(d.getKey(), v.longValue());
                    } else if (v.isTextual()) {
                        defines.put(d.getKey(), v.textValue());
                    } else {
                        throw new IOException("define " + d.getKey() + " of ops." + op.getKey() + "." + cls.getKey()
                                + " is neither an integer nor a string");
                    }
                }
                JsonNode variant = en.path("variant");
                put(op.getKey(), new ShapeClass(op.getKey(), cls.getKey()),
                        new Entry(variant.isTextual() ? variant.textValue() : null, defines,
                                en.path("default_ms").asDouble(Double.NaN), en.path("best_ms").asDouble(Double.NaN)));
            }
        }
    }
}
