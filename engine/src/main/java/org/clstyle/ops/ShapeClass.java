package org.clstyle.ops;

import java.util.List;
import java.util.Objects;

/**
 * Which tuned configuration a call uses: an op ("conv", "gram", "pool", "relu") and a bucket of its
 * shape, computed from nothing but the call's buffer shapes. The classes are few on purpose: each
 * one costs a tuning run, and a bucket only earns its place where the best kernel configuration
 * plausibly changes across it.
 *
 * <ul>
 *   <li>conv: input channels Cin &le; 16 (the first layer: 27 taps, too short a reduction for deep
 *       register blocks), &le; 128 (VGG blocks 1-3's inputs) or more (blocks 4-5: weights no longer
 *       fit in cache), times row width W &ge; 128 or less (a short row leaves few pixel blocks per
 *       row, so the blocking along the row and the work order matter differently): 6 classes.
 *   <li>gram: channels C &le; 128 or more (register blocking and the C x C partials), times columns
 *       N = H*W &ge; 16384 or less (the forward chunks N only when it is long): 4 classes.
 *   <li>pool and relu: the input's elements &le; 2^20 (4 MiB, the tensor stays in a CPU's cache or
 *       fills a GPU only partly: launch overhead and parallelism dominate) or more (memory bandwidth
 *       dominates): 2 classes each.
 * </ul>
 */
public record ShapeClass(String op, String name) {
    public static final String CONV = "conv";
    public static final String GRAM = "gram";
    public static final String POOL = "pool";
    public static final String RELU = "relu";
    /** Every op the tuner knows, in tuning order. */
    public static final List<String> OPS = List.of(CONV, GRAM, POOL, RELU);

    /** Row width from which a conv call counts as wide. */
    static final int WIDE = 128;
    /** Gram columns (H*W) from which a call counts as long. */
    static final long LONG_COLUMNS = 16384;
    /** Elements above which a pool or relu call counts as large. */
    static final long LARGE_ELEMENTS = 1L << 20;

    public ShapeClass {
        Objects.requireNonNull(op, "op");
        Objects.requireNonNull(name, "name");
    }

    /** The class of a Conv3x3 call on x [cin, h, w] with weight [cout, cin, 3, 3] (cout and h do not matter). */
    public static ShapeClass conv(int cin, int cout, int h, int w) {
        String c = cin <= 16 ? "cin<=16" : cin <= 128 ? "cin<=128" : "cin>128";
        return new ShapeClass(CONV, c + (w >= WIDE ? ",w>=128" : ",w<128"));
    }

    /** The class of a GramMatrix call on f [c, ...] with {@code columns} elements per channel. */
    public static ShapeClass gram(int c, long columns) {
        return new ShapeClass(GRAM, (c <= 128 ? "c<=128" : "c>128") + (columns >= LONG_COLUMNS ? ",n>=16384" : ",n<16384"));
    }

    /** The class of a Pool2x2 call on x [c, h, w] (the full-size tensor, input of forward, output of backward). */
    public static ShapeClass pool(int c, int h, int w) {
        return new ShapeClass(POOL, size((long) c * h * w));
    }

    /** The class of a Relu call over {@code elements} elements. */
    public static ShapeClass relu(long elements) {
        return new ShapeClass(RELU, size(elements));
    }

    /** Every class of {@code op}. */
    public static List<ShapeClass> all(String op) {
        return switch (op) {
            case CONV -> List.of(conv(3, 64, 1, 64), conv(3, 64, 1, 128), conv(64, 64, 1, 64),
                    conv(64, 64, 1, 128), conv(256, 256, 1, 64), conv(256, 256, 1, 128));
            case GRAM -> List.of(gram(64, 4096), gram(64, LONG_COLUMNS), gram(256, 4096), gram(256, LONG_COLUMNS));
            case POOL -> List.of(pool(1, 1, (int) LARGE_ELEMENTS), pool(1, 1, (int) LARGE_ELEMENTS + 1));
            case RELU -> List.of(relu(LARGE_ELEMENTS), relu(LARGE_ELEMENTS + 1));
            default -> throw new IllegalArgumentException("unknown op '" + op + "': expected one of " + OPS);
        };
    }

    private static String size(long elements) {
        return elements <= LARGE_ELEMENTS ? "small" : "large";
    }

    @Override
    public String toString() {
        return op + "[" + name + "]";
    }
}
