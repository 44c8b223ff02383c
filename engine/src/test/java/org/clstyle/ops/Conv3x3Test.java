package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.stream.Stream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Conv3x3 kernels against the double-precision reference on random inputs in [-1, 1]. Tolerance:
 * float sums of K products of magnitude <= 1 (K = Cin*9, Cout*9 or H*W) round with an error that
 * grows with K, so atol = 1e-5 + 1e-6 * K, rtol = 1e-4. A wrong index or tap gives errors of order 0.1.
 */
class Conv3x3Test {
    private static ClContext ctx;
    private static Conv3x3 conv;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        conv = new Conv3x3(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static Stream<Arguments> shapes() {
        // cin, cout, h, w: channel counts 1, 3, 5, 64, 67 in several pairings; planes 1x1, 7x5, 13x11
        // (several N tiles), and 67 channels (several M and K tiles with a ragged last one).
        return Stream.of(
                Arguments.of(1, 1, 1, 1), Arguments.of(3, 5, 7, 5), Arguments.of(5, 3, 13, 11),
                Arguments.of(1, 64, 13, 11), Arguments.of(64, 1, 7, 5), Arguments.of(67, 64, 1, 1),
                Arguments.of(64, 67, 13, 11), Arguments.of(67, 5, 7, 5), Arguments.of(3, 67, 13, 11),
                Arguments.of(67, 67, 5, 7));
    }

    private static double atol(int k) {
        return 1e-5 + 1e-6 * k;
    }

    @ParameterizedTest(name = "cin={0} cout={1} {2}x{3}")
    @MethodSource("shapes")
    void forwardMatchesReference(int cin, int cout, int h, int w) {
        checkForward(conv, cin, cout, h, w);
    }

    @ParameterizedTest(name = "cin={0} cout={1} {2}x{3}")
    @MethodSource("shapes")
    void backwardsMatchReference(int cin, int cout, int h, int w) {
        checkBackward(conv, cin, cout, h, w);
    }

    /**
     * Other tile configurations (the fallbacks, non-square ones an autotuner may pick, vector widths
     * 8, 4, 2, 1, a one-work-item group) give the same results.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tileConfigs")
    void otherTileSizesMatchReference(Map<String, Integer> tiles) {
        Conv3x3 c = new Conv3x3(ctx, tiles);
        checkForward(c, 67, 5, 13, 11);
        checkBackward(c, 5, 67, 7, 5);
    }

    static Stream<Map<String, Integer>> tileConfigs() {
        return Stream.of(
                Map.of("TS_M", 16, "TS_N", 16, "TS_K", 16, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 4, "TS_N", 4, "TS_K", 4, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 32, "TS_N", 64, "TS_K", 8, "WPT_M", 4, "WPT_N", 8),
                Map.of("TS_M", 24, "TS_N", 40, "TS_K", 5, "WPT_M", 3, "WPT_N", 5),
                Map.of("TS_M", 16, "TS_N", 32, "TS_K", 8, "WPT_M", 2, "WPT_N", 8, "VW", 2),
                Map.of("TS_M", 6, "TS_N", 16, "TS_K", 32, "WPT_M", 6, "WPT_N", 16)); // one work-item, no barriers
    }

    private static void checkForward(Conv3x3 c, int cin, int cout, int h, int w) {
        float[] x = Tensors.uniform(100 + cin, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(200 + cout, cout * cin * 9, -1, 1);
        float[] b = Tensors.uniform(300, cout, -1, 1);
        for (boolean relu : new boolean[] {false, true}) {
            double[] ref = Conv3x3Reference.forward(Tensors.toDouble(x), cin, h, w, Tensors.toDouble(wt),
                    Tensors.toDouble(b), cout, relu);
            try (ClBuffer dx = ctx.buffer(x, cin, h, w); ClBuffer dw = ctx.buffer(wt, cout, cin, 3, 3);
                    ClBuffer db = ctx.buffer(b, cout); ClBuffer dy = ctx.buffer(cout, h, w)) {
                c.forward(dx, dw, db, dy, relu);
                Tensors.assertClose("forward relu=" + relu, toFloat(ref), dy.read(), atol(cin * 9), 1e-4);
            }
        }
    }

    private static void checkBackward(Conv3x3 c, int cin, int cout, int h, int w) {
        float[] x = Tensors.uniform(400 + cin, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(500 + cout, cout * cin * 9, -1, 1);
        float[] g = Tensors.uniform(600, cout * h * w, -1, 1);
        // A ReLU output with about half its entries zero, as the mask.
        float[] y = Tensors.uniform(700, cout * h * w, -1, 1);
        for (int k = 0; k < y.length; k++) y[k] = Math.max(0, y[k]);
        for (boolean relu : new boolean[] {false, true}) {
            double[] mask = relu ? Tensors.toDouble(y) : null;
            double[] refDx = Conv3x3Reference.backwardInput(Tensors.toDouble(g), Tensors.toDouble(wt), mask, cin, cout, h, w);
            double[] refDw = Conv3x3Reference.backwardWeight(Tensors.toDouble(x), Tensors.toDouble(g), mask, cin, cout, h, w);
            double[] refDb = Conv3x3Reference.backwardBias(Tensors.toDouble(g), mask, cout, h, w);
            try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(wt, cout, cin, 3, 3);
                    ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer by = ctx.buffer(y, cout, h, w);
                    ClBuffer dx = ctx.buffer(cin, h, w); ClBuffer dw = ctx.buffer(cout, cin, 3, 3);
                    ClBuffer db = ctx.buffer(cout)) {
                // Garbage in the outputs: the kernels must overwrite, not add.
                dx.write(Tensors.uniform(1, cin * h * w, 50, 60));
                dw.write(Tensors.uniform(2, cout * cin * 9, 50, 60));
                db.write(Tensors.uniform(3, cout, 50, 60));
                ClBuffer m = relu ? by : null;
                c.backwardInput(bg, bw, m, dx);
                c.backwardWeights(bx, bg, m, dw, db);
                Tensors.assertClose("backwardInput relu=" + relu, toFloat(refDx), dx.read(), atol(cout * 9), 1e-4);
                Tensors.assertClose("backwardWeights dW relu=" + relu, toFloat(refDw), dw.read(), atol(h * w), 1e-4);
                Tensors.assertClose("backwardWeights dBias relu=" + relu, toFloat(refDb), db.read(), atol(h * w), 1e-4);
            }
        }
    }

    @Test
    void biasReductionIsDeterministic() {
        int cout = 3, h = 67, w = 61;
        float[] g = Tensors.normal(9, cout * h * w, 1);
        try (ClBuffer x = ctx.buffer(1, h, w); ClBuffer bg = ctx.buffer(g, cout, h, w);
                ClBuffer dw = ctx.buffer(cout, 1, 3, 3); ClBuffer db = ctx.buffer(cout)) {
            x.write(new float[h * w]);
            conv.backwardWeights(x, bg, null, dw, db);
            float[] first = db.read();
            double[] ref = Conv3x3Reference.backwardBias(Tensors.toDouble(g), null, cout, h, w);
            Tensors.assertClose("dBias", toFloat(ref), first, atol(h * w), 1e-4);
            for (int rep = 0; rep < 3; rep++) {
                conv.backwardWeights(x, bg, null, dw, db);
                assertTrue(java.util.Arrays.equals(first, db.read()), "dBias differs between identical runs");
            }
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        try (ClBuffer x = ctx.buffer(3, 5, 5); ClBuffer w = ctx.buffer(4, 3, 3, 3); ClBuffer b = ctx.buffer(4);
                ClBuffer y = ctx.buffer(4, 5, 5); ClBuffer wrongW = ctx.buffer(4, 2, 3, 3);
                ClBuffer fiveByFive = ctx.buffer(4, 5, 5, 1); ClBuffer wrongB = ctx.buffer(5);
                ClBuffer wrongY = ctx.buffer(4, 5, 6)) {
            assertMessage(() -> conv.forward(x, wrongW, b, y, false), "channels");
            assertMessage(() -> conv.forward(x, fiveByFive, b, y, false), "weight");
            assertMessage(() -> conv.forward(x, w, wrongB, y, false), "bias");
            assertMessage(() -> conv.forward(x, w, b, wrongY, false), "y has shape");
            assertMessage(() -> conv.backwardInput(wrongY, w, null, x), "dy has shape");
            assertMessage(() -> conv.backwardInput(y, w, wrongY, x), "reluOutput");
            assertMessage(() -> conv.backwardWeights(x, y, null, wrongW, b), "channels");
        }
        assertMessage(() -> new Conv3x3(ctx, Map.of("TS_M", 30, "WPT_M", 8)), "multiple of WPT_M");
        assertMessage(() -> new Conv3x3(ctx, Map.of("WPT_N", 8, "VW", 16)), "WPT_N of VW");
    }

    private static void assertMessage(Runnable r, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should mention '" + part + "'");
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
