package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * GramMatrix kernels against the double-precision reference on random inputs in [-1, 1]. Each
 * output is a float sum of K products (K = H*W forward, K = C backward) scaled by 1/n; tolerance
 * atol = (1e-5 + 1e-6 * K) * scale with scale = K / n (the largest possible output), rtol = 1e-4.
 * Every shape runs on both variants (GEMM for GPUs, DIRECT for CPUs) whatever the device; the
 * tile-size tests force GEMM, the direct-define tests force DIRECT (small GRAM_KC exercises the
 * chunked forward with its partial sums and reduction).
 */
class GramMatrixTest {
    private static ClContext ctx;
    private static GramMatrix gram;
    private static GramMatrix gemm;
    private static GramMatrix direct;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        gram = new GramMatrix(ctx);
        gemm = new GramMatrix(ctx, Map.of(), GramMatrix.Variant.GEMM);
        direct = new GramMatrix(ctx, Map.of(), GramMatrix.Variant.DIRECT);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static Stream<Arguments> shapes() {
        // c, h, w; n = c*h*w (the usual normaliser), except where noted by the test.
        return Stream.of(Arguments.of(1, 1, 1), Arguments.of(3, 7, 5), Arguments.of(5, 13, 11),
                Arguments.of(64, 7, 5), Arguments.of(67, 13, 11), Arguments.of(64, 1, 1), Arguments.of(67, 5, 7));
    }

    private static double atol(int k, double n) {
        return (1e-5 + 1e-6 * k) * Math.max(1, k / n);
    }

    @ParameterizedTest(name = "c={0} {1}x{2}")
    @MethodSource("shapes")
    void gemmMatchesReference(int c, int h, int w) {
        check(gemm, c, h, w, (double) c * h * w);
        check(gemm, c, h, w, 1.0);
    }

    @ParameterizedTest(name = "c={0} {1}x{2}")
    @MethodSource("shapes")
    void directMatchesReference(int c, int h, int w) {
        check(direct, c, h, w, (double) c * h * w);
        check(direct, c, h, w, 1.0);
    }

    @Test
    void variantFollowsDeviceType() {
        GramMatrix.Variant expect = !ctx.device().isGpu() && ctx.device().type().contains("CPU")
                ? GramMatrix.Variant.DIRECT : GramMatrix.Variant.GEMM;
        assertEquals(expect, gram.variant());
        assertEquals(GramMatrix.Variant.GEMM, gemm.variant());
        assertEquals(GramMatrix.Variant.DIRECT, direct.variant());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("directConfigs")
    void otherDirectConfigsMatchReference(Map<String, Integer> defines) {
        GramMatrix g = new GramMatrix(ctx, defines, GramMatrix.Variant.DIRECT);
        check(g, 67, 13, 11, 67.0 * 13 * 11);
        check(g, 5, 7, 5, 2.5);
        check(g, 1, 1, 1, 1.0);
    }

    static Stream<Map<String, Integer>> directConfigs() {
        return Stream.of(
                Map.of("GRAM_KC", 8),                    // 18 chunks of 143 with a 7-column last one
                Map.of("GRAM_KC", 16, "DIRECT_WG", 1, "BACKWARD_WG", 1),
                Map.of("BACKWARD_WG", 5),                // 12 row blocks of 67 in groups of 5: idle items in the last
                Map.of("BACKWARD_WG", 3, "PANEL_KB", 16), // 3 column blocks per panel at C=67: panels past n
                Map.of("GM", 2, "GN", 3, "MR", 5, "NV", 1, "GRAM_KC", 24),
                Map.of("GM", 4, "GN", 2, "MR", 4, "NV", 3, "DIRECT_WG", 7));
    }

    @Test
    void directReusesScratchAcrossShapes() {
        // Large chunked layer first, then smaller ones and again a larger one: scratch grows and is reused.
        GramMatrix g = new GramMatrix(ctx, Map.of("GRAM_KC", 16), GramMatrix.Variant.DIRECT);
        check(g, 67, 13, 11, 67.0 * 13 * 11);
        check(g, 3, 7, 5, 105);
        check(g, 64, 7, 5, 1.0);
    }

    @Test
    void directBackwardAfterForwardAllocatesNothing() {
        GramMatrix g = new GramMatrix(ctx, Map.of(), GramMatrix.Variant.DIRECT);
        try (ClBuffer f = ctx.buffer(Tensors.uniform(5, 67 * 35, -1, 1), 67, 7, 5); ClBuffer gm = ctx.buffer(67, 67);
                ClBuffer df = ctx.buffer(67, 7, 5)) {
            g.forward(f, gm, 1.0);
            long before = ctx.allocatedBytes();
            g.backward(gm, f, df, 1.0, false);
            g.forward(f, gm, 1.0);
            ctx.finish();
            assertEquals(before, ctx.allocatedBytes(), "device bytes allocated after the first forward");
        }
    }

    @Test
    void directChunkedForwardOnALargerInputAllocatesNothing() {
        // N = 16384 runs as two chunks with the default chunk length: partial sums and their reduction.
        GramMatrix g = new GramMatrix(ctx, Map.of(), GramMatrix.Variant.DIRECT);
        int c = 64, side = 128, cols = side * side;
        float[] f = Tensors.uniform(6, c * cols, -1, 1);
        double[] ref = GramMatrixReference.forward(Tensors.toDouble(f), c, cols, cols);
        try (ClBuffer small = ctx.buffer(c, 7, 5); ClBuffer big = ctx.buffer(f, c, side, side);
                ClBuffer gm = ctx.buffer(c, c)) {
            g.forward(small, gm, 1.0);
            long before = ctx.allocatedBytes();
            g.forward(big, gm, cols);
            Tensors.assertClose("G chunked", Conv3x3Test.toFloat(ref), gm.read(), atol(cols, cols), 1e-4);
            assertEquals(before, ctx.allocatedBytes(), "device bytes allocated by the larger forward");
        }
    }

    /**
     * The GEMM forward split along N (split-K, upper tiles only, chunks summed in order by the reduce):
     * forced chunk counts including one more than the columns allow and chunks of unequal length, every
     * tile size with square tiles, C spanning one tile and several (the mirrored lower tiles), against
     * the reference at the usual tolerance; the backward is unchanged. Also: the default choice splits
     * when the upper tiles are fewer than the work-groups wanted, and not when they are enough.
     */
    @ParameterizedTest(name = "chunks={0}")
    @ValueSource(ints = {2, 3, 7, 64, 100000})
    void splitKForwardMatchesReference(int chunks) {
        for (Map<String, Integer> tiles : List.of(Map.<String, Integer>of(),
                Map.of("TS_M", 16, "TS_N", 16, "TS_K", 16, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 4, "TS_N", 4, "TS_K", 4, "WPT_M", 4, "WPT_N", 4))) {
            Map<String, Integer> defines = new java.util.HashMap<>(tiles);
            defines.put("GRAM_CHUNKS", chunks);
            GramMatrix g = new GramMatrix(ctx, defines, GramMatrix.Variant.GEMM);
            check(g, 67, 13, 11, 67.0 * 13 * 11);
            check(g, 5, 29, 31, 1.0);
            check(g, 64, 1, 1, 64.0);
            check(g, 3, 7, 5, 2.5);
        }
    }

    @Test
    void splitKIsChosenOnlyWhenTheTilesCannotFillTheDevice() {
        GramMatrix wants64 = new GramMatrix(ctx, Map.of("SPLIT_GROUPS", 64), GramMatrix.Variant.GEMM);
        assertEquals(64, wants64.splitChunks(64, 1 << 20), "one 64x64 tile, 64 groups wanted");
        assertEquals(5, wants64.splitChunks(300, 1 << 20), "15 upper tiles of 64: 5 chunks make 75 groups");
        assertEquals(1, wants64.splitChunks(1024, 1 << 20), "136 upper tiles fill 64 groups");
        assertEquals(1, wants64.splitChunks(64, 16 * 16), "N too short for two chunks of 16 steps of TS_K");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("tileConfigs")
    void otherTileSizesMatchReference(Map<String, Integer> tiles) {
        GramMatrix g = new GramMatrix(ctx, tiles, GramMatrix.Variant.GEMM);
        check(g, 67, 13, 11, 67.0 * 13 * 11);
        check(g, 5, 7, 5, 2.5);
    }

    static Stream<Map<String, Integer>> tileConfigs() {
        return Stream.of(
                Map.of("TS_M", 16, "TS_N", 16, "TS_K", 16, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 4, "TS_N", 4, "TS_K", 4, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 24, "TS_N", 40, "TS_K", 5, "WPT_M", 3, "WPT_N", 5),
                Map.of("TS_M", 6, "TS_N", 16, "TS_K", 32, "WPT_M", 6, "WPT_N", 16),
                Map.of("TS_M", 128, "TS_N", 128, "TS_K", 16, "WPT_M", 8, "WPT_N", 8, "VW", 4), // the tuner's GPU-sized tile
                // Two pairs of local tiles, K steps alternating: the GPU tile, and an awkward one (K steps of 5).
                Map.of("TS_M", 128, "TS_N", 128, "TS_K", 8, "WPT_M", 8, "WPT_N", 8, "VW", 4, "GEMM_DOUBLE_BUFFER", 1),
                Map.of("TS_M", 24, "TS_N", 40, "TS_K", 5, "WPT_M", 3, "WPT_N", 5, "GEMM_DOUBLE_BUFFER", 1));
    }

    private static void check(GramMatrix gm, int c, int h, int w, double n) {
        int cols = h * w;
        float[] f = Tensors.uniform(10 + c, c * cols, -1, 1);
        float[] dg = Tensors.uniform(20 + c, c * c, -1, 1); // not symmetric
        float[] init = Tensors.uniform(30, c * cols, -1, 1);
        double[] refG = GramMatrixReference.forward(Tensors.toDouble(f), c, cols, n);
        double[] refDf = GramMatrixReference.backward(Tensors.toDouble(dg), Tensors.toDouble(f), c, cols, n);
        try (ClBuffer bf = ctx.buffer(f, c, h, w); ClBuffer bg = ctx.buffer(c, c); ClBuffer bdg = ctx.buffer(dg, c, c);
                ClBuffer bdf = ctx.buffer(c, h, w)) {
            gm.forward(bf, bg, n);
            Tensors.assertClose("G c=" + c + " n=" + n, Conv3x3Test.toFloat(refG), bg.read(), atol(cols, n), 1e-4);

            bdf.write(Tensors.uniform(1, c * cols, 50, 60)); // overwritten when not accumulating
            gm.backward(bdg, bf, bdf, n, false);
            Tensors.assertClose("dF c=" + c + " n=" + n, Conv3x3Test.toFloat(refDf), bdf.read(), atol(c, n), 1e-4);

            bdf.write(init);
            gm.backward(bdg, bf, bdf, n, true);
            float[] expect = new float[init.length];
            for (int i = 0; i < expect.length; i++) expect[i] = (float) (init[i] + refDf[i]);
            Tensors.assertClose("dF accumulate c=" + c + " n=" + n, expect, bdf.read(), atol(c, n), 1e-4);
        }
    }

    @ParameterizedTest
    @EnumSource(GramMatrix.Variant.class)
    void acceptsAnyShapeWithChannelsFirst(GramMatrix.Variant variant) {
        GramMatrix gm = variant == GramMatrix.Variant.GEMM ? gemm : direct;
        int c = 5, cols = 9;
        float[] f = Tensors.uniform(40, c * cols, -1, 1);
        double[] ref = GramMatrixReference.forward(Tensors.toDouble(f), c, cols, 3);
        try (ClBuffer flat = ctx.buffer(f, c, cols); ClBuffer g = ctx.buffer(c, c)) {
            gm.forward(flat, g, 3);
            Tensors.assertClose("G of [C, N]", Conv3x3Test.toFloat(ref), g.read(), atol(cols, 3), 1e-4);
        }
    }

    @ParameterizedTest
    @EnumSource(GramMatrix.Variant.class)
    void rejectsMismatchedShapes(GramMatrix.Variant variant) {
        GramMatrix gram = variant == GramMatrix.Variant.GEMM ? gemm : direct;
        try (ClBuffer f = ctx.buffer(4, 3, 3); ClBuffer g = ctx.buffer(4, 4); ClBuffer wrongG = ctx.buffer(4, 5);
                ClBuffer wrongF = ctx.buffer(4, 9)) {
            assertMessage(() -> gram.forward(f, wrongG, 1), "g has shape");
            assertMessage(() -> gram.backward(wrongG, f, f, 1, false), "dg has shape");
            assertMessage(() -> gram.backward(g, f, wrongF, 1, false), "df has shape");
            assertMessage(() -> gram.forward(f, g, 0), "normaliser");
            assertMessage(() -> gram.backward(g, f, f, Double.POSITIVE_INFINITY, true), "normaliser");
        }
    }

    private static void assertMessage(Runnable r, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should mention '" + part + "'");
    }
}
