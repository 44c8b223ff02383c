package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.ReluReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Relu kernels against ReluReference. Tolerance: exact (max and select are exact in float). */
class ReluTest {
    private static ClContext ctx;
    private static Relu relu;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        relu = new Relu(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 1, 1", "3, 7, 5", "5, 13, 11", "1, 13, 11", "64, 7, 5", "67, 37, 29"})
    void forwardAndBackwardMatchReference(int c, int h, int w) {
        int n = c * h * w;
        float[] x = Tensors.uniform(c * 100 + h, n, -1, 1);
        float[] dy = Tensors.uniform(c * 100 + h + 1, n, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer yb = ctx.buffer(c, h, w);
                ClBuffer dyb = ctx.buffer(dy, c, h, w); ClBuffer dxb = ctx.buffer(c, h, w)) {
            relu.forward(xb, yb);
            double[] y = ReluReference.forward(Tensors.toDouble(x));
            Tensors.assertClose("relu forward", toFloat(y), yb.read(), 0, 0);
            relu.backward(yb, dyb, dxb);
            double[] dx = ReluReference.backward(y, Tensors.toDouble(dy));
            Tensors.assertClose("relu backward", toFloat(dx), dxb.read(), 0, 0);
            // In place: y is x, dx is dy.
            relu.forward(xb, xb);
            Tensors.assertClose("relu forward in place", toFloat(y), xb.read(), 0, 0);
            relu.backward(yb, dyb, dyb);
            Tensors.assertClose("relu backward in place", toFloat(dx), dyb.read(), 0, 0);
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        try (ClBuffer a = ctx.buffer(2, 3, 4); ClBuffer b = ctx.buffer(2, 4, 3)) {
            assertThrows(IllegalArgumentException.class, () -> relu.forward(a, b));
        }
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
