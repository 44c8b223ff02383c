package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.WarpReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Warp kernels against WarpReference. The kernel computes sample coordinates in float (up to ~1e-5
 * off at these magnitudes, moving a bilinear weight by as much), so: forward atol 1e-5 + rtol 1e-5 on
 * inputs in [-1, 1]; backward atol 1e-4 + rtol 1e-5 (an input pixel may gather from tens of outputs
 * when the view zooms out or reflects many times).
 */
class WarpTest {
    private static ClContext ctx;
    private static Warp warp;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        warp = new Warp(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}] -> [{3}, {4}], {5} deg, zoom {6}, shift {7}")
    @CsvSource({"3, 13, 11, 13, 11, 4.5, 1.03, 2.5", "1, 1, 1, 3, 2, 10, 1, 0", "3, 1, 9, 5, 7, -20, 0.7, 1.5",
            "2, 9, 1, 4, 4, 30, 1.2, -3", "5, 7, 5, 17, 19, 0, 0.4, 0", "3, 37, 29, 31, 23, -7, 0.95, 11.3",
            "3, 23, 19, 23, 19, 180, 1, 0", "1, 2, 2, 11, 13, 45, 0.2, 0.5", "67, 8, 6, 8, 6, 3, 1.5, -0.25"})
    void matchReference(int c, int hi, int wi, int ho, int wo, double deg, double zoom, double shift) {
        WarpTransform t = WarpTransform.view(deg, zoom, shift, 0.7 * shift, wi, hi, wo, ho);
        float[] x = Tensors.uniform(c * 7L + hi, c * hi * wi, -1, 1);
        float[] dy = Tensors.uniform(hi * 5L + wo, c * ho * wo, -1, 1);
        float[] start = Tensors.uniform(3, c * hi * wi, -1, 1);
        double[] a = t.coefficients();
        try (ClBuffer xb = ctx.buffer(x, c, hi, wi); ClBuffer yb = ctx.buffer(c, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, c, ho, wo); ClBuffer dxb = ctx.buffer(start, c, hi, wi)) {
            warp.forward(xb, t, yb);
            Tensors.assertClose("warp forward", toFloat(WarpReference.forward(Tensors.toDouble(x), c, hi, wi, ho, wo, a)),
                    yb.read(), 1e-5, 1e-5);
            double[] g = WarpReference.backward(Tensors.toDouble(dy), c, hi, wi, ho, wo, a);
            warp.backward(dyb, t, dxb, false);
            Tensors.assertClose("warp backward", toFloat(g), dxb.read(), 1e-4, 1e-5);
            dxb.write(start);
            warp.backward(dyb, t, dxb, true);
            Tensors.assertClose("warp backward accumulate", toFloat(DistanceTest.add(Tensors.toDouble(start), g)),
                    dxb.read(), 1e-4, 1e-5);
        }
    }

    @Test
    void backwardIsBitIdenticalWhenRepeated() {
        int c = 3, h = 41, w = 37;
        WarpTransform t = WarpTransform.view(6, 0.93, 3.3, -2.1, w, h, w - 8, h - 8);
        try (ClBuffer dy = ctx.buffer(Tensors.normal(9, c * (h - 8) * (w - 8), 1), c, h - 8, w - 8);
                ClBuffer dx = ctx.buffer(c, h, w)) {
            warp.backward(dy, t, dx, false);
            float[] first = dx.read();
            warp.backward(dy, t, dx, false);
            assertArrayEquals(first, dx.read());
        }
    }

    @Test
    void rejectsBadShapesAndTransforms() {
        try (ClBuffer x = ctx.buffer(3, 4, 4); ClBuffer y2 = ctx.buffer(2, 4, 4); ClBuffer flat = ctx.buffer(48)) {
            WarpTransform id = WarpTransform.translation(0, 0);
            assertThrows(IllegalArgumentException.class, () -> warp.forward(x, id, y2));
            assertThrows(IllegalArgumentException.class, () -> warp.forward(flat, id, x));
            assertThrows(IllegalArgumentException.class, () -> warp.forward(x, id, x));
            assertThrows(IllegalArgumentException.class, () -> warp.forward(x, WarpTransform.translation(3e6, 0), x));
            assertThrows(IllegalArgumentException.class, () -> new WarpTransform(1, 2, 0, 2, 4, 0));
            assertThrows(IllegalArgumentException.class, () -> new WarpTransform(1, 0, Double.NaN, 0, 1, 0));
        }
    }
}
