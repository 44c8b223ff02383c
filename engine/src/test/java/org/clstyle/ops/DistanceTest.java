package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.DistanceReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Distance kernels against DistanceReference. Tolerances: forward rtol 1e-5 (a float sum of
 * non-negative terms); backward atol 1e-6 |coef| + rtol 1e-5, coef the largest gradient magnitude.
 */
class DistanceTest {
    private static ClContext ctx;
    private static Distance distance;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        distance = new Distance(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 1, 1", "3, 7, 5", "5, 13, 11", "1, 13, 11", "64, 7, 5", "67, 37, 29"})
    void matchReference(int c, int h, int w) {
        int n = c * h * w;
        float[] a = Tensors.normal(c + 17L * h, n, 1);
        float[] b = Tensors.normal(c + 17L * h + 1, n, 1);
        float[] start = Tensors.uniform(3, n, -1, 1);
        b[0] = a[0]; // one zero difference: L1's sign(0) = 0
        double[] ad = Tensors.toDouble(a), bd = Tensors.toDouble(b);
        float scale = 2.5f;
        try (ClBuffer ab = ctx.buffer(a, c, h, w); ClBuffer bb = ctx.buffer(b, c, h, w);
                ClBuffer out = ctx.buffer(new float[] {7, 7, 7}, 3); ClBuffer grad = ctx.buffer(start, c, h, w)) {
            distance.forward(Distance.Kind.MSE, ab, bb, out, 0);
            distance.forward(Distance.Kind.L1, ab, bb, out, 2);
            float[] o = out.read();
            Tensors.assertClose("mse", DistanceReference.mse(ad, bd), o[0], 0, 1e-5);
            Tensors.assertClose("l1", DistanceReference.l1(ad, bd), o[2], 0, 1e-5);
            assertEquals(7f, o[1], "untouched output slot");

            double mseCoef = 2.0 * scale / n * 8; // |a - b| rarely exceeds 8 for unit normals
            distance.backward(Distance.Kind.MSE, ab, bb, scale, grad, false);
            Tensors.assertClose("mse backward", toFloat(DistanceReference.mseBackward(ad, bd, scale)), grad.read(),
                    1e-6 * mseCoef, 1e-5);
            grad.write(start);
            distance.backward(Distance.Kind.MSE, ab, bb, scale, grad, true);
            Tensors.assertClose("mse backward accumulate", toFloat(add(Tensors.toDouble(start),
                    DistanceReference.mseBackward(ad, bd, scale))), grad.read(), 1e-6, 1e-5);

            double l1Coef = (double) scale / n;
            distance.backward(Distance.Kind.L1, ab, bb, scale, grad, false);
            float[] l1 = grad.read();
            Tensors.assertClose("l1 backward", toFloat(DistanceReference.l1Backward(ad, bd, scale)), l1,
                    1e-6 * l1Coef, 1e-5);
            assertEquals(0f, l1[0], "sign(0) = 0");
            grad.write(start);
            distance.backward(Distance.Kind.L1, ab, bb, scale, grad, true);
            Tensors.assertClose("l1 backward accumulate", toFloat(add(Tensors.toDouble(start),
                    DistanceReference.l1Backward(ad, bd, scale))), grad.read(), 1e-6, 1e-5);
        }
    }

    /** The scaled sums factor * sum (a - b)^2 and factor * sum |a - b| (sse_half, the paper's style normalisation). */
    @ParameterizedTest(name = "[{0}, {1}, {2}] factor {3}")
    @CsvSource({"1, 1, 1, 0.5", "3, 7, 5, 0.5", "67, 37, 29, 0.5", "5, 13, 11, 1e-9", "64, 1, 64, 2.3283064365386963e-10"})
    void scaledSumsMatchReference(int c, int h, int w, double factor) {
        int n = c * h * w;
        float[] a = Tensors.normal(c + 31L * h, n, 30);
        float[] b = Tensors.normal(c + 31L * h + 1, n, 30);
        float[] start = Tensors.uniform(5, n, -1, 1);
        b[0] = a[0];
        double[] ad = Tensors.toDouble(a), bd = Tensors.toDouble(b);
        float scale = 1.75f;
        try (ClBuffer ab = ctx.buffer(a, c, h, w); ClBuffer bb = ctx.buffer(b, c, h, w);
                ClBuffer out = ctx.buffer(2); ClBuffer grad = ctx.buffer(start, c, h, w)) {
            distance.forward(Distance.Kind.MSE, ab, bb, factor, out, 0);
            distance.forward(Distance.Kind.L1, ab, bb, factor, out, 1);
            float[] o = out.read();
            Tensors.assertClose("sse", DistanceReference.sse(ad, bd, factor), o[0], 0, 1e-5);
            Tensors.assertClose("sae", DistanceReference.sae(ad, bd, factor), o[1], 0, 1e-5);

            double[] want = DistanceReference.sseBackward(ad, bd, factor, scale);
            distance.backward(Distance.Kind.MSE, ab, bb, factor, scale, grad, false);
            Tensors.assertClose("sse backward", toFloat(want), grad.read(), 1e-6 * maxAbs(want), 1e-5);
            grad.write(start);
            distance.backward(Distance.Kind.MSE, ab, bb, factor, scale, grad, true);
            double[] acc = add(Tensors.toDouble(start), want);
            Tensors.assertClose("sse backward accumulate", toFloat(acc), grad.read(), 1e-6 * maxAbs(acc), 1e-5);

            want = DistanceReference.saeBackward(ad, bd, factor, scale);
            distance.backward(Distance.Kind.L1, ab, bb, factor, scale, grad, false);
            float[] l1 = grad.read();
            Tensors.assertClose("sae backward", toFloat(want), l1, 1e-6 * maxAbs(want), 1e-5);
            assertEquals(0f, l1[0], "sign(0) = 0");
        }
    }

    @Test
    void rejectsBadFactor() {
        try (ClBuffer a = ctx.buffer(2, 3, 4); ClBuffer out = ctx.buffer(1)) {
            assertThrows(IllegalArgumentException.class, () -> distance.forward(Distance.Kind.MSE, a, a, 0.0, out, 0));
            assertThrows(IllegalArgumentException.class, () -> distance.forward(Distance.Kind.MSE, a, a, Double.NaN, out, 0));
            assertThrows(IllegalArgumentException.class, () -> distance.backward(Distance.Kind.L1, a, a, -1.0, 1f, a, false));
        }
    }

    static double maxAbs(double[] v) {
        double m = 0;
        for (double x : v) m = Math.max(m, Math.abs(x));
        return m;
    }

    @Test
    void sameReductionTwiceIsBitIdentical() {
        int c = 67, h = 37, w = 29, n = c * h * w;
        try (ClBuffer a = ctx.buffer(Tensors.normal(41, n, 1), c, h, w);
                ClBuffer b = ctx.buffer(Tensors.normal(42, n, 1), c, h, w);
                ClBuffer small = ctx.buffer(Tensors.normal(43, 35, 1), 1, 7, 5);
                ClBuffer out = ctx.buffer(4)) {
            distance.forward(Distance.Kind.MSE, a, b, out, 0);
            distance.forward(Distance.Kind.L1, a, b, out, 1);
            distance.forward(Distance.Kind.MSE, small, small, out, 3); // reuses the partials in between
            distance.forward(Distance.Kind.MSE, a, b, out, 2);
            float[] o = out.read();
            assertEquals(Float.floatToRawIntBits(o[0]), Float.floatToRawIntBits(o[2]), "MSE run twice");
            distance.forward(Distance.Kind.L1, a, b, out, 3);
            assertEquals(Float.floatToRawIntBits(o[1]), Float.floatToRawIntBits(out.read(3)), "L1 run twice");
        }
    }

    @ParameterizedTest(name = "work-group size {0}")
    @CsvSource({"1", "2", "32", "64"})
    void reductionIsRightForSmallWorkGroups(int wg) {
        // Devices with small work-group limits get REDUCE_WG below 256; 67*37*29 elements at wg 1
        // also hit the MAX_GROUPS cap (each work-item then sums a longer strided run).
        int n = 67 * 37 * 29;
        float[] a = Tensors.normal(81, n, 1), b = Tensors.normal(82, n, 1);
        Reduction reduction = new Reduction(ctx, wg);
        try (ClBuffer ab = ctx.buffer(a, n); ClBuffer bb = ctx.buffer(b, n); ClBuffer out = ctx.buffer(1)) {
            reduction.sum("loss", "mse_partials", n, 1.0 / n, out, 0, ab, bb, n);
            Tensors.assertClose("mse at work-group size " + wg,
                    DistanceReference.mse(Tensors.toDouble(a), Tensors.toDouble(b)), out.read(0), 0, 1e-5);
        }
    }

    @Test
    void rejectsMismatchedShapesAndIndex() {
        try (ClBuffer a = ctx.buffer(2, 3, 4); ClBuffer b = ctx.buffer(2, 4, 3); ClBuffer out = ctx.buffer(2)) {
            assertThrows(IllegalArgumentException.class, () -> distance.forward(Distance.Kind.MSE, a, b, out, 0));
            assertThrows(IllegalArgumentException.class, () -> distance.forward(Distance.Kind.MSE, a, a, out, 2));
            assertThrows(IllegalArgumentException.class, () -> distance.backward(Distance.Kind.L1, a, a, 1f, b, false));
        }
    }

    @Test
    void smallExample() {
        try (ClBuffer a = ctx.buffer(new float[] {1, 2, 3, 4}, 4); ClBuffer b = ctx.buffer(new float[] {1, 0, 4, 4}, 4);
                ClBuffer out = ctx.buffer(2); ClBuffer g = ctx.buffer(4)) {
            distance.forward(Distance.Kind.MSE, a, b, out, 0);
            distance.forward(Distance.Kind.L1, a, b, out, 1);
            assertArrayEquals(new float[] {1.25f, 0.75f}, out.read());
            distance.backward(Distance.Kind.L1, a, b, 1f, g, false);
            assertArrayEquals(new float[] {0, 0.25f, -0.25f, 0}, g.read());
        }
    }

    static double[] add(double[] a, double[] b) {
        double[] s = new double[a.length];
        for (int i = 0; i < a.length; i++) s[i] = a[i] + b[i];
        return s;
    }
}
