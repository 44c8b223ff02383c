package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.VectorReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * VectorOps kernels against VectorReference. Tolerances: dot atol 2e-6 * sum|a b| (float sum with
 * cancellation), sumAbs rtol 1e-5, axpy/scale atol 1e-6 + rtol 1e-6, Adam after 5 steps atol 1e-6 +
 * rtol 1e-5 on parameters and moments; fill and copy exact.
 */
class VectorOpsTest {
    private static ClContext ctx;
    private static VectorOps vec;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        vec = new VectorOps(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    // 1, 7x5, 13x11, 64 channels of 7x5, 67x37x29: none a multiple of the work-group size.
    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {1, 35, 143, 64 * 35, 67 * 37 * 29})
    void reductionsMatchReference(int n) {
        float[] a = Tensors.normal(n, n, 1), b = Tensors.normal(n + 1, n, 1);
        double[] ad = Tensors.toDouble(a), bd = Tensors.toDouble(b);
        double absDot = 0;
        for (int i = 0; i < n; i++) absDot += Math.abs(ad[i] * bd[i]);
        try (ClBuffer ab = ctx.buffer(a, n); ClBuffer bb = ctx.buffer(b, n); ClBuffer out = ctx.buffer(3)) {
            vec.dot(ab, bb, out, 1);
            vec.sumAbs(ab, out, 2);
            Tensors.assertClose("dot", VectorReference.dot(ad, bd), out.read(1), 2e-6 * absDot, 0);
            Tensors.assertClose("sumAbs", VectorReference.sumAbs(ad), out.read(2), 0, 1e-5);
            Tensors.assertClose("blocking dot", VectorReference.dot(ad, bd), vec.dot(ab, bb), 2e-6 * absDot, 0);
        }
    }

    @Test
    void sameReductionTwiceIsBitIdentical() {
        int n = 67 * 37 * 29;
        try (ClBuffer a = ctx.buffer(Tensors.normal(71, n, 1), n); ClBuffer b = ctx.buffer(Tensors.normal(72, n, 1), n);
                ClBuffer out = ctx.buffer(4)) {
            vec.dot(a, b, out, 0);
            vec.sumAbs(a, out, 1);
            vec.dot(a, b, out, 2);
            vec.sumAbs(a, out, 3);
            float[] o = out.read();
            assertEquals(Float.floatToRawIntBits(o[0]), Float.floatToRawIntBits(o[2]), "dot run twice");
            assertEquals(Float.floatToRawIntBits(o[1]), Float.floatToRawIntBits(o[3]), "sumAbs run twice");
        }
    }

    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {1, 143, 67 * 37 * 29})
    void elementwiseMatchReference(int n) {
        float[] x = Tensors.normal(n + 5, n, 1), y = Tensors.normal(n + 6, n, 1);
        double[] xd = Tensors.toDouble(x), yd = Tensors.toDouble(y);
        try (ClBuffer xb = ctx.buffer(x, n); ClBuffer yb = ctx.buffer(y, n); ClBuffer coef = ctx.buffer(new float[] {9, 0.75f}, 2);
                ClBuffer zb = ctx.buffer(n)) {
            vec.axpy(-1.5f, xb, yb);
            double[] expect = VectorReference.axpy(-1.5, xd, yd);
            Tensors.assertClose("axpy", toFloat(expect), yb.read(), 1e-6, 1e-6);
            vec.axpy(coef, 1, -2f, xb, yb); // y += -2 * 0.75 * x
            expect = VectorReference.axpy(-1.5, xd, expect);
            Tensors.assertClose("axpy device coefficient", toFloat(expect), yb.read(), 1e-6, 1e-6);
            vec.scale(yb, 0.3f);
            expect = VectorReference.scale(expect, 0.3);
            Tensors.assertClose("scale", toFloat(expect), yb.read(), 1e-6, 1e-6);
            vec.copy(yb, zb);
            Tensors.assertClose("copy", yb.read(), zb.read(), 0, 0);
            vec.fill(zb, -4.25f);
            float[] filled = new float[n];
            java.util.Arrays.fill(filled, -4.25f);
            Tensors.assertClose("fill", filled, zb.read(), 0, 0);
        }
    }

    @ParameterizedTest(name = "n = {0}")
    @ValueSource(ints = {1, 143, 67 * 37 * 29})
    void adamMatchesReferenceOverSteps(int n) {
        float[] p = Tensors.uniform(n + 7, n, 0, 1);
        double[] pd = Tensors.toDouble(p), md = new double[n], vd = new double[n];
        float lr = 0.02f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
        try (ClBuffer pb = ctx.buffer(p, n); ClBuffer gb = ctx.buffer(n); ClBuffer mb = ctx.buffer(n); ClBuffer vb = ctx.buffer(n)) {
            vec.fill(mb, 0f);
            vec.fill(vb, 0f);
            for (int t = 1; t <= 5; t++) {
                float[] g = Tensors.normal(n * 10L + t, n, 1);
                gb.write(g);
                vec.adam(pb, gb, mb, vb, lr, b1, b2, eps, t);
                // The reference takes the decimals the caller wrote (0.9, not 0.9f), as PyTorch would.
                VectorReference.adam(pd, Tensors.toDouble(g), md, vd, 0.02, 0.9, 0.999, 1e-8, t);
            }
            Tensors.assertClose("adam m", toFloat(md), mb.read(), 1e-6, 1e-5);
            Tensors.assertClose("adam v", toFloat(vd), vb.read(), 1e-6, 1e-5);
            Tensors.assertClose("adam param", toFloat(pd), pb.read(), 1e-6, 1e-5);
        }
    }

    @Test
    void rejectsMismatchedSizes() {
        try (ClBuffer a = ctx.buffer(5); ClBuffer b = ctx.buffer(6); ClBuffer out = ctx.buffer(1)) {
            assertThrows(IllegalArgumentException.class, () -> vec.dot(a, b, out, 0));
            assertThrows(IllegalArgumentException.class, () -> vec.axpy(1f, a, b));
            assertThrows(IllegalArgumentException.class, () -> vec.axpy(out, 1, 1f, a, a));
            assertThrows(IllegalArgumentException.class, () -> vec.copy(a, b));
            assertThrows(IllegalArgumentException.class, () -> vec.adam(a, a, a, a, 0.1f, 0.9f, 0.999f, 1e-8f, 0));
        }
    }
}
