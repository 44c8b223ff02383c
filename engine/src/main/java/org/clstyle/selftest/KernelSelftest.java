package org.clstyle.selftest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.Half;
import org.clstyle.ops.AvgPool;
import org.clstyle.ops.BatchNorm;
import org.clstyle.ops.ChannelConcat;
import org.clstyle.ops.Conv2d;
import org.clstyle.ops.Normalization;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.ops.HalfConversion;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.InstanceNorm;
import org.clstyle.ops.Pad2d;
import org.clstyle.ops.Pointwise;
import org.clstyle.ops.Pool2x2;
import org.clstyle.ops.Relu;
import org.clstyle.ops.TotalVariation;
import org.clstyle.ops.UniformNoise;
import org.clstyle.ops.Upsample;
import org.clstyle.ops.VectorOps;
import org.clstyle.ops.Warp;
import org.clstyle.ops.WarpTransform;
import org.clstyle.optim.Adam;
import org.clstyle.optim.MultiTensorAdam;
import org.clstyle.reference.Conv2dReference;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.reference.ImageReference;
import org.clstyle.reference.NoiseReference;
import org.clstyle.reference.NormReference;
import org.clstyle.reference.Pad2dReference;
import org.clstyle.reference.PointwiseReference;
import org.clstyle.reference.PoolReference;
import org.clstyle.reference.ReluReference;
import org.clstyle.reference.ResampleReference;
import org.clstyle.reference.TotalVariationReference;
import org.clstyle.reference.WarpReference;
import org.clstyle.reference.VectorReference;

/**
 * Every kernel variant of every op, GPU variants included whatever the device, against its plain-Java
 * reference on small awkward shapes (sizes 1, primes, odd planes, channel counts just past a tile).
 * One {@link Row} per op, variant and direction. Used by {@code clstyle selftest}, by the tests on
 * devices with lowered limits, and under Oclgrind (.ci/oclgrind.sh), where the shapes must stay tiny
 * (it runs kernels about 1000 times slower than PoCL).
 *
 * <p>Tolerances, per output element: |actual - expected| &le; atol + rtol |expected|. Float sums of K
 * products of values of magnitude &le; 1 round with an error growing with K: atol = 1e-5 + 1e-6 K,
 * rtol = 1e-4 for convolutions and Gram matrices; 1e-6 for elementwise kernels and pooling (one
 * rounding); 1e-5 relative for reductions. A wrong index, a missing barrier or a kernel that did not
 * run gives errors of order 0.1 to 1.
 *
 * <p>The generator ops, with their own tests' tolerances: Conv2d as the convolutions (K the
 * accumulation length: Cin K^2, Cout K^2 or N Ho Wo); InstanceNorm and BatchNorm outputs and input
 * gradients atol 5e-5, rtol 1e-4 (rstd up to ~2 carries the statistics' float error), their parameter
 * gradients atol 1e-5 + 2e-6 L (L = the N H W summed), running statistics 1e-6 / 1e-5, inference
 * 2e-5 / 1e-4; padding, upsampling, concatenation, LeakyReLU, scale and sums exact (copies or one
 * rounding: compared with the reference rounded to float); gathered sums of r^2 terms (upsample
 * backward, average pooling) atol 1e-7 r^2 + 1e-7, rtol 1e-6; the pad backward's gathered sums (up to
 * 24 terms at a replicated corner) atol 1e-6, rtol 1e-6; tanh atol 1e-6 scale, rtol 1e-5, its
 * backward (from the float output) atol 2e-5 scale, rtol 1e-4; noise bit-exact; multi-tensor Adam as
 * Adam (atol 1e-6 / 1e-7 for the moments, rtol 1e-5).
 */
public final class KernelSelftest {

    /** One kernel's result: worst absolute error, worst error as a fraction of its tolerance (pass &le; 1). */
    public record Row(String kernel, boolean passed, double worstAbsError, double worstToTolerance, double seconds,
                      String detail) {}

    private final ClContext ctx;
    private final long seed;
    private SplittableRandom random; // the row's own stream: its inputs depend only on the seed and its name
    private final List<ClBuffer> open = new ArrayList<>();
    // Statistics of the row being run.
    private double worstAbs;
    private double worstRatio;
    private String worstWhat;

    public KernelSelftest(ClContext ctx, long seed) {
        this.ctx = ctx;
        this.seed = seed;
    }

    /** The rows' names, in the order {@link #run} runs them. */
    public static List<String> names() {
        List<String> out = new ArrayList<>();
        for (Check c : checks()) {
            out.add(c.name);
        }
        return out;
    }

    /** The names of the rows that apply to {@code d} (all but those pinning tiles it cannot run), in order. */
    public static List<String> names(ClDevice d) {
        List<String> out = new ArrayList<>();
        for (Check c : checks()) {
            if (c.applies.test(d)) {
                out.add(c.name);
            }
        }
        return out;
    }

    /** Runs every check whose name {@code filter} accepts; one row each. */
    public List<Row> run(Predicate<String> filter) {
        List<Row> rows = new ArrayList<>();
        for (Check c : checks()) {
            if (filter.test(c.name) && c.applies.test(ctx.device())) {
                rows.add(runOne(c));
            }
        }
        return rows;
    }

    private Row runOne(Check c) {
        // Seeded per row, so a row draws the same inputs alone (a filter) as in the whole suite, and rows
        // added before it change nothing.
        random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + c.name.hashCode());
        worstAbs = 0;
        worstRatio = 0;
        worstWhat = "";
        long t0 = System.nanoTime();
        String failure = null;
        try {
            c.body.run(this);
            ctx.finish();
        } catch (RuntimeException e) {
            failure = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        } finally {
            for (ClBuffer b : open) {
                b.close();
            }
            open.clear();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean passed = failure == null && worstRatio <= 1;
        return new Row(c.name, passed, worstAbs, worstRatio, seconds, failure != null ? failure : worstWhat);
    }

    // ---- helpers -------------------------------------------------------------------------------

    private double[] uniform(int n, double lo, double hi) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) (lo + (hi - lo) * random.nextDouble()); // representable in float
        }
        return d;
    }

    private ClBuffer buffer(double[] v, int... shape) {
        return buffer(false, v, shape);
    }

    /** A float buffer, or a half one ({@code half}), holding {@code v} (rounded to the buffer's type), closed at the end. */
    private ClBuffer buffer(boolean half, double[] v, int... shape) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        ClBuffer b = half ? ctx.halfBuffer(shape) : ctx.buffer(shape);
        open.add(b);
        b.write(f);
        return b;
    }

    private ClBuffer zeros(int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return buffer(new double[n], shape);
    }

    /** Records how far {@code actual} is from {@code expected} (NaN or a length mismatch counts as infinitely far). */
    private void compare(String what, double[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            note(what + ": " + actual.length + " elements, expected " + expected.length, Double.POSITIVE_INFINITY,
                    Double.POSITIVE_INFINITY);
            return;
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double ratio = err == 0 ? 0 : err / (atol + rtol * Math.abs(expected[i]));
            if (Double.isNaN(err)) {
                err = ratio = Double.POSITIVE_INFINITY;
            }
            if (ratio > worstRatio || (worstWhat.isEmpty() && i == 0)) {
                note(String.format("%s: element %d is %.7g, expected %.7g", what, i, actual[i], expected[i]),
                        err, ratio);
            }
        }
    }

    private void compare(String what, double expected, float actual, double atol, double rtol) {
        compare(what, new double[] {expected}, new float[] {actual}, atol, rtol);
    }

    private void note(String what, double err, double ratio) {
        worstAbs = Math.max(worstAbs, err);
        if (ratio >= worstRatio) {
            worstRatio = ratio;
            worstWhat = what;
        }
    }

    private static double[] add(double[] a, double[] b) {
        double[] out = a.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += b[i];
        }
        return out;
    }

    /** The reference rounded to float: for exact comparisons of ops whose result is one float rounding. */
    private static double[] rounded(double[] d) {
        double[] out = new double[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (float) d[i];
        }
        return out;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }

    private static double convAtol(int k) {
        return 1e-5 + 1e-6 * k;
    }

    // ---- the checks ----------------------------------------------------------------------------

    /** A row: its name, its body, and the devices it applies to (rows pinning tiles a device cannot run are left out there). */
    private record Check(String name, CheckBody body, Predicate<ClDevice> applies) {
        Check(String name, CheckBody body) {
            this(name, body, d -> true);
        }
    }

    private interface CheckBody {
        void run(KernelSelftest t);
    }

    /** cin, cout, h, w: tiny, a channel count past one 64-wide tile, odd planes. */
    private static final int[][] CONV_SHAPES = {{3, 5, 7, 5}, {17, 67, 5, 9}, {66, 3, 3, 1}};
    /**
     * Added for the Winograd variants: 13 x 44 is the smallest kind of plane on which both tile sizes
     * take their vector paths (8 tiles of one tile row inside the image: tiles 24-31 of F(4x4, 3x3)'s
     * 11 tile columns, 24-31 of F(2x2, 3x3)'s 22) besides their border paths.
     */
    private static final int[][] WINO_SHAPES = {{5, 7, 13, 44}};
    /** c, h, w of the Gram checks. */
    private static final int[][] GRAM_SHAPES = {{5, 7, 5}, {67, 3, 11}};
    /** c, h, w of the pooling checks (odd sides drop a row or column). */
    private static final int[][] POOL_SHAPES = {{3, 7, 5}, {2, 2, 3}, {5, 6, 13}};
    /** Elementwise and reduction lengths: 1, a prime, and a prime over two stage-1 groups of 256 x 8 terms. */
    private static final int[] LENGTHS = {1, 7, 4099};
    /** c, h, w of the image and total-variation checks. */
    private static final int[][] IMAGE_SHAPES = {{3, 1, 1}, {3, 7, 5}, {2, 17, 13}};

    /**
     * n, cin, h, w, cout, k, stride, pad of the Conv2d checks: an output channel count past a 64-row
     * tile (K 3); a batch of 2 with input channels past a tile (the input gradient's rows) at K 1,
     * stride 2 (odd phases reached by no tap); K 9, stride 2, padded (the strided 'phase' input gradient).
     */
    private static final int[][] CONV2D_SHAPES = {{1, 3, 7, 5, 67, 3, 1, 1}, {2, 66, 5, 3, 5, 1, 2, 0},
            {2, 2, 11, 10, 3, 9, 2, 4}};
    /** A Conv2d whose weight gradient takes the split pixel sum (N Ho Wo = 4230, over one 4096-pixel chunk). */
    private static final int[] CONV2D_SPLIT_SHAPE = {2, 1, 47, 45, 2, 3, 1, 1};
    /**
     * The tiles a GPU gets (GemmTiles' largest candidate: 64 x 64, TS_K 16, 4 x 16 per work-item,
     * float8): pinned, because without overrides Conv2d takes narrow row tiles on CPU devices.
     */
    /** Stands for Conv2d's direct variant (CPU devices' default) among the tile overrides of the Conv2d checks. */
    private static final Map<String, Integer> DIRECT = Map.of("DIRECT", 1);
    private static final Map<String, Integer> GPU_TILES = Map.of("TS_M", 64, "TS_N", 64, "TS_K", 16, "WPT_M", 4,
            "WPT_N", 16, "VW", 8);
    /**
     * One of the narrow row tiles that Conv2d takes on CPU devices for GEMMs of 17 to 24 rows (24 rows
     * of 4, 128 columns of 16: 48 work-items, not a power of two), pinned so that GPU devices and
     * Oclgrind (a GPU device) run them too; 9.8 KB of local memory, within the smallest supported 16 KiB.
     */
    private static final Map<String, Integer> ROW_TILES = Map.of("TS_M", 24, "TS_N", 128, "TS_K", 16, "WPT_M", 4,
            "WPT_N", 16, "VW", 8);
    /** The tuner's GPU-sized GEMM tile (OpTuning.gemmTiles): 128 x 128, 16 x 16 work-items of 8 x 8, float4; 16 KiB of local memory. */
    private static final Map<String, Integer> TUNER_TILES = Map.of("TS_M", 128, "TS_N", 128, "TS_K", 16, "WPT_M", 8,
            "WPT_N", 8, "VW", 4);
    /** The same with two pairs of local tiles (GEMM_DOUBLE_BUFFER), TS_K 8: 16 KiB as well. */
    private static final Map<String, Integer> DOUBLE_BUFFERED_TILES = Map.of("TS_M", 128, "TS_N", 128, "TS_K", 8, "WPT_M", 8,
            "WPT_N", 8, "VW", 4, "GEMM_DOUBLE_BUFFER", 1);
    private static final Map<String, Integer> DOUBLE_BUFFERED_GRAM_TILES = Map.of("TS_M", 128, "TS_N", 128, "TS_K", 4,
            "WPT_M", 8, "WPT_N", 8, "VW", 4, "GEMM_DOUBLE_BUFFER", 1);
    private static final Map<String, Integer> TUNER_GRAM_TILES = Map.of("TS_M", 128, "TS_N", 128, "TS_K", 8, "WPT_M", 8,
            "WPT_N", 8, "VW", 4);
    /**
     * n, c, h, w of the normalisation checks: odd planes, planes of one pixel, a plane larger than a
     * 256-wide work-group. The most groups (instance: N C, batch: C) first, so the op's scratch buffer
     * for the parameter gradients never grows within a row: after such a growth, Oclgrind 21.10's
     * uninitialised-value plugin reports the new buffer's values as uninitialised in norm_param_grads
     * although norm_backward wrote them and the gradients are bit for bit those without the growth.
     */
    private static final int[][] NORM_SHAPES = {{2, 5, 3, 7}, {2, 3, 1, 1}, {1, 2, 17, 19}};
    /**
     * n, c, h, w, top, bottom, left, right of the padding checks: a 1 x 1 plane (a 2 x 2 one for
     * reflect, which needs amounts below the size), uneven amounts, amounts up to the size (circular),
     * and zero padding that crops.
     */
    private static int[][] padShapes(Pad2d.Mode mode) {
        return switch (mode) {
            case ZERO -> new int[][] {{1, 1, 1, 1, 2, 1, 1, 3}, {2, 3, 5, 7, 1, 2, 3, 0}, {1, 2, 4, 6, -1, 3, 1, -2}};
            case REPLICATE -> new int[][] {{1, 1, 1, 1, 2, 1, 1, 3}, {2, 3, 5, 7, 1, 2, 3, 0}, {1, 2, 4, 6, 3, 3, 1, 5}};
            case CIRCULAR -> new int[][] {{1, 1, 1, 1, 1, 1, 1, 1}, {2, 3, 5, 7, 1, 2, 3, 0}, {1, 2, 4, 6, 4, 3, 1, 6}};
            case REFLECT -> new int[][] {{1, 1, 2, 2, 1, 1, 1, 1}, {2, 3, 5, 7, 1, 2, 3, 0}, {1, 2, 4, 6, 3, 3, 1, 5}};
        };
    }
    /** n, c, h, w, r of the resampling checks (odd sizes: pooling drops the partial windows). */
    private static final int[][] RESAMPLE_SHAPES = {{1, 1, 1, 1, 2}, {2, 3, 7, 5, 2}, {1, 2, 10, 9, 3}};
    /** n, c, h, w of the elementwise generator checks: one element, odd, and 4205 elements (two groups of 256 x 8). */
    private static final int[][] POINTWISE_SHAPES = {{1, 1, 1, 1}, {2, 3, 7, 5}, {1, 5, 29, 29}};

    /** Whether {@code d} can run the tuner's 128 x 128 tiles: 256 work-items per group and 16448 bytes of local memory. */
    private static boolean fitsTunerTiles(ClDevice d) {
        return d.maxWorkGroupSize() >= 256 && d.localMemBytes() >= 16 * (129 + 128) * Float.BYTES;
    }

    private static List<Check> checks() {
        List<Check> out = new ArrayList<>();
        for (Conv3x3.Variant v : Conv3x3.Variant.values()) {
            out.add(new Check("conv3x3 " + v + " forward", t -> t.convForward(v)));
            out.add(new Check("conv3x3 " + v + " backward input", t -> t.convBackwardInput(v)));
        }
        // The direct variant in bands of rows (a 1 KiB cap: bands of 1-2 rows, a ragged last one).
        out.add(new Check("conv3x3 DIRECT row-bands forward", t -> t.convForward(Conv3x3.Variant.DIRECT, DIRECT_BANDS)));
        out.add(new Check("conv3x3 DIRECT row-bands backward input",
                t -> t.convBackwardInput(Conv3x3.Variant.DIRECT, DIRECT_BANDS)));
        // The tuner's GPU-sized tile, where the device can run it (256 work-items, 16 KiB of local memory).
        out.add(new Check("conv3x3 GEMM 128x128 tiles forward", t -> t.convForward(Conv3x3.Variant.GEMM, TUNER_TILES),
                KernelSelftest::fitsTunerTiles));
        out.add(new Check("conv3x3 GEMM 128x128 tiles backward input",
                t -> t.convBackwardInput(Conv3x3.Variant.GEMM, TUNER_TILES), KernelSelftest::fitsTunerTiles));
        out.add(new Check("conv3x3 GEMM 128x128 double-buffered forward",
                t -> t.convForward(Conv3x3.Variant.GEMM, DOUBLE_BUFFERED_TILES), KernelSelftest::fitsTunerTiles));
        out.add(new Check("conv3x3 GEMM 128x128 double-buffered backward input",
                t -> t.convBackwardInput(Conv3x3.Variant.GEMM, DOUBLE_BUFFERED_TILES), KernelSelftest::fitsTunerTiles));
        out.add(new Check("conv3x3 backward weights+bias", t -> t.convBackwardWeights()));
        for (GramMatrix.Variant v : GramMatrix.Variant.values()) {
            out.add(new Check("gram " + v + " forward", t -> t.gramForward(v, Map.of())));
            if (v == GramMatrix.Variant.GEMM) {
                out.add(new Check("gram GEMM split-K forward", t -> t.gramForward(v, Map.of("GRAM_CHUNKS", 3))));
                // TS_K 8: gram's forward holds two tile pairs (32 KiB with TS_K 16, over Oclgrind's 32 KiB with padding).
                out.add(new Check("gram GEMM 128x128 tiles forward", t -> t.gramForward(v, TUNER_GRAM_TILES),
                        KernelSelftest::fitsTunerTiles));
                out.add(new Check("gram GEMM 128x128 double-buffered forward", t -> t.gramForward(v, DOUBLE_BUFFERED_GRAM_TILES),
                        KernelSelftest::fitsTunerTiles));
            }
            out.add(new Check("gram " + v + " backward", t -> t.gramBackward(v)));
        }
        for (Pool2x2.Variant v : Pool2x2.Variant.values()) {
            out.add(new Check("pool " + v + " max forward+backward", t -> t.pool(v, true)));
            out.add(new Check("pool " + v + " avg forward+backward", t -> t.pool(v, false)));
            out.add(new Check("pool " + v + " masked backward", t -> t.poolMasked(v)));
        }
        for (Relu.Variant v : Relu.Variant.values()) {
            out.add(new Check("relu " + v + " forward+backward", t -> t.relu(v)));
        }
        out.add(new Check("half storage convert+relu+pool+conv3x3", KernelSelftest::halfStorage));
        out.add(new Check("loss mse/l1 forward+backward", KernelSelftest::distance));
        out.add(new Check("tv l2/l1 forward+backward", KernelSelftest::totalVariation));
        out.add(new Check("image affine/scale/clamp", KernelSelftest::image));
        out.add(new Check("optim dot/axpy/scale/fill/adam", KernelSelftest::vector));
        out.add(new Check("optim multi-tensor adam", KernelSelftest::multiTensorAdam));
        out.add(new Check("conv2d direct forward", t -> t.conv2d(DIRECT, CONV2D_SHAPES, 'f')));
        out.add(new Check("conv2d direct backward input", t -> t.conv2d(DIRECT, CONV2D_SHAPES, 'x')));
        out.add(new Check("conv2d direct backward weight+bias", t -> t.conv2d(DIRECT, CONV2D_SHAPES, 'w')));
        for (String tiles : new String[] {"", " gpu-tiles", " row-tiles"}) {
            Map<String, ?> overrides = tiles.isEmpty() ? Map.of() : tiles.equals(" gpu-tiles") ? GPU_TILES : ROW_TILES;
            out.add(new Check("conv2d" + tiles + " forward", t -> t.conv2d(overrides, CONV2D_SHAPES, 'f')));
            out.add(new Check("conv2d" + tiles + " backward input", t -> t.conv2d(overrides, CONV2D_SHAPES, 'x')));
            out.add(new Check("conv2d" + tiles + " backward weight+bias", t -> t.conv2d(overrides, CONV2D_SHAPES, 'w')));
            if (overrides != ROW_TILES) {
                out.add(new Check("conv2d" + tiles + " backward weight split-sum",
                        t -> t.conv2d(overrides, new int[][] {CONV2D_SPLIT_SHAPE}, 'w')));
            }
        }
        for (Pad2d.Mode m : Pad2d.Mode.values()) {
            out.add(new Check("pad " + m + " forward+backward", t -> t.pad(m)));
        }
        for (Normalization.Variant v : Normalization.Variant.values()) {
            out.add(new Check("norm " + v + " instance forward+backward", t -> t.norm(v, true)));
            out.add(new Check("norm " + v + " batch training forward+backward", t -> t.norm(v, false)));
        }
        out.add(new Check("norm batch running+inference", KernelSelftest::batchInference));
        out.add(new Check("resample upsample forward+backward", t -> t.resample(true)));
        out.add(new Check("resample avgpool forward+backward", t -> t.resample(false)));
        out.add(new Check("channels concat forward+backward", KernelSelftest::concat));
        out.add(new Check("pointwise leaky-relu forward+backward", t -> t.pointwise("leaky")));
        out.add(new Check("pointwise tanh forward+backward", t -> t.pointwise("tanh")));
        out.add(new Check("pointwise scale/add/accumulate", t -> t.pointwise("sums")));
        out.add(new Check("noise uniform fill", KernelSelftest::noise));
        out.add(new Check("warp forward+backward", KernelSelftest::warp));
        return out;
    }

    private static int[][] convShapes(Conv3x3.Variant v) {
        if (v != Conv3x3.Variant.WINOGRAD && v != Conv3x3.Variant.WINOGRAD4) {
            return CONV_SHAPES;
        }
        int[][] all = java.util.Arrays.copyOf(CONV_SHAPES, CONV_SHAPES.length + WINO_SHAPES.length);
        System.arraycopy(WINO_SHAPES, 0, all, CONV_SHAPES.length, WINO_SHAPES.length);
        return all;
    }

    /** Conv3x3 defines that make the direct variant pad and convolve the conv shapes in several bands of rows. */
    private static final Map<String, Integer> DIRECT_BANDS = Map.of("DIRECT_PAD_KB", 1);

    private void convForward(Conv3x3.Variant v) {
        convForward(v, Map.of());
    }

    private void convForward(Conv3x3.Variant v, Map<String, ?> defines) {
        Conv3x3 conv = new Conv3x3(ctx, defines, v);
        for (int[] s : convShapes(v)) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] x = uniform(cin * h * w, -1, 1), wt = uniform(cout * cin * 9, -1, 1), b = uniform(cout, -1, 1);
            ClBuffer wb = buffer(wt, cout, cin, 3, 3);
            for (boolean relu : new boolean[] {false, true}) {
                ClBuffer y = zeros(cout, h, w);
                conv.forward(buffer(x, cin, h, w), wb, buffer(b, cout), y, relu);
                compare("y " + cin + "->" + cout + " " + h + "x" + w + (relu ? " relu" : ""),
                        Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, relu), y.read(), convAtol(cin * 9), 1e-4);
            }
            conv.forget(wb);
        }
        conv.close();
    }

    private void convBackwardInput(Conv3x3.Variant v) {
        convBackwardInput(v, Map.of());
    }

    private void convBackwardInput(Conv3x3.Variant v, Map<String, ?> defines) {
        Conv3x3 conv = new Conv3x3(ctx, defines, v);
        for (int[] s : convShapes(v)) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] dy = uniform(cout * h * w, -1, 1), wt = uniform(cout * cin * 9, -1, 1);
            double[] mask = uniform(cout * h * w, -1, 1);
            for (int i = 0; i < mask.length; i++) {
                mask[i] = Math.max(0, mask[i]); // a ReLU output: about half zeros
            }
            ClBuffer wb = buffer(wt, cout, cin, 3, 3);
            for (boolean masked : new boolean[] {false, true}) {
                ClBuffer dx = zeros(cin, h, w);
                conv.backwardInput(buffer(dy, cout, h, w), wb, masked ? buffer(mask, cout, h, w) : null, dx);
                compare("dx " + cin + "->" + cout + " " + h + "x" + w + (masked ? " masked" : ""),
                        Conv3x3Reference.backwardInput(dy, wt, masked ? mask : null, cin, cout, h, w), dx.read(),
                        convAtol(cout * 9), 1e-4);
            }
            conv.forget(wb);
        }
        conv.close();
    }

    private void convBackwardWeights() {
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.GEMM);
        for (int[] s : CONV_SHAPES) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] x = uniform(cin * h * w, -1, 1), dy = uniform(cout * h * w, -1, 1);
            double[] mask = uniform(cout * h * w, -1, 1);
            for (int i = 0; i < mask.length; i++) {
                mask[i] = Math.max(0, mask[i]);
            }
            ClBuffer dw = zeros(cout, cin, 3, 3);
            ClBuffer db = zeros(cout);
            conv.backwardWeights(buffer(x, cin, h, w), buffer(dy, cout, h, w), buffer(mask, cout, h, w), dw, db);
            String shape = cin + "->" + cout + " " + h + "x" + w;
            compare("dW " + shape, Conv3x3Reference.backwardWeight(x, dy, mask, cin, cout, h, w), dw.read(),
                    convAtol(h * w), 1e-4);
            compare("db " + shape, Conv3x3Reference.backwardBias(dy, mask, cout, h, w), db.read(), convAtol(h * w), 1e-4);
        }
    }

    private void gramForward(GramMatrix.Variant v, Map<String, ?> defines) {
        GramMatrix gram = new GramMatrix(ctx, defines, v);
        for (int[] s : GRAM_SHAPES) {
            int c = s[0], cols = s[1] * s[2];
            double[] f = uniform(c * cols, -1, 1);
            double n = (double) c * cols;
            ClBuffer g = zeros(c, c);
            gram.forward(buffer(f, c, s[1], s[2]), g, n);
            compare("G " + c + "x" + cols, GramMatrixReference.forward(f, c, cols, n), g.read(), convAtol(cols) / n, 1e-4);
        }
    }

    private void gramBackward(GramMatrix.Variant v) {
        GramMatrix gram = new GramMatrix(ctx, Map.of(), v);
        for (int[] s : GRAM_SHAPES) {
            int c = s[0], cols = s[1] * s[2];
            double[] f = uniform(c * cols, -1, 1), dg = uniform(c * c, -1, 1), prior = uniform(c * cols, -1, 1);
            double n = (double) c * cols;
            double[] ref = GramMatrixReference.backward(dg, f, c, cols, n);
            for (boolean accumulate : new boolean[] {false, true}) {
                ClBuffer df = buffer(prior, c, s[1], s[2]);
                gram.backward(buffer(dg, c, c), buffer(f, c, s[1], s[2]), df, n, accumulate);
                compare("dF " + c + "x" + cols + (accumulate ? " accumulate" : ""), accumulate ? add(prior, ref) : ref,
                        df.read(), 1e-5 + 1e-6 * c, 1e-4);
            }
        }
    }

    private void pool(Pool2x2.Variant v, boolean max) {
        Pool2x2 pool = new Pool2x2(ctx, v, Map.of());
        for (int[] s : POOL_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            int ho = Math.max(1, h / 2), wo = Math.max(1, w / 2);
            if (h < 2 || w < 2) {
                continue; // pooling needs a 2 x 2 window
            }
            double[] x = uniform(c * h * w, -1, 1), dy = uniform(c * ho * wo, -1, 1);
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer y = zeros(c, ho, wo);
            ClBuffer dx = buffer(uniform(c * h * w, -1, 1), c, h, w); // overwritten
            String shape = c + "x" + h + "x" + w;
            if (max) {
                pool.maxForward(xb, y);
                pool.maxBackward(xb, buffer(dy, c, ho, wo), dx);
                compare("max y " + shape, PoolReference.maxForward(x, c, h, w), y.read(), 0, 0);
                compare("max dx " + shape, PoolReference.maxBackward(x, c, h, w, dy), dx.read(), 0, 0);
            } else {
                pool.avgForward(xb, y);
                pool.avgBackward(buffer(dy, c, ho, wo), dx);
                compare("avg y " + shape, PoolReference.avgForward(x, c, h, w), y.read(), 1e-6, 1e-6);
                compare("avg dx " + shape, PoolReference.avgBackward(dy, c, h, w), dx.read(), 1e-6, 1e-6);
            }
        }
    }

    private void poolMasked(Pool2x2.Variant v) {
        Pool2x2 pool = new Pool2x2(ctx, v, Map.of());
        for (int[] s : POOL_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            if (h < 2 || w < 2) {
                continue;
            }
            int ho = h / 2, wo = w / 2;
            double[] x = uniform(c * h * w, -1, 1);
            for (int i = 0; i < x.length; i++) {
                x[i] = Math.max(0, x[i]);
            }
            double[] dy = uniform(c * ho * wo, -1, 1);
            String shape = c + "x" + h + "x" + w;
            ClBuffer xm = buffer(x, c, h, w);
            pool.maxBackwardMaskedInPlace(xm, buffer(dy, c, ho, wo));
            compare("max masked dx " + shape, PoolReference.maxBackwardMasked(x, c, h, w, dy), xm.read(), 0, 0);
            ClBuffer xa = buffer(x, c, h, w);
            pool.avgBackwardMaskedInPlace(xa, buffer(dy, c, ho, wo));
            compare("avg masked dx " + shape, PoolReference.avgBackwardMasked(x, c, h, w, dy), xa.read(), 1e-6, 1e-6);
        }
    }

    private void relu(Relu.Variant v) {
        Relu relu = new Relu(ctx, v, Map.of());
        for (int n : LENGTHS) {
            double[] x = uniform(n, -1, 1), dy = uniform(n, -1, 1);
            ClBuffer y = zeros(n);
            relu.forward(buffer(x, n), y);
            double[] yRef = ReluReference.forward(x);
            compare("y n=" + n, yRef, y.read(), 0, 0);
            ClBuffer dx = zeros(n);
            relu.backward(buffer(yRef, n), buffer(dy, n), dx);
            compare("dx n=" + n, ReluReference.backward(yRef, dy), dx.read(), 0, 0);
        }
    }

    private double[] halves(double[] v) {
        double[] o = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            o[i] = Half.round((float) v[i]);
        }
        return o;
    }

    /**
     * The kernels on half activations (ACT_HALF=1 builds) against the references on the same half values:
     * float -> half -> float (exact on halves, nearest-even elsewhere), relu and max pool (exact), conv3x3's
     * implicit GEMM forward (within one half ulp plus float accumulation) and its input gradient masked by a
     * half ReLU output (float, as the float rows).
     */
    private void halfStorage() {
        int c = 3, h = 7, w = 6, cout = 5, n = c * h * w, ho = h / 2, wo = w / 2;
        double[] raw = uniform(n, -3, 3), x = halves(raw);
        ClBuffer xh = buffer(true, new double[n], c, h, w), back = zeros(c, h, w);
        HalfConversion hc = new HalfConversion(ctx);
        hc.toHalf(buffer(raw, c, h, w), xh);
        hc.toFloat(xh, back);
        compare("float->half->float", x, back.read(), 0, 0);
        Relu relu = new Relu(ctx, Relu.Variant.ELEMENTS, Map.of());
        ClBuffer yh = buffer(true, new double[n], c, h, w), dx = zeros(c, h, w);
        double[] dy = uniform(n, -1, 1), yRef = ReluReference.forward(x);
        relu.forward(xh, yh);
        compare("relu y", yRef, yh.read(), 0, 0);
        relu.backward(yh, buffer(dy, c, h, w), dx);
        compare("relu dx", ReluReference.backward(yRef, dy), dx.read(), 0, 0);
        Pool2x2 pool = new Pool2x2(ctx, Pool2x2.Variant.ELEMENTS, Map.of());
        ClBuffer ph = buffer(true, new double[c * ho * wo], c, ho, wo), pdx = zeros(c, h, w);
        double[] pdy = uniform(c * ho * wo, -1, 1);
        pool.maxForward(xh, ph);
        compare("max pool y", PoolReference.maxForward(x, c, h, w), ph.read(), 0, 0);
        pool.maxBackward(xh, buffer(pdy, c, ho, wo), pdx);
        compare("max pool dx", PoolReference.maxBackward(x, c, h, w, pdy), pdx.read(), 0, 0);
        pool.avgForward(xh, ph);
        compare("avg pool y", PoolReference.avgForward(x, c, h, w), ph.read(), 6e-8, 1.0 / 1024);
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.GEMM);
        double[] wt = uniform(cout * c * 9, -0.3, 0.3), bias = uniform(cout, -0.1, 0.1);
        ClBuffer wb = buffer(wt, cout, c, 3, 3), ch = buffer(true, new double[cout * h * w], cout, h, w), cdx = zeros(c, h, w);
        conv.forward(xh, wb, buffer(bias, cout), ch, true);
        double[] cy = Conv3x3Reference.forward(x, c, h, w, wt, bias, cout, true);
        compare("conv3x3 y", cy, ch.read(), 1e-5, 1.0 / 1024);
        double[] cdy = uniform(cout * h * w, -1, 1);
        conv.backwardInput(buffer(cdy, cout, h, w), wb, ch, cdx);
        double[] mask = toDouble(ch.read()); // the ReLU output as stored (half)
        compare("conv3x3 dx", Conv3x3Reference.backwardInput(cdy, wt, mask, c, cout, h, w), cdx.read(), 1e-6, 1e-5);
    }

    private void distance() {
        Distance d = new Distance(ctx);
        for (int n : LENGTHS) {
            double[] a = uniform(n, -1, 1), b = uniform(n, -1, 1), prior = uniform(n, -1, 1);
            ClBuffer ab = buffer(a, n), bb = buffer(b, n);
            ClBuffer out = zeros(3);
            d.forward(Distance.Kind.MSE, ab, bb, out, 1);
            d.forward(Distance.Kind.L1, ab, bb, out, 2);
            float[] got = out.read();
            compare("mse n=" + n, DistanceReference.mse(a, b), got[1], 1e-7, 1e-5);
            compare("l1 n=" + n, DistanceReference.l1(a, b), got[2], 1e-7, 1e-5);
            ClBuffer g = buffer(prior, n);
            d.backward(Distance.Kind.MSE, ab, bb, 0.5f, g, true);
            compare("mse grad n=" + n, add(prior, DistanceReference.mseBackward(a, b, 0.5)), g.read(), 1e-6, 1e-5);
            d.backward(Distance.Kind.L1, ab, bb, 0.5f, g, false);
            compare("l1 grad n=" + n, DistanceReference.l1Backward(a, b, 0.5), g.read(), 1e-6, 1e-5);
        }
    }

    private void totalVariation() {
        TotalVariation tv = new TotalVariation(ctx);
        for (int[] s : IMAGE_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            double[] x = uniform(c * h * w, 0, 1), prior = uniform(c * h * w, -1, 1);
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer out = zeros(2);
            tv.forward(TotalVariation.Kind.L2, xb, out, 0);
            tv.forward(TotalVariation.Kind.L1, xb, out, 1);
            float[] got = out.read();
            String shape = c + "x" + h + "x" + w;
            compare("tv l2 " + shape, TotalVariationReference.l2(x, c, h, w), got[0], 1e-6, 1e-5);
            compare("tv l1 " + shape, TotalVariationReference.l1(x, c, h, w), got[1], 1e-6, 1e-5);
            ClBuffer g = buffer(prior, c, h, w);
            tv.backward(TotalVariation.Kind.L2, xb, 2f, g, true);
            compare("tv l2 grad " + shape, add(prior, TotalVariationReference.l2Backward(x, c, h, w, 2)), g.read(),
                    1e-6, 1e-5);
            tv.backward(TotalVariation.Kind.L1, xb, 2f, g, false);
            compare("tv l1 grad " + shape, TotalVariationReference.l1Backward(x, c, h, w, 2), g.read(), 1e-6, 1e-5);
        }
    }

    private void image() {
        ImageOps ops = new ImageOps(ctx);
        for (int[] s : IMAGE_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            String shape = c + "x" + h + "x" + w;
            double[] x = uniform(c * h * w, -2, 2);
            int[] perm = new int[c];
            double[] mul = uniform(c, 0.5, 2), addv = uniform(c, -1, 1);
            float[] mulF = new float[c], addF = new float[c];
            for (int i = 0; i < c; i++) {
                perm[i] = c - 1 - i;
                mulF[i] = (float) mul[i];
                addF[i] = (float) addv[i];
            }
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer y = zeros(c, h, w);
            ops.channelAffine(xb, y, perm, mulF, addF);
            compare("affine " + shape, ImageReference.channelAffine(x, c, h, w, perm, mul, addv), y.read(), 1e-6, 1e-6);
            ClBuffer dx = zeros(c, h, w);
            ops.channelAffineBackward(xb, dx, perm, mulF);
            compare("affine backward " + shape, ImageReference.channelAffineBackward(x, c, h, w, perm, mul), dx.read(),
                    1e-6, 1e-6);
            ops.scale(xb, y, 0.25f);
            compare("scale " + shape, ImageReference.scale(x, 0.25), y.read(), 0, 0);
            ops.clamp(xb, -0.5f, 1f);
            compare("clamp " + shape, ImageReference.clamp(x, -0.5, 1), xb.read(), 0, 0);
        }
    }

    private void vector() {
        VectorOps ops = new VectorOps(ctx);
        for (int n : LENGTHS) {
            double[] a = uniform(n, -1, 1), b = uniform(n, -1, 1);
            ClBuffer ab = buffer(a, n), bb = buffer(b, n);
            ClBuffer out = zeros(4);
            ops.dot(ab, bb, out, 1);
            ops.sumAbs(ab, out, 3);
            float[] got = out.read();
            compare("dot n=" + n, VectorReference.dot(a, b), got[1], 1e-6, 1e-5);
            compare("sum|a| n=" + n, VectorReference.sumAbs(a), got[3], 1e-6, 1e-5);
            ClBuffer y = buffer(b, n);
            ops.axpy(0.75f, ab, y);
            double[] yRef = VectorReference.axpy(0.75, a, b);
            compare("axpy n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ClBuffer coef = buffer(new double[] {3, -0.5}, 2);
            ops.axpy(coef, 1, 2f, ab, y);
            yRef = VectorReference.axpy(-1.0, a, yRef);
            compare("axpy device coefficient n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ops.axpyDivided(coef, 0, 1f, 2f, ab, y);
            yRef = VectorReference.axpyDivided(3, 1, 2, a, yRef);
            compare("axpy divided n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ops.scale(y, -2f);
            compare("scale n=" + n, VectorReference.scale(yRef, -2), y.read(), 1e-6, 1e-6);
            ops.copy(ab, y);
            compare("copy n=" + n, a, y.read(), 0, 0);
            ops.fill(y, 1.5f);
            double[] ones = new double[n];
            java.util.Arrays.fill(ones, 1.5);
            compare("fill n=" + n, ones, y.read(), 0, 0);
            double[] p = a.clone(), m = uniform(n, -0.1, 0.1), v = uniform(n, 0, 0.1);
            ClBuffer pb = buffer(p, n), mb = buffer(m, n), vb = buffer(v, n);
            ops.adam(pb, bb, mb, vb, 0.01f, 0.9f, 0.999f, 1e-8f, 3);
            VectorReference.adam(p, b, m, v, 0.01, 0.9, 0.999, 1e-8, 3);
            compare("adam p n=" + n, p, pb.read(), 1e-6, 1e-5);
            compare("adam m n=" + n, m, mb.read(), 1e-7, 1e-5);
            compare("adam v n=" + n, v, vb.read(), 1e-7, 1e-5);
        }
    }

    private void multiTensorAdam() {
        int[][] shapes = {{8, 3, 3, 3}, {67}, {1}, {3, 5, 1, 1}};
        List<ClBuffer> params = new ArrayList<>(), grads = new ArrayList<>();
        List<double[]> p = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
        for (int[] shape : shapes) {
            int n = 1;
            for (int s : shape) {
                n *= s;
            }
            double[] init = uniform(n, -1, 1);
            params.add(buffer(init, shape));
            grads.add(zeros(shape));
            p.add(init);
            m.add(new double[n]);
            v.add(new double[n]);
        }
        try (MultiTensorAdam adam = new MultiTensorAdam(ctx, params, new Adam.Options(1e-2, 0.9, 0.999, 1e-8))) {
            for (int step = 1; step <= 3; step++) {
                double lr = step <= 2 ? 1e-2 : 5e-3; // a decay between steps
                adam.setLearningRate(lr);
                for (int k = 0; k < shapes.length; k++) {
                    double[] g = uniform(p.get(k).length, -1, 1);
                    ClBuffer gb = grads.get(k);
                    float[] f = new float[g.length];
                    for (int i = 0; i < g.length; i++) {
                        f[i] = (float) g[i];
                    }
                    gb.write(f);
                    VectorReference.adam(p.get(k), g, m.get(k), v.get(k), lr, 0.9, 0.999, 1e-8, step);
                }
                adam.step(grads);
            }
            for (int k = 0; k < shapes.length; k++) {
                compare("tensor " + k + " p", p.get(k), params.get(k).read(), 1e-6, 1e-5);
                compare("tensor " + k + " m", m.get(k), adam.firstMoments().get(k).read(), 1e-7, 1e-5);
                compare("tensor " + k + " v", v.get(k), adam.secondMoments().get(k).read(), 1e-7, 1e-5);
            }
        }
    }

    /** Conv2d forward ('f', with and without bias), input gradient ('x') or weight and bias gradients ('w'). */
    private void conv2d(Map<String, ?> overrides, int[][] shapes, char what) {
        try (Conv2d conv = overrides == DIRECT ? new Conv2d(ctx, Conv2d.Variant.DIRECT) : new Conv2d(ctx, overrides)) {
            for (int[] s : shapes) {
                Conv2dReference.Geometry g = new Conv2dReference.Geometry(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]);
                int n = g.n(), cin = g.cin(), h = g.h(), w = g.w(), cout = g.cout(), k = g.k(), ho = g.outH(), wo = g.outW();
                String shape = n + "x" + cin + "x" + h + "x" + w + "->" + cout + " k" + k + " s" + g.stride() + " p" + g.pad();
                double[] wt = uniform(cout * cin * k * k, -1, 1);
                ClBuffer wb = buffer(wt, cout, cin, k, k);
                if (what == 'f') {
                    double[] x = uniform(n * cin * h * w, -1, 1), b = uniform(cout, -1, 1);
                    ClBuffer xb = buffer(x, n, cin, h, w);
                    ClBuffer y = zeros(n, cout, ho, wo);
                    conv.forward(xb, wb, buffer(b, cout), y, g.stride(), g.pad());
                    compare("y " + shape, Conv2dReference.forward(g, x, wt, b), y.read(), convAtol(cin * k * k), 1e-4);
                    y = buffer(uniform(n * cout * ho * wo, -1, 1), n, cout, ho, wo); // overwritten
                    conv.forward(xb, wb, null, y, g.stride(), g.pad());
                    compare("y no bias " + shape, Conv2dReference.forward(g, x, wt, null), y.read(), convAtol(cin * k * k),
                            1e-4);
                } else if (what == 'x') {
                    double[] dy = uniform(n * cout * ho * wo, -1, 1);
                    ClBuffer dx = buffer(uniform(n * cin * h * w, -1, 1), n, cin, h, w); // overwritten
                    conv.backwardInput(buffer(dy, n, cout, ho, wo), wb, dx, g.stride(), g.pad());
                    compare("dx " + shape, Conv2dReference.backwardInput(g, dy, wt), dx.read(), convAtol(cout * k * k),
                            1e-4);
                } else {
                    double[] x = uniform(n * cin * h * w, -1, 1), dy = uniform(n * cout * ho * wo, -1, 1);
                    ClBuffer dyb = buffer(dy, n, cout, ho, wo);
                    ClBuffer dw = buffer(uniform(wt.length, -1, 1), cout, cin, k, k); // overwritten
                    ClBuffer db = buffer(uniform(cout, -1, 1), cout);
                    conv.backwardWeight(buffer(x, n, cin, h, w), dyb, dw, g.stride(), g.pad());
                    conv.backwardBias(dyb, db);
                    compare("dW " + shape, Conv2dReference.backwardWeight(g, x, dy), dw.read(), convAtol(n * ho * wo), 1e-4);
                    compare("db " + shape, Conv2dReference.backwardBias(g, dy), db.read(), convAtol(n * ho * wo), 1e-4);
                    if (shapes.length == 1 && conv.scratchBytes() == 0) {
                        // The split-sum row: its shape must still take the split (a change of the chunk size).
                        note("dW " + shape + ": the weight gradient did not take the split sum", Double.POSITIVE_INFINITY,
                                Double.POSITIVE_INFINITY);
                    }
                }
            }
        }
    }

    private void pad(Pad2d.Mode mode) {
        for (boolean rows : new boolean[] {false, true}) {
            pad(new Pad2d(ctx, rows), mode, rows ? " rows" : "");
        }
    }

    private void pad(Pad2d pad, Pad2d.Mode mode, String variant) {
        Pad2dReference.Mode rm = Pad2dReference.Mode.valueOf(mode.name());
        for (int[] s : padShapes(mode)) {
            int n = s[0], c = s[1], h = s[2], w = s[3];
            int top = s[4], bottom = s[5], left = s[6], right = s[7];
            Pad2d.Amounts a = new Pad2d.Amounts(top, bottom, left, right);
            int ho = h + top + bottom, wo = w + left + right;
            String shape = n + "x" + c + "x" + h + "x" + w + " pads " + top + "," + bottom + "," + left + "," + right + variant;
            double[] x = uniform(n * c * h * w, -1, 1), dy = uniform(n * c * ho * wo, -1, 1);
            ClBuffer y = buffer(uniform(n * c * ho * wo, -1, 1), n, c, ho, wo); // overwritten
            pad.forward(buffer(x, n, c, h, w), y, mode, a);
            compare("y " + shape, Pad2dReference.forward(x, n, c, h, w, rm, top, bottom, left, right), y.read(), 0, 0);
            ClBuffer dx = buffer(uniform(n * c * h * w, -1, 1), n, c, h, w); // overwritten
            pad.backward(buffer(dy, n, c, ho, wo), dx, mode, a);
            compare("dx " + shape, Pad2dReference.backward(dy, n, c, h, w, rm, top, bottom, left, right), dx.read(), 1e-6,
                    1e-6);
        }
    }

    /** x uniform in [-1, 1] plus a per-channel offset up to 3 (a one-pass variance would lose digits). */
    private double[] normInput(int n, int c, int plane) {
        double[] x = uniform(n * c * plane, -1, 1);
        for (int e = 0; e < x.length; e++) {
            x[e] = (float) (x[e] + (e / plane) % c * 3.0 / Math.max(1, c - 1));
        }
        return x;
    }

    /**
     * What float32 arithmetic alone can put into a normalisation's outputs, beyond the fixed tolerance: the
     * normalised value x^ = (x - mean) / sigma carries the rounding of x and of the centring (2^-24 of
     * max|x| each) divided by sigma. So y = gamma x^ + beta may be off by 2 * 2^-24 max|x| max|gamma| / sigma,
     * and dx = gamma / sigma (dy - mean(dy) - x^ mean(dy x^)) by that times max|dy| / sigma again; sigma^2 is
     * the smallest var + eps over the groups (per channel for batch statistics, per sample and channel for
     * instance ones). This returns the numerator (with max|dy| when {@code dy} is given); the caller divides
     * by sigma or sigma^2. Negligible for groups of many spread values. A group of two values makes dx cancel
     * to gamma (dy1 - dy2) / 2 times eps / sigma^3: in one draw batch 2x3x1x1 had sigma near 0.03, and its dx
     * differed from the reference by 3.2e-4 (the first-order bound 3.8e-4) where the fixed tolerance allowed
     * 6.7e-5.
     */
    private static double normSlack(double[] x, double[] gamma, double[] dy) {
        return 2 * Math.ulp(1f) / 2 * maxAbs(x) * maxAbs(gamma) * (dy != null ? maxAbs(dy) : 1);
    }

    private static double maxAbs(double[] v) {
        double m = 0;
        for (double e : v) {
            m = Math.max(m, Math.abs(e));
        }
        return m;
    }

    /** The smallest variance of a normalisation group of x [n, c, plane] (per channel, or per sample and channel). */
    private static double minGroupVariance(double[] x, int n, int c, int plane, boolean instance) {
        double minVar = Double.MAX_VALUE;
        for (int g = 0; g < (instance ? n * c : c); g++) {
            double sum = 0, sq = 0;
            int count = 0;
            for (int b = 0; b < (instance ? 1 : n); b++) {
                int base = instance ? g * plane : (b * c + g) * plane;
                for (int p = 0; p < plane; p++) {
                    sum += x[base + p];
                    sq += x[base + p] * x[base + p];
                    count++;
                }
            }
            double mean = sum / count;
            minVar = Math.min(minVar, Math.max(0, sq / count - mean * mean));
        }
        return minVar;
    }

    private void norm(Normalization.Variant variant, boolean instance) {
        try (InstanceNorm in = new InstanceNorm(ctx, variant); BatchNorm bn = new BatchNorm(ctx, variant)) {
            for (int[] s : NORM_SHAPES) {
                int n = s[0], c = s[1], h = s[2], w = s[3], plane = h * w;
                String shape = n + "x" + c + "x" + h + "x" + w;
                double[] x = normInput(n, c, plane), dy = uniform(x.length, -1, 1);
                double[] gamma = uniform(c, 0.5, 1.5), beta = uniform(c, -0.5, 0.5);
                ClBuffer xb = buffer(x, n, c, h, w), gb = buffer(gamma, c), bb = buffer(beta, c);
                ClBuffer y = zeros(n, c, h, w), stats = zeros(instance ? n * c : c, 3);
                ClBuffer dx = zeros(n, c, h, w), dg = zeros(c), dbeta = zeros(c);
                double[] yRef;
                NormReference.Grads ref;
                if (instance) {
                    in.forward(xb, gb, bb, y, stats);
                    in.backward(xb, buffer(dy, n, c, h, w), gb, stats, dx, dg, dbeta);
                    yRef = NormReference.instanceForward(x, n, c, plane, gamma, beta, InstanceNorm.EPS);
                    ref = NormReference.instanceBackward(x, dy, n, c, plane, gamma, InstanceNorm.EPS);
                } else {
                    bn.forwardTraining(xb, gb, bb, y, stats, null, null);
                    bn.backward(xb, buffer(dy, n, c, h, w), gb, stats, dx, dg, dbeta);
                    yRef = NormReference.batchForward(x, n, c, plane, gamma, beta, BatchNorm.EPS);
                    ref = NormReference.batchBackward(x, dy, n, c, plane, gamma, BatchNorm.EPS);
                }
                double eps = instance ? InstanceNorm.EPS : BatchNorm.EPS;
                double minVar = minGroupVariance(x, n, c, plane, instance) + eps;
                compare("y " + shape, yRef, y.read(), 5e-5 + normSlack(x, gamma, null) / Math.sqrt(minVar), 1e-4);
                compare("dx " + shape, ref.dx(), dx.read(), 5e-5 + normSlack(x, gamma, dy) / minVar, 1e-4);
                double pa = 1e-5 + 2e-6 * n * plane;
                compare("dgamma " + shape, ref.dGamma(), dg.read(), pa, 1e-4);
                compare("dbeta " + shape, ref.dBeta(), dbeta.read(), pa, 1e-4);
            }
        }
    }

    private void batchInference() {
        try (BatchNorm bn = new BatchNorm(ctx)) {
            for (int[] s : NORM_SHAPES) {
                int n = s[0], c = s[1], h = s[2], w = s[3], plane = h * w;
                String shape = n + "x" + c + "x" + h + "x" + w;
                double[] x = normInput(n, c, plane);
                double[] gamma = uniform(c, 0.5, 1.5), beta = uniform(c, -0.5, 0.5);
                double[] rm = uniform(c, -0.2, 0.2), rv = uniform(c, 0.5, 1.5);
                ClBuffer xb = buffer(x, n, c, h, w), gb = buffer(gamma, c), bb = buffer(beta, c);
                ClBuffer rmb = buffer(rm, c), rvb = buffer(rv, c), y = zeros(n, c, h, w), stats = zeros(c, 3);
                for (int step = 0; step < 2; step++) {
                    bn.forwardTraining(xb, gb, bb, y, stats, rmb, rvb);
                    NormReference.updateRunning(rm, rv, x, n, c, plane, BatchNorm.MOMENTUM);
                }
                compare("running mean " + shape, rm, rmb.read(), 1e-6, 1e-5);
                compare("running var " + shape, rv, rvb.read(), 1e-6, 1e-5);
                double[] rmDevice = toDouble(rmb.read()), rvDevice = toDouble(rvb.read());
                bn.forwardInference(xb, gb, bb, rmb, rvb, y, stats);
                compare("inference y " + shape, NormReference.batchInference(x, n, c, plane, gamma, beta, rmDevice,
                        rvDevice, BatchNorm.EPS), y.read(), 2e-5, 1e-4);
            }
        }
    }

    private void resample(boolean upsample) {
        Upsample[] ups = {new Upsample(ctx, false), new Upsample(ctx, true)}; // per element (GPUs), per row (CPUs)
        AvgPool pool = new AvgPool(ctx);
        for (int[] s : RESAMPLE_SHAPES) {
            int n = s[0], c = s[1], h = s[2], w = s[3], r = s[4], planes = n * c;
            String shape = n + "x" + c + "x" + h + "x" + w + " r" + r;
            if (upsample) {
                double[] x = uniform(planes * h * w, -1, 1), dy = uniform(planes * h * r * w * r, -1, 1);
                for (int v = 0; v < ups.length; v++) {
                    String variant = v == 0 ? "" : " rows";
                    ClBuffer y = zeros(n, c, h * r, w * r);
                    ups[v].forward(buffer(x, n, c, h, w), y, r);
                    compare("up y " + shape + variant, ResampleReference.upsampleForward(x, planes, h, w, r), y.read(), 0, 0);
                    ClBuffer dx = buffer(uniform(x.length, -1, 1), n, c, h, w); // overwritten
                    ups[v].backward(buffer(dy, n, c, h * r, w * r), dx, r);
                    compare("up dx " + shape + variant, ResampleReference.upsampleBackward(dy, planes, h, w, r), dx.read(),
                            1e-7 * r * r + 1e-7, 1e-6);
                }
            } else {
                if (h < r || w < r) {
                    continue; // no whole window
                }
                int ho = h / r, wo = w / r;
                double[] x = uniform(planes * h * w, -1, 1), dy = uniform(planes * ho * wo, -1, 1);
                ClBuffer y = zeros(n, c, ho, wo);
                pool.forward(buffer(x, n, c, h, w), y, r);
                compare("avg y " + shape, ResampleReference.avgPoolForward(x, planes, h, w, r), y.read(),
                        1e-7 * r * r + 1e-7, 1e-6);
                ClBuffer dx = buffer(uniform(x.length, -1, 1), n, c, h, w); // overwritten, the dropped edges too
                pool.backward(buffer(dy, n, c, ho, wo), dx, r);
                compare("avg dx " + shape, ResampleReference.avgPoolBackward(dy, planes, h, w, r), dx.read(), 1e-7, 1e-6);
            }
        }
    }

    private void concat() {
        concat(new ChannelConcat(ctx, false), ""); // one element per work-item (GPUs)
        concat(new ChannelConcat(ctx, true), " chunks"); // contiguous runs (CPUs)
    }

    private void concat(ChannelConcat cat, String variant) {
        int[][] cases = {{1, 1, 1, 1, 1}, {2, 3, 1, 2, 35}, {1, 2, 67, 1, 9}}; // n, channels of 3 parts, plane
        for (int[] s : cases) {
            int n = s[0], plane = s[4];
            int[] ch = {s[1], s[2], s[3]};
            int total = ch[0] + ch[1] + ch[2];
            String shape = n + " x (" + ch[0] + "+" + ch[1] + "+" + ch[2] + ") x " + plane + variant;
            double[][] parts = new double[3][];
            List<ClBuffer> partBuffers = new ArrayList<>(), grads = new ArrayList<>();
            for (int k = 0; k < 3; k++) {
                parts[k] = uniform(n * ch[k] * plane, -1, 1);
                partBuffers.add(buffer(parts[k], n, ch[k], 1, plane));
                grads.add(buffer(uniform(n * ch[k] * plane, -1, 1), n, ch[k], 1, plane)); // overwritten
            }
            double[] dy = uniform(n * total * plane, -1, 1);
            ClBuffer y = zeros(n, total, 1, plane);
            cat.forward(partBuffers, y);
            compare("y " + shape, PointwiseReference.concat(parts, ch, n, plane), y.read(), 0, 0);
            cat.backward(buffer(dy, n, total, 1, plane), grads);
            double[][] split = PointwiseReference.split(dy, ch, n, plane);
            for (int k = 0; k < 3; k++) {
                compare("d part " + k + " " + shape, split[k], grads.get(k).read(), 0, 0);
            }
        }
    }

    private void pointwise(String which) {
        Pointwise pw = new Pointwise(ctx);
        for (int[] s : POINTWISE_SHAPES) {
            int[] shape = s;
            int total = s[0] * s[1] * s[2] * s[3];
            String size = " " + s[0] + "x" + s[1] + "x" + s[2] + "x" + s[3];
            double[] x = uniform(total, -3, 3), dy = uniform(total, -1, 1);
            ClBuffer xb = buffer(x, shape), dyb = buffer(dy, shape), y = zeros(shape), dx = zeros(shape);
            switch (which) {
                case "leaky" -> {
                    pw.leakyReluForward(xb, y, Pointwise.LEAKY_SLOPE);
                    compare("y" + size, rounded(PointwiseReference.leakyReluForward(x, Pointwise.LEAKY_SLOPE)), y.read(),
                            0, 0);
                    double[] dxRef = rounded(PointwiseReference.leakyReluBackward(x, dy, Pointwise.LEAKY_SLOPE));
                    pw.leakyReluBackward(y, dyb, dx, Pointwise.LEAKY_SLOPE); // from the output
                    compare("dx from y" + size, dxRef, dx.read(), 0, 0);
                    pw.leakyReluBackward(xb, dyb, dx, Pointwise.LEAKY_SLOPE); // from the input
                    compare("dx from x" + size, dxRef, dx.read(), 0, 0);
                }
                case "tanh" -> {
                    for (float scale : new float[] {1f, 150f}) {
                        pw.tanhForward(xb, y, scale);
                        compare(scale + " tanh" + size, PointwiseReference.tanhForward(x, scale), y.read(), 1e-6 * scale,
                                1e-5);
                        pw.tanhBackward(y, dyb, dx, scale);
                        compare(scale + " tanh dx" + size, PointwiseReference.tanhBackward(x, dy, scale), dx.read(),
                                2e-5 * scale, 1e-4);
                    }
                }
                default -> {
                    pw.scale(xb, y, 150f);
                    double[] scaled = new double[total];
                    for (int i = 0; i < total; i++) {
                        scaled[i] = 150f * (float) x[i];
                    }
                    compare("scale" + size, rounded(scaled), y.read(), 0, 0);
                    double[] sum = rounded(PointwiseReference.add(x, dy));
                    pw.add(xb, dyb, y);
                    compare("add" + size, sum, y.read(), 0, 0);
                    pw.accumulate(dyb, xb); // x += dy in place
                    compare("accumulate" + size, sum, xb.read(), 0, 0);
                }
            }
        }
    }

    private void noise() {
        UniformNoise noise = new UniformNoise(ctx);
        long seed = 0x5EEDF00DL + random.nextInt(1000);
        for (int n : LENGTHS) {
            for (int offset : new int[] {0, 13}) {
                ClBuffer x = zeros(n);
                noise.fill(x, seed, offset, -1f, 1f);
                float[] ref = NoiseReference.uniform(seed, offset, n, -1f, 1f);
                compare("fill n=" + n + " offset " + offset, toDouble(ref), x.read(), 0, 0);
            }
        }
    }

    /** c, hi, wi, ho, wo, degrees, zoom: a 1x1 input, views past the border (reflections), rotations. */
    private static final double[][] WARP_CASES = {{3, 1, 1, 3, 2, 30, 1.0}, {2, 7, 5, 6, 9, -33, 0.6}, {3, 9, 11, 9, 11, 95, 1.3}};

    /**
     * The augmentation's affine warp (bilinear, reflect-101 border) and its adjoint, a gather; tolerances
     * as WarpTest: forward 1e-5 absolute, backward 1e-4 absolute + 1e-5 relative.
     */
    private void warp() {
        Warp warp = new Warp(ctx);
        for (double[] k : WARP_CASES) {
            int c = (int) k[0], hi = (int) k[1], wi = (int) k[2], ho = (int) k[3], wo = (int) k[4];
            WarpTransform t = WarpTransform.view(k[5], k[6], 0.5, -0.25, wi, hi, wo, ho);
            double[] a = t.coefficients();
            String shape = c + "x" + hi + "x" + wi + " -> " + ho + "x" + wo + " " + k[5] + " deg";
            double[] x = uniform(c * hi * wi, -1, 1), dy = uniform(c * ho * wo, -1, 1);
            ClBuffer y = zeros(c, ho, wo);
            warp.forward(buffer(x, c, hi, wi), t, y);
            compare("warp y " + shape, WarpReference.forward(x, c, hi, wi, ho, wo, a), y.read(), 1e-5, 0);
            ClBuffer dx = buffer(uniform(x.length, -1, 1), c, hi, wi); // overwritten
            warp.backward(buffer(dy, c, ho, wo), t, dx, false);
            compare("warp dx " + shape, WarpReference.backward(dy, c, hi, wi, ho, wo, a), dx.read(),
                    1e-4, 1e-5);
        }
    }
}
