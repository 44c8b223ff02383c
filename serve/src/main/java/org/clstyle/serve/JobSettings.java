package org.clstyle.serve;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.clstyle.loss.Preset;
import org.clstyle.transfer.StylizeSettings;

/**
 * The settings of one studio job, as the page's form (or a script) sends them: every field optional,
 * checked with one-line messages that name the field. Null weights mean the weights' defaults.
 */
public record JobSettings(String preset, int size, int iterations, String optimizer, Double contentWeight,
        Double styleWeight, Double tvWeight, double styleScale, boolean originalColors, int previewEvery, String init,
        long seed, Double lr) {

    public static final int DEFAULT_SIZE = 256;
    public static final int DEFAULT_ITERATIONS = 200;
    public static final int DEFAULT_PREVIEW_EVERY = 5;

    /** The form fields this record reads (anything else in a request is refused, to catch typos). */
    public static final List<String> FIELDS = List.of("preset", "size", "iterations", "optimizer", "contentWeight",
            "styleWeight", "tvWeight", "styleScale", "originalColors", "previewEvery", "init", "seed", "lr");

    /** Parses form fields; {@code field -> value or null}. */
    public static JobSettings parse(Function<String, String> form, StudioOptions limits) {
        // A preset (clstyle presets) sets the loss, the optimiser and the start image; the other fields
        // override it, as flags do on the command line.
        String presetName = value(form, "preset");
        Preset preset = null;
        if (presetName != null) {
            try {
                preset = Preset.parse("preset", presetName);
            } catch (IllegalArgumentException e) {
                throw ApiError.badRequest(e.getMessage());
            }
        }
        int size = intField(form, "size", DEFAULT_SIZE, StylizeSettings.MIN_SIDE, limits.maxSize());
        int iterations = intField(form, "iterations", DEFAULT_ITERATIONS, 1, limits.maxIterations());
        String optimizer = choice(form, "optimizer", preset != null ? preset.optimizer() : "lbfgs", List.of("lbfgs", "adam"));
        Double cw = weight(form, "contentWeight");
        Double sw = weight(form, "styleWeight");
        Double tw = weight(form, "tvWeight");
        Double ss = number(form, "styleScale");
        double styleScale = ss == null ? 1.0 : ss;
        if (!(styleScale > 0) || styleScale > 8) {
            throw ApiError.badRequest("styleScale must be above 0 and at most 8, got " + fmt(styleScale));
        }
        boolean originalColors = bool(form, "originalColors");
        int previewEvery = intField(form, "previewEvery", DEFAULT_PREVIEW_EVERY, 1, limits.maxIterations());
        String init = choice(form, "init", preset != null ? preset.init() : "content", List.of("content", "noise"));
        Long seed = longField(form, "seed");
        Double lr = number(form, "lr");
        if (lr != null && !(lr > 0)) {
            throw ApiError.badRequest("lr must be a positive number, got " + fmt(lr));
        }
        return new JobSettings(preset == null ? null : preset.key(), size, iterations, optimizer, cw, sw, tw, styleScale,
                originalColors, previewEvery, init, seed == null ? 0 : seed, lr);
    }

    /** The engine's settings for this job; IllegalArgumentException names the option at fault. */
    public StylizeSettings toStylize(Path content, List<Path> styles, Path output, Path weights, String device) {
        return StylizeSettings.builder()
                .content(content).styles(styles).output(output).weights(weights).device(device)
                .preset(preset == null ? null : Preset.parse("preset", preset)).size(size).iterations(iterations).optimizer(optimizer)
                .contentWeight(contentWeight).styleWeight(styleWeight).tvWeight(tvWeight)
                .styleScale(styleScale).originalColors(originalColors).init(init).seed(seed).lr(lr)
                .installShutdownHook(false)
                .build();
    }

    /** The fields as JSON-ready values (the same names the form and the API use). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("preset", preset);
        m.put("size", size);
        m.put("iterations", iterations);
        m.put("optimizer", optimizer);
        m.put("contentWeight", contentWeight);
        m.put("styleWeight", styleWeight);
        m.put("tvWeight", tvWeight);
        m.put("styleScale", styleScale);
        m.put("originalColors", originalColors);
        m.put("previewEvery", previewEvery);
        m.put("init", init);
        m.put("seed", seed);
        m.put("lr", lr);
        return m;
    }

    private static String value(Function<String, String> form, String field) {
        String v = form.apply(field);
        return v == null || v.isBlank() ? null : v.trim();
    }

    private static int intField(Function<String, String> form, String field, int dflt, int min, int max) {
        String v = value(form, field);
        if (v == null) {
            return dflt;
        }
        int n;
        try {
            n = Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw ApiError.badRequest(field + ": '" + clip(v) + "' is not a whole number");
        }
        if (n < min || n > max) {
            throw ApiError.badRequest(field + " must be " + min + ".." + max + ", got " + n);
        }
        return n;
    }

    private static Long longField(Function<String, String> form, String field) {
        String v = value(form, field);
        if (v == null) {
            return null;
        }
        try {
            return Long.parseLong(v);
        } catch (NumberFormatException e) {
            throw ApiError.badRequest(field + ": '" + clip(v) + "' is not a whole number");
        }
    }

    private static Double number(Function<String, String> form, String field) {
        String v = value(form, field);
        if (v == null) {
            return null;
        }
        double d;
        try {
            d = Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw ApiError.badRequest(field + ": '" + clip(v) + "' is not a number");
        }
        if (!Double.isFinite(d)) {
            throw ApiError.badRequest(field + " must be a finite number, got " + clip(v));
        }
        return d;
    }

    private static Double weight(Function<String, String> form, String field) {
        Double d = number(form, field);
        if (d != null && d < 0) {
            throw ApiError.badRequest(field + " must be a non-negative number, got " + fmt(d));
        }
        return d;
    }

    private static boolean bool(Function<String, String> form, String field) {
        String v = value(form, field);
        if (v == null) {
            return false;
        }
        return switch (v.toLowerCase(Locale.ROOT)) {
            case "true", "on", "1", "yes" -> true;
            case "false", "off", "0", "no" -> false;
            default -> throw ApiError.badRequest(field + ": '" + clip(v) + "' is not true or false");
        };
    }

    private static String choice(Function<String, String> form, String field, String dflt, List<String> allowed) {
        String v = value(form, field);
        if (v == null) {
            return dflt;
        }
        String l = v.toLowerCase(Locale.ROOT);
        if (!allowed.contains(l)) {
            throw ApiError.badRequest(field + ": '" + clip(v) + "' is not one of " + String.join(", ", allowed));
        }
        return l;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? String.valueOf((long) d) : String.valueOf(d);
    }

    /** A user's value quoted in a message: at most 40 printable characters. */
    static String clip(String v) {
        String s = v.replaceAll("\\p{Cntrl}", "?");
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
