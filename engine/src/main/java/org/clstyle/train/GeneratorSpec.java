package org.clstyle.train;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.clstyle.nn.Generators;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;

/**
 * Which generator, with every option {@link Generators} needs to rebuild the exact {@link Network}:
 * {@code arch} pyramid or johnson; for the pyramid its {@link Generators.PyramidOptions}; {@code width}
 * the pyramid's branch width (8) or Johnson's base width (32). Stored as model metadata (string keys).
 */
public record GeneratorSpec(String arch, boolean stylization, boolean noise, Generators.Norm norm,
        Generators.Activation activation, Layer.PadMode padding, int width) {

    public static final String PYRAMID = "pyramid";
    public static final String JOHNSON = "johnson";

    public GeneratorSpec {
        if (!PYRAMID.equals(arch) && !JOHNSON.equals(arch)) {
            throw new IllegalArgumentException("--arch must be pyramid or johnson, got '" + arch + "'");
        }
        if (width < 1) {
            throw new IllegalArgumentException("generator width must be positive, got " + width);
        }
        if (JOHNSON.equals(arch)) { // Johnson's network has one form; these fields only record it
            norm = Generators.Norm.INSTANCE;
            activation = Generators.Activation.RELU;
            padding = Layer.PadMode.REFLECT;
            noise = false;
        } else {
            new Generators.PyramidOptions(stylization, noise, norm, activation, padding); // validates
        }
    }

    /** The authors' current pyramid (instance norm, ReLU, replicate padding; noise only for textures). */
    public static GeneratorSpec pyramid(boolean stylization) {
        Generators.PyramidOptions o = Generators.PyramidOptions.current(stylization);
        return new GeneratorSpec(PYRAMID, stylization, o.noise(), o.norm(), o.activation(), o.padding(), Generators.PYRAMID_WIDTH);
    }

    /** Johnson et al.'s network at full width; {@code stylization} false trains it on noise inputs (a texture). */
    public static GeneratorSpec johnson(boolean stylization) {
        return new GeneratorSpec(JOHNSON, stylization, false, null, null, null, 32);
    }

    public GeneratorSpec withWidth(int w) {
        return new GeneratorSpec(arch, stylization, noise, norm, activation, padding, w);
    }

    public GeneratorSpec withPyramidOptions(boolean noise, Generators.Norm norm, Generators.Activation act, Layer.PadMode pad) {
        return new GeneratorSpec(arch, stylization, noise, norm, act, pad, width);
    }

    public boolean isPyramid() {
        return PYRAMID.equals(arch);
    }

    /** The exact network these options describe. */
    public Network network() {
        if (isPyramid()) {
            return Generators.pyramid(new Generators.PyramidOptions(stylization, noise, norm, activation, padding), width);
        }
        return Generators.johnson(width);
    }

    /**
     * Sides must be multiples of this for the network to join its scales (pyramid: 32) or to come back to
     * the input size through two stride-2 convolutions and two x2 upsamplings (johnson: 4); other sizes are
     * padded (replicate) up and cropped back.
     */
    public int sizeMultiple() {
        return isPyramid() ? Generators.PYRAMID_RATIOS[0] : 4;
    }

    /** Metadata keys generator.* describing this spec. */
    public Map<String, String> toMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("generator.arch", arch);
        m.put("generator.mode", stylization ? "stylization" : "texture");
        m.put("generator.noise", Boolean.toString(noise));
        m.put("generator.norm", norm.name().toLowerCase(Locale.ROOT));
        m.put("generator.activation", activation.name().toLowerCase(Locale.ROOT));
        m.put("generator.padding", padding.name().toLowerCase(Locale.ROOT));
        m.put("generator.width", Integer.toString(width));
        return m;
    }

    /** The spec written by {@link #toMetadata}; IllegalArgumentException names the missing or bad key. */
    public static GeneratorSpec fromMetadata(Map<String, String> m) {
        String arch = need(m, "generator.arch");
        String mode = need(m, "generator.mode");
        if (!mode.equals("stylization") && !mode.equals("texture")) {
            throw new IllegalArgumentException("generator.mode is '" + mode + "', not stylization or texture");
        }
        int width;
        try {
            width = Integer.parseInt(need(m, "generator.width"));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("generator.width is not a number");
        }
        return new GeneratorSpec(arch, mode.equals("stylization"), Boolean.parseBoolean(need(m, "generator.noise")),
                parseEnum(Generators.Norm.class, m, "generator.norm"), parseEnum(Generators.Activation.class, m, "generator.activation"),
                parseEnum(Layer.PadMode.class, m, "generator.padding"), width);
    }

    private static String need(Map<String, String> m, String key) {
        String v = m.get(key);
        if (v == null) {
            throw new IllegalArgumentException("no " + key + " in the model's metadata");
        }
        return v;
    }

    private static <E extends Enum<E>> E parseEnum(Class<E> type, Map<String, String> m, String key) {
        String v = need(m, key);
        try {
            return Enum.valueOf(type, v.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(key + " is '" + v + "'");
        }
    }
}
