package org.clstyle.transfer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Per-step augmentation (Feature Visualization's transformation robustness, scaled down): before each
 * optimiser step the loss network sees the image rotated by a uniform angle in [-rotate, rotate]
 * degrees, magnified by 1 + a uniform fraction in [-scale, scale] and shifted by uniform [-shift,
 * shift] pixels per axis (bilinear, see {@link org.clstyle.ops.Warp}); the gradient is pulled back
 * through the warp. The network sees the image padded by {@code padEdges} pixels on every side with
 * its own mirror image (reflect-101; the content target is reflected likewise), so the views' edges
 * and rotated corners fall into that border, which is not part of the output.
 *
 * <p>{@code shift} and {@code padEdges} are in pixels of the final size; with --scales a coarser scale
 * uses them in proportion to its size. {@code padEdges == null} means {@link #defaultPad}: just
 * enough for the largest view the strengths allow.
 *
 * <p>Presets: light = rotate 2, scale 0.02, shift 4; medium = rotate 5, scale 0.05, shift 8; strong =
 * rotate 10, scale 0.1, shift 16. {@link #NONE} switches it off.
 */
public record Augmentation(double rotate, double scale, double shift, long seed, Integer padEdges) {
    public static final Augmentation NONE = new Augmentation(0, 0, 0, 0, null);
    public static final Map<String, double[]> PRESETS = presets();

    public Augmentation {
        check("rotate", rotate, 45);
        check("scale", scale, 0.5);
        check("shift", shift, 1 << 16);
        if (padEdges != null && (padEdges < 0 || padEdges > 1 << 16)) {
            throw new IllegalArgumentException("--pad-edges must be between 0 and 65536 pixels, got " + padEdges);
        }
    }

    private static Map<String, double[]> presets() {
        Map<String, double[]> m = new LinkedHashMap<>();
        m.put("light", new double[] {2, 0.02, 4});
        m.put("medium", new double[] {5, 0.05, 8});
        m.put("strong", new double[] {10, 0.1, 16});
        return java.util.Collections.unmodifiableMap(m);
    }

    private static void check(String name, double v, double max) {
        if (!(v >= 0) || !(v <= max)) {
            throw new IllegalArgumentException("--augment: " + name + " must be between 0 and " + fmt(max) + ", got " + fmt(v));
        }
    }

    /** Whether any step is perturbed. */
    public boolean enabled() {
        return rotate > 0 || scale > 0 || shift > 0;
    }

    public Augmentation withSeed(long s) {
        return new Augmentation(rotate, scale, shift, s, padEdges);
    }

    public Augmentation withPadEdges(Integer p) {
        return new Augmentation(rotate, scale, shift, seed, p);
    }

    /**
     * Parses the --augment value: a preset name (light, medium, strong, none or off) or
     * {@code rotate=DEG,scale=FRACTION,shift=PX} with any subset of the keys (the rest 0).
     */
    public static Augmentation parse(String option, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("none") || t.equals("off")) {
            return NONE;
        }
        double[] p = PRESETS.get(t);
        if (p != null) {
            return new Augmentation(p[0], p[1], p[2], 0, null);
        }
        double[] v = new double[3];
        for (String part : t.split(",")) {
            int eq = part.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException(option + ": '" + part.trim() + "' is neither a preset ("
                        + String.join(", ", PRESETS.keySet()) + ", none) nor KEY=VALUE with rotate, scale or shift");
            }
            String key = part.substring(0, eq).trim();
            int k = switch (key) {
                case "rotate" -> 0;
                case "scale" -> 1;
                case "shift" -> 2;
                default -> throw new IllegalArgumentException(option + ": unknown key '" + key + "' (use rotate, scale, shift)");
            };
            try {
                v[k] = Double.parseDouble(part.substring(eq + 1).trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option + ": " + key + " '" + part.substring(eq + 1).trim() + "' is not a number");
            }
        }
        try {
            return new Augmentation(v[0], v[1], v[2], 0, null);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replace("--augment", option));
        }
    }

    /**
     * The "augment" field of a recipe file, or null when it has none: a preset name, or an object with
     * any of rotate, scale, shift, seed, pad_edges. Errors are one line starting with the file name.
     */
    public static Augmentation fromRecipe(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            return null; // Recipe.load reports unreadable or malformed files
        }
        JsonNode a = root == null ? null : root.get("augment");
        if (a == null || a.isNull()) {
            return null;
        }
        String field = file + ": augment";
        if (a.isTextual()) {
            return parse(field, a.asText());
        }
        if (!a.isObject()) {
            throw new IllegalArgumentException(field + ": expected a preset name or an object, got " + a);
        }
        double[] v = new double[3];
        long seed = 0;
        Integer pad = null;
        for (Iterator<String> it = a.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            JsonNode n = a.get(k);
            boolean integral = k.equals("seed") || k.equals("pad_edges");
            if (!n.isNumber() || (integral && !n.canConvertToLong())) {
                throw new IllegalArgumentException(field + "." + k + ": expected a" + (integral ? "n integer" : " number") + ", got " + n);
            }
            switch (k) {
                case "rotate" -> v[0] = n.doubleValue();
                case "scale" -> v[1] = n.doubleValue();
                case "shift" -> v[2] = n.doubleValue();
                case "seed" -> seed = n.longValue();
                case "pad_edges" -> pad = (int) Math.max(-1, Math.min(n.longValue(), Integer.MAX_VALUE));
                default -> throw new IllegalArgumentException(field + ": unknown field '" + k
                        + "' (known: pad_edges, rotate, scale, seed, shift)");
            }
        }
        try {
            return new Augmentation(v[0], v[1], v[2], seed, pad);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage().replace("--augment: ", "augment.").replace("--pad-edges", "augment.pad_edges"));
        }
    }

    /** Pixels kept between the output and any view's edge by {@link #defaultPad} (VGG's own border effects). */
    public static final int EDGE_MARGIN = 8;

    /**
     * The default padding (pixels per side) for a w x h output: the reach (the shift plus how far the
     * largest rotated and demagnified w x h view reaches past the image; with it every output pixel
     * stays inside every view) plus {@link #EDGE_MARGIN}.
     */
    public int defaultPad(int w, int h) {
        return enabled() ? reach(w, h) + EDGE_MARGIN : 0;
    }

    /**
     * How far past a w x h output its image in the largest view reaches (pixels, per side): a view
     * maps an output pixel o to c + zoom R(o - c + shift) of the view, so the corners reach out to
     * (1 + scale) |R (half extents + shift)| per axis.
     */
    public int reach(int w, int h) {
        if (!enabled()) {
            return 0;
        }
        double th = Math.toRadians(rotate), c = Math.cos(th), s = Math.sin(th);
        double hw = (w - 1) / 2.0, hh = (h - 1) / 2.0, zoomMax = 1 + scale;
        double reachX = zoomMax * ((hw + shift) * c + (hh + shift) * s) - hw;
        double reachY = zoomMax * ((hw + shift) * s + (hh + shift) * c) - hh;
        return (int) Math.ceil(Math.max(0, Math.max(reachX, reachY)) - 1e-9);
    }

    /** The padding in effect at the final size. */
    public int pad(int w, int h) {
        return padEdges != null ? padEdges : defaultPad(w, h);
    }

    /** "rotate 5, scale 0.05, shift 8 px, pad 26 px" for notes and logs. */
    public String describe(int w, int h) {
        return "rotate " + fmt(rotate) + " deg, scale " + fmt(scale) + ", shift " + fmt(shift) + " px, pad "
                + pad(w, h) + " px, seed " + seed;
    }

    private static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? Long.toString((long) v) : Double.toString(v);
    }
}
