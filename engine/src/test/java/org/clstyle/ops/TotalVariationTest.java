package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.TotalVariationReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * TotalVariation kernels against TotalVariationReference. Tolerances: forward atol 1e-6 + rtol 1e-5
 * (a float sum of non-negative terms); backward atol 1e-5 |scale| + rtol 1e-5 (up to four terms of
 * size <= 4 with cancellation).
 */
class TotalVariationTest {
    private static ClContext ctx;
    private static TotalVariation tv;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        tv = new TotalVariation(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 1, 1", "3, 7, 5", "5, 13, 11", "1, 13, 11", "64, 7, 5", "67, 37, 29", "3, 1, 9", "2, 9, 1"})
    void matchReference(int c, int h, int w) {
        int n = c * h * w;
        float[] x = Tensors.uniform(c * 13L + w, n, -1, 1);
        for (int k = 0; k + 1 < n; k += 5) x[k + 1] = x[k]; // some zero differences: sign(0) = 0
        float[] start = Tensors.uniform(5, n, -1, 1);
        double[] xd = Tensors.toDouble(x);
        float scale = -1.5f;
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer out = ctx.buffer(2); ClBuffer grad = ctx.buffer(start, c, h, w)) {
            tv.forward(TotalVariation.Kind.L2, xb, out, 0);
            tv.forward(TotalVariation.Kind.L1, xb, out, 1);
            float[] o = out.read();
            Tensors.assertClose("tv l2", TotalVariationReference.l2(xd, c, h, w), o[0], 1e-6, 1e-5);
            Tensors.assertClose("tv l1", TotalVariationReference.l1(xd, c, h, w), o[1], 1e-6, 1e-5);

            double atol = 1e-5 * Math.abs(scale);
            tv.backward(TotalVariation.Kind.L2, xb, scale, grad, false);
            Tensors.assertClose("tv l2 backward", toFloat(TotalVariationReference.l2Backward(xd, c, h, w, scale)),
                    grad.read(), atol, 1e-5);
            tv.backward(TotalVariation.Kind.L1, xb, scale, grad, false);
            Tensors.assertClose("tv l1 backward", toFloat(TotalVariationReference.l1Backward(xd, c, h, w, scale)),
                    grad.read(), atol, 1e-5);
            grad.write(start);
            tv.backward(TotalVariation.Kind.L2, xb, scale, grad, true);
            tv.backward(TotalVariation.Kind.L1, xb, scale, grad, true);
            double[] both = DistanceTest.add(TotalVariationReference.l2Backward(xd, c, h, w, scale),
                    TotalVariationReference.l1Backward(xd, c, h, w, scale));
            Tensors.assertClose("tv backward accumulate", toFloat(DistanceTest.add(Tensors.toDouble(start), both)),
                    grad.read(), atol, 1e-5);
        }
    }

    @Test
    void sameReductionTwiceIsBitIdentical() {
        int c = 67, h = 37, w = 29;
        try (ClBuffer x = ctx.buffer(Tensors.normal(51, c * h * w, 1), c, h, w); ClBuffer out = ctx.buffer(4)) {
            tv.forward(TotalVariation.Kind.L2, x, out, 0);
            tv.forward(TotalVariation.Kind.L1, x, out, 1);
            tv.forward(TotalVariation.Kind.L2, x, out, 2);
            tv.forward(TotalVariation.Kind.L1, x, out, 3);
            float[] o = out.read();
            assertEquals(Float.floatToRawIntBits(o[0]), Float.floatToRawIntBits(o[2]), "L2 run twice");
            assertEquals(Float.floatToRawIntBits(o[1]), Float.floatToRawIntBits(o[3]), "L1 run twice");
        }
    }

    @Test
    void rejectsNonImages() {
        try (ClBuffer flat = ctx.buffer(12); ClBuffer out = ctx.buffer(1); ClBuffer x = ctx.buffer(1, 3, 4);
                ClBuffer g = ctx.buffer(1, 4, 3)) {
            assertThrows(IllegalArgumentException.class, () -> tv.forward(TotalVariation.Kind.L2, flat, out, 0));
            assertThrows(IllegalArgumentException.class, () -> tv.backward(TotalVariation.Kind.L2, x, 1f, g, false));
        }
    }
}
