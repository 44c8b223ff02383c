package org.clstyle.loss;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.clstyle.vgg.Pooling;
import org.clstyle.vgg.VggLayers;
import org.clstyle.weights.Preprocessing;

/**
 * What the loss is made of: content, style and total-variation terms, their weights and layers, the
 * pooling, and the blend of several style images. Bound to this JSON (every field optional in a file;
 * what a file leaves out keeps the defaults it is read over):
 * <pre>
 * {"preset": "jcjohnson",
 *  "content": {"weight": 5, "loss": "mse", "layers": {"relu4_2": 1}},
 *  "style": {"weight": 100, "loss": "mse", "gram": "chw",
 *            "layers": {"relu1_1": 1, "relu2_1": 1, "relu3_1": 1, "relu4_1": 1, "relu5_1": 1}},
 *  "tv": {"weight": 32.5125, "kind": "l2"}, "pooling": "max", "style_blend": [1]}
 * </pre>
 * The loss it defines (x the RGB image in [0,1]; F_l the activation at layer l as [C, H*W]):
 * content_l = mean (F_l(x) - F_l(content))^2 (or |.| for "l1"); G_l = F_l F_l^T / n with n = C*H*W
 * ("chw", as jcjohnson/neural-style and the PyTorch peers) or H*W ("hw", Gatys et al.);
 * style_l = mean over the C^2 entries of (G_l(x) - sum_k b_k G_l(style_k))^2 (or |.|), b normalised to
 * sum 1, each style's Gram at that style image's own size; tv = sum of squared ("l2") or absolute
 * ("l1") differences of horizontally and vertically adjacent pixels of x; total = content.weight *
 * sum_l w_l content_l + style.weight * sum_l w_l style_l + tv.weight * tv. The paper's normalisation by
 * name: "loss": "sse_half" is 1/2 sum (F_l(x) - F_l(content))^2 (for style, 1/2 sum over the Gram
 * entries); "gram": "gatys" (with "loss": "mse" only) is G = F F^T unnormalised and style_l =
 * sum (G_l(x) - A_l)^2 / (4 N^2 M^2), N channels and M = H*W of F_l(x). "preset" names a {@link Preset}
 * applied before the file's other keys.
 *
 * <p>Defaults ({@link #defaultsFor}). For Caffe-style weights (BGR, input 0-255, mean subtracted) they
 * are jcjohnson/neural-style's: content 5 on relu4_2, style 100 on relu1_1..relu5_1 with the "chw"
 * Gram and MSE, max pooling. His TV strength 1e-3 acts on the 0-255 network input and his TV
 * gradient is that of half the summed squares; our tv is over the [0,1] image without the half, so
 * the same smoothing is 1e-3 * 255^2 / 2 = 32.5125 here (the literal 1e-3 would be 32,512 times
 * weaker and do nothing visible).
 * For other preprocessing (torchvision: RGB, input 0-1 divided by std ~0.226) the network sees the
 * image at r = input_scale / mean(std) units per unit of x instead of 255 (r ~ 4.43 for torchvision).
 * Activations of a ReLU network grow about linearly with its input's scale, so content MSE (squared
 * activations) is smaller by about (255/r)^2 and the Gram MSE (squared products of activations) by
 * about (255/r)^4: we multiply content.weight by (255/r)^2 and style.weight by (255/r)^4 (5 * 3326 =
 * 16,630 and 100 * 1.106e7 = 1.106e9 for torchvision). That keeps the content:style:tv balance and
 * the size of the total (so the optimisers' tolerances mean the same); tv is on the [0,1] image and
 * keeps its weight. This is a first-order estimate, not a measurement: the two networks were trained
 * separately, so tune with the flags if a source's results look under- or over-styled.
 */
public record Recipe(Content content, Style style, Tv tv, Pooling pooling, List<Double> styleBlend) {

    /**
     * The distance between activations (content) or Gram matrices (style): the mean of squared ("mse") or
     * absolute ("l1") differences, or half the sum of squares ("sse_half", the paper's content loss).
     */
    public enum LossKind {
        MSE, L1, SSE_HALF;

        public String key() { return name().toLowerCase(Locale.ROOT); }
    }

    /** The total-variation penalty: squared ("l2") or absolute ("l1") neighbour differences. */
    public enum TvKind {
        L2, L1;

        public String key() { return name().toLowerCase(Locale.ROOT); }
    }

    /**
     * The Gram normaliser n: C*H*W ("chw"), H*W ("hw"), or 1 ("gatys": the unnormalised Gram of the
     * paper, whose normalisation 1/(4 N^2 M^2) is in the style distance instead; see {@link Style}).
     */
    public enum GramNorm {
        CHW, HW, GATYS;

        public String key() { return name().toLowerCase(Locale.ROOT); }

        /** n for an activation of shape [c, h, w]. */
        public double n(int c, int h, int w) {
            return switch (this) {
                case CHW -> (double) c * h * w;
                case HW -> (double) h * w;
                case GATYS -> 1;
            };
        }
    }

    /** Content term: weight, distance, layer -> per-layer weight (insertion order kept). */
    public record Content(double weight, LossKind loss, Map<String, Double> layers) {
        public Content {
            checkWeight("content.weight", weight);
            checkNotNull("content.loss", loss);
            layers = checkLayers("content.layers", layers);
        }
    }

    /**
     * Style term: weight, distance, Gram normaliser, layer -> per-layer weight. "gram": "gatys" goes with
     * "loss": "mse" only and means the paper's E_l = sum_ij (G_ij - A_ij)^2 / (4 N^2 M^2), G = F F^T
     * unnormalised, N channels and M = H*W of F_l(x).
     */
    public record Style(double weight, LossKind loss, GramNorm gram, Map<String, Double> layers) {
        public Style {
            checkWeight("style.weight", weight);
            checkNotNull("style.loss", loss);
            checkNotNull("style.gram", gram);
            if (gram == GramNorm.GATYS && loss != LossKind.MSE) {
                throw new IllegalArgumentException("style.gram \"gatys\" (the paper's sum (G - A)^2 / (4 N^2 M^2)) needs "
                        + "style.loss \"mse\", got \"" + loss.key() + "\"");
            }
            layers = checkLayers("style.layers", layers);
        }
    }

    /** Total-variation term. */
    public record Tv(double weight, TvKind kind) {
        public Tv {
            checkWeight("tv.weight", weight);
            checkNotNull("tv.kind", kind);
        }
    }

    /** Validates; {@code styleBlend} empty means equal weights for however many style images there are. */
    public Recipe {
        checkNotNull("content", content);
        checkNotNull("style", style);
        checkNotNull("tv", tv);
        checkNotNull("pooling", pooling);
        checkNotNull("style_blend", styleBlend);
        double sum = 0;
        for (int i = 0; i < styleBlend.size(); i++) {
            Double b = styleBlend.get(i);
            if (b == null || !Double.isFinite(b) || b < 0) {
                throw new IllegalArgumentException("style_blend[" + i + "] must be a finite number >= 0, got " + b);
            }
            sum += b;
        }
        if (!styleBlend.isEmpty() && !(sum > 0)) {
            throw new IllegalArgumentException("style_blend must have a positive sum, got " + styleBlend);
        }
        styleBlend = List.copyOf(styleBlend);
    }

    /** jcjohnson/neural-style's balance, for Caffe-style weights (network input = 0-255 BGR minus mean). */
    public static final double CAFFE_CONTENT_WEIGHT = 5;
    public static final double CAFFE_STYLE_WEIGHT = 100;
    /** 1e-3 on the 0-255 input with a half, expressed on the [0,1] image: 1e-3 * 255^2 / 2. */
    public static final double TV_WEIGHT = 1e-3 * 255 * 255 / 2;

    /** The defaults for weights with this preprocessing; see the class comment for how they scale. */
    public static Recipe defaultsFor(Preprocessing p) {
        double meanStd = 0;
        for (double s : p.std()) {
            meanStd += s / p.std().length;
        }
        return defaultsForInputUnits(p.inputScale() / meanStd);
    }

    /**
     * The defaults for a network that sees {@code unitsPerImageUnit} input units per unit of the [0,1]
     * image (255 for Caffe-style weights, 1/0.226 for torchvision's).
     */
    public static Recipe defaultsForInputUnits(double unitsPerImageUnit) {
        if (!(unitsPerImageUnit > 0) || !Double.isFinite(unitsPerImageUnit)) {
            throw new IllegalArgumentException("input scale / std must be a positive number, got " + unitsPerImageUnit);
        }
        double f = 255 / unitsPerImageUnit;
        if (Math.abs(f - 1) < 1e-9) {
            f = 1; // keep the Caffe numbers exact
        }
        Map<String, Double> style = new LinkedHashMap<>();
        for (String l : List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) {
            style.put(l, 1.0);
        }
        return new Recipe(
                new Content(CAFFE_CONTENT_WEIGHT * f * f, LossKind.MSE, Map.of("relu4_2", 1.0)),
                new Style(CAFFE_STYLE_WEIGHT * f * f * f * f, LossKind.MSE, GramNorm.CHW, style),
                new Tv(TV_WEIGHT, TvKind.L2),
                Pooling.MAX,
                List.of());
    }

    /** Normalised blend weights for {@code styleCount} style images (equal when style_blend is empty). */
    public double[] blendWeights(int styleCount) {
        if (styleCount < 1) {
            throw new IllegalArgumentException("need at least one style image, got " + styleCount);
        }
        double[] b = new double[styleCount];
        if (styleBlend.isEmpty()) {
            java.util.Arrays.fill(b, 1.0 / styleCount);
            return b;
        }
        if (styleBlend.size() != styleCount) {
            throw new IllegalArgumentException("style_blend has " + styleBlend.size() + " weight"
                    + (styleBlend.size() == 1 ? "" : "s") + " but there " + (styleCount == 1 ? "is 1 style image" : "are " + styleCount + " style images"));
        }
        double sum = 0;
        for (double v : styleBlend) {
            sum += v;
        }
        for (int i = 0; i < styleCount; i++) {
            b[i] = styleBlend.get(i) / sum;
        }
        return b;
    }

    /** Every layer some term reads, in forward order. */
    public List<String> layers(boolean withContent) {
        Set<String> all = new LinkedHashSet<>(style.layers.keySet());
        if (withContent) {
            all.addAll(content.layers.keySet());
        }
        List<String> out = new ArrayList<>(all);
        out.sort((a, b) -> Integer.compare(VggLayers.index(a), VggLayers.index(b)));
        return out;
    }

    /** The deepest layer any term reads (null if none). */
    public String deepestLayer(boolean withContent) {
        return VggLayers.deepest(layers(withContent));
    }

    // ---------------------------------------------------------------------------------------- JSON

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
            .enable(com.fasterxml.jackson.core.JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

    /** This recipe as JSON (every field written). */
    public String toJson() {
        ObjectNode root = JSON.createObjectNode();
        ObjectNode c = root.putObject("content");
        c.put("weight", content.weight);
        c.put("loss", content.loss.key());
        ObjectNode cl = c.putObject("layers");
        content.layers.forEach(cl::put);
        ObjectNode s = root.putObject("style");
        s.put("weight", style.weight);
        s.put("loss", style.loss.key());
        s.put("gram", style.gram.key());
        ObjectNode sl = s.putObject("layers");
        style.layers.forEach(sl::put);
        ObjectNode t = root.putObject("tv");
        t.put("weight", tv.weight);
        t.put("kind", tv.kind.key());
        root.put("pooling", pooling.key());
        ArrayNode blend = root.putArray("style_blend");
        styleBlend.forEach(blend::add);
        try {
            return JSON.writeValueAsString(root);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * Reads a recipe file over {@code base} (usually {@link #defaultsFor}): fields the file gives
     * replace the base's (a "layers" object replaces the whole map). Errors are one line starting with
     * the file name.
     */
    public static Recipe load(Path file, Recipe base) {
        return load(file, base, true);
    }

    /**
     * As {@link #load(Path, Recipe)}; with {@code applyPreset} false a "preset" key in the file is checked
     * but not applied (the caller applied a --preset flag that overrides it to {@code base}).
     */
    public static Recipe load(Path file, Recipe base, boolean applyPreset) {
        String text = read(file);
        try {
            return parse(text, base, applyPreset);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
    }

    /** The preset a recipe file names with "preset", or null when it names none. Errors start with the file name. */
    public static Preset presetIn(Path file) {
        String text = read(file);
        try {
            JsonNode root = tree(text);
            JsonNode p = root.get("preset");
            return p == null ? null : Preset.parse("preset", text("preset", p));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such recipe file");
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read recipe: " + e.getMessage());
        }
    }

    /** Parses recipe JSON over {@code base}; see {@link #load}. A "preset" key applies that preset over base first. */
    public static Recipe parse(String json, Recipe base) {
        return parse(json, base, true);
    }

    private static JsonNode tree(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            var loc = e.getLocation();
            throw new IllegalArgumentException("not valid JSON" + (loc == null ? "" : " at line " + loc.getLineNr()
                    + ", column " + loc.getColumnNr()) + ": " + jsonProblem(e));
        }
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("a recipe must be a JSON object");
        }
        return root;
    }

    /** Parses recipe JSON over {@code base}; a "preset" key is applied over base first unless {@code applyPreset} is false. */
    public static Recipe parse(String json, Recipe base, boolean applyPreset) {
        JsonNode root = tree(json);
        checkFields("", root, Set.of("preset", "content", "style", "tv", "pooling", "style_blend", "augment")); // "augment": transfer.Augmentation
        if (root.has("preset")) {
            Preset preset = Preset.parse("preset", text("preset", root.get("preset")));
            if (applyPreset) {
                base = preset.recipe(base);
            }
        }
        Builder b = base.toBuilder();
        JsonNode c = root.get("content");
        if (c != null) {
            checkObject("content", c);
            checkFields("content.", c, Set.of("weight", "loss", "layers"));
            if (c.has("weight")) b.contentWeight(number("content.weight", c.get("weight")));
            if (c.has("loss")) b.contentLoss(lossKind("content.loss", c.get("loss")));
            if (c.has("layers")) b.contentLayers(layers("content.layers", c.get("layers")));
        }
        JsonNode s = root.get("style");
        if (s != null) {
            checkObject("style", s);
            checkFields("style.", s, Set.of("weight", "loss", "gram", "layers"));
            if (s.has("weight")) b.styleWeight(number("style.weight", s.get("weight")));
            if (s.has("loss")) b.styleLoss(lossKind("style.loss", s.get("loss")));
            if (s.has("gram")) b.gram(gramNorm("style.gram", s.get("gram")));
            if (s.has("layers")) b.styleLayers(layers("style.layers", s.get("layers")));
        }
        JsonNode t = root.get("tv");
        if (t != null) {
            checkObject("tv", t);
            checkFields("tv.", t, Set.of("weight", "kind"));
            if (t.has("weight")) b.tvWeight(number("tv.weight", t.get("weight")));
            if (t.has("kind")) b.tvKind(tvKind("tv.kind", t.get("kind")));
        }
        if (root.has("pooling")) b.pooling(pooling("pooling", root.get("pooling")));
        JsonNode blend = root.get("style_blend");
        if (blend != null) {
            if (!blend.isArray()) {
                throw new IllegalArgumentException("style_blend: expected an array of numbers, got " + shown(blend));
            }
            List<Double> list = new ArrayList<>();
            for (int i = 0; i < blend.size(); i++) {
                list.add(number("style_blend[" + i + "]", blend.get(i)));
            }
            b.styleBlend(list);
        }
        return b.build();
    }

    /** Parses a loss kind as a flag or JSON spells it ("mse", "l1"); message names {@code field}. */
    public static LossKind lossKind(String field, String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "mse", "l2" -> LossKind.MSE;
            case "l1", "mae" -> LossKind.L1;
            case "sse_half" -> LossKind.SSE_HALF;
            default -> throw new IllegalArgumentException(field + ": unknown loss '" + shown(s) + "' (use mse, l1 or sse_half)");
        };
    }

    /** Parses "l2" or "l1". */
    public static TvKind tvKind(String field, String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "l2" -> TvKind.L2;
            case "l1" -> TvKind.L1;
            default -> throw new IllegalArgumentException(field + ": unknown kind '" + shown(s) + "' (use l2 or l1)");
        };
    }

    /** Parses "chw", "hw" or "gatys". */
    public static GramNorm gramNorm(String field, String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "chw" -> GramNorm.CHW;
            case "hw" -> GramNorm.HW;
            case "gatys" -> GramNorm.GATYS;
            default -> throw new IllegalArgumentException(field + ": unknown Gram normaliser '" + shown(s) + "' (use chw, hw or gatys)");
        };
    }

    /** Parses "max" or "avg". */
    public static Pooling pooling(String field, String s) {
        Pooling p = Pooling.parse(s);
        if (p == null) {
            throw new IllegalArgumentException(field + ": unknown pooling '" + shown(s) + "' (use max or avg)");
        }
        return p;
    }

    /**
     * Parses a flag's layer list: "relu4_2" or "relu3_1,relu4_1:0.5" (weight 1 unless ":w" follows).
     */
    public static Map<String, Double> layerList(String field, String s) {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String part : s.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int colon = p.indexOf(':');
            String name = colon < 0 ? p : p.substring(0, colon).trim();
            double w = 1;
            if (colon >= 0) {
                try {
                    w = Double.parseDouble(p.substring(colon + 1).trim());
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(field + ": layer weight '" + p.substring(colon + 1)
                            + "' of " + name + " is not a number");
                }
            }
            if (out.put(name, w) != null) {
                throw new IllegalArgumentException(field + ": layer '" + name + "' given twice");
            }
        }
        return checkLayers(field, out);
    }

    /** Jackson's complaint in our words: no library internals (feature names, source descriptions). */
    static String jsonProblem(JsonProcessingException e) {
        String m = firstLine(e.getOriginalMessage());
        if (m.startsWith("Duplicate field ")) {
            return "key " + shown(m.substring("Duplicate field ".length())) + " appears twice (one value per key)";
        }
        if (m.contains("'NaN'") || m.contains("'Infinity'") || m.contains("'-Infinity'") || m.contains("'+Infinity'")) {
            return "NaN and Infinity are not JSON numbers (weights must be finite numbers)";
        }
        if (m.contains("nesting depth")) {
            return "nested too deeply (a recipe is at most three levels deep)";
        }
        if (m.contains("exceeds the maximum") || m.contains("String value length") || m.contains("Number value length")) {
            return "a value is far too long";
        }
        for (String cut : new String[] {": enable ", "; enable ", " (start marker", " at [Source", "\n"}) {
            int at = m.indexOf(cut);
            if (at > 0) {
                m = m.substring(0, at);
            }
        }
        return shown(m.replace("`", "'"));
    }

    /** A value as an error may echo it: at most 60 characters, then how long it was. */
    static String shown(Object value) {
        String t = String.valueOf(value);
        return t.length() <= 60 ? t : t.substring(0, 45) + "... (" + t.length() + " characters)";
    }

    private static String firstLine(String m) {
        if (m == null) {
            return "";
        }
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    private static void checkObject(String field, JsonNode n) {
        if (!n.isObject()) {
            throw new IllegalArgumentException(field + ": expected an object, got " + shown(n));
        }
    }

    private static void checkFields(String prefix, JsonNode n, Set<String> known) {
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) {
                throw new IllegalArgumentException("unknown field '" + shown(prefix + f) + "' (known: "
                        + String.join(", ", new java.util.TreeSet<>(known)) + ")");
            }
        }
    }

    private static double number(String field, JsonNode n) {
        if (!n.isNumber()) {
            throw new IllegalArgumentException(field + ": expected a number, got " + shown(n));
        }
        return n.doubleValue();
    }

    private static String text(String field, JsonNode n) {
        if (!n.isTextual()) {
            throw new IllegalArgumentException(field + ": expected a string, got " + shown(n));
        }
        return n.textValue();
    }

    private static LossKind lossKind(String field, JsonNode n) { return lossKind(field, text(field, n)); }

    private static TvKind tvKind(String field, JsonNode n) { return tvKind(field, text(field, n)); }

    private static GramNorm gramNorm(String field, JsonNode n) { return gramNorm(field, text(field, n)); }

    private static Pooling pooling(String field, JsonNode n) { return pooling(field, text(field, n)); }

    private static Map<String, Double> layers(String field, JsonNode n) {
        if (!n.isObject()) {
            throw new IllegalArgumentException(field + ": expected an object of layer: weight, e.g. {\"relu4_2\": 1}, got " + shown(n));
        }
        Map<String, Double> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = n.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            out.put(e.getKey(), number(field + "." + shown(e.getKey()), e.getValue()));
        }
        return out;
    }

    private static void checkWeight(String field, double w) {
        if (!Double.isFinite(w) || w < 0) {
            throw new IllegalArgumentException(field + " must be a finite number >= 0, got " + w);
        }
    }

    private static void checkNotNull(String field, Object o) {
        if (o == null) {
            throw new IllegalArgumentException(field + " is missing");
        }
    }

    private static Map<String, Double> checkLayers(String field, Map<String, Double> layers) {
        checkNotNull(field, layers);
        Map<String, Double> out = new LinkedHashMap<>();
        for (Map.Entry<String, Double> e : layers.entrySet()) {
            if (!VggLayers.isLayer(e.getKey())) {
                throw new IllegalArgumentException(VggLayers.unknownLayerMessage(field, shown(e.getKey())));
            }
            Double w = e.getValue();
            if (w == null || !Double.isFinite(w) || w < 0) {
                throw new IllegalArgumentException(field + "." + e.getKey() + " must be a finite number >= 0, got " + w);
            }
            out.put(e.getKey(), w);
        }
        return Collections.unmodifiableMap(out);
    }

    // ------------------------------------------------------------------------------------- builder

    /** A mutable copy, for flags that override single fields. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Mutable recipe fields; {@link #build()} validates. */
    public static final class Builder {
        private double contentWeight;
        private LossKind contentLoss;
        private Map<String, Double> contentLayers;
        private double styleWeight;
        private LossKind styleLoss;
        private GramNorm gram;
        private Map<String, Double> styleLayers;
        private double tvWeight;
        private TvKind tvKind;
        private Pooling pooling;
        private List<Double> styleBlend;

        private Builder(Recipe r) {
            contentWeight = r.content.weight;
            contentLoss = r.content.loss;
            contentLayers = r.content.layers;
            styleWeight = r.style.weight;
            styleLoss = r.style.loss;
            gram = r.style.gram;
            styleLayers = r.style.layers;
            tvWeight = r.tv.weight;
            tvKind = r.tv.kind;
            pooling = r.pooling;
            styleBlend = r.styleBlend;
        }

        public Builder contentWeight(double v) { contentWeight = v; return this; }

        public Builder contentLoss(LossKind v) { contentLoss = v; return this; }

        public Builder contentLayers(Map<String, Double> v) { contentLayers = v; return this; }

        public Builder styleWeight(double v) { styleWeight = v; return this; }

        public Builder styleLoss(LossKind v) { styleLoss = v; return this; }

        public Builder gram(GramNorm v) { gram = v; return this; }

        public Builder styleLayers(Map<String, Double> v) { styleLayers = v; return this; }

        public Builder tvWeight(double v) { tvWeight = v; return this; }

        public Builder tvKind(TvKind v) { tvKind = v; return this; }

        public Builder pooling(Pooling v) { pooling = v; return this; }

        public Builder styleBlend(List<Double> v) { styleBlend = v; return this; }

        /** The recipe; throws IllegalArgumentException naming the bad field. */
        public Recipe build() {
            return new Recipe(new Content(contentWeight, contentLoss, contentLayers),
                    new Style(styleWeight, styleLoss, gram, styleLayers),
                    new Tv(tvWeight, tvKind), pooling, styleBlend);
        }
    }
}
