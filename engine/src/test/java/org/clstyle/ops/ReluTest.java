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

/**
 * Relu kernels against ReluReference, both variants (the GPU form runs on any device) and chunk
 * sizes that leave vector steps and scalar tails. Tolerance: exact (max and select are exact in float).
 */
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
        check(relu, c, h, w);
    }

    /** The variants: per element, and chunks of 8 and 24 (many work-items, each with vector steps and tails). */
    @ParameterizedTest(name = "{0} chunk {1} [{2}, {3}, {4}]")
    @CsvSource({"ELEMENTS, 8, 3, 7, 5", "CHUNKS, 8, 1, 1, 7", "CHUNKS, 8, 3, 7, 5", "CHUNKS, 24, 1, 1, 23",
            "CHUNKS, 24, 67, 37, 29", "CHUNKS, 2048, 3, 33, 66", "CHUNKS, 2048, 1, 1, 2049"})
    void variantsMatchReference(Relu.Variant variant, int chunk, int c, int h, int w) {
        check(new Relu(ctx, variant, java.util.Map.of("RELU_CHUNK", chunk)), c, h, w);
    }

    /** Signed zeros and NaNs go through unchanged, in the vector steps and in the tail. */
    @ParameterizedTest
    @CsvSource({"ELEMENTS", "CHUNKS"})
    void keepsSignedZeroAndNan(Relu.Variant variant) {
        Relu r = new Relu(ctx, variant, java.util.Map.of("RELU_CHUNK", 8));
        float nan = Float.NaN;
        float[] x = {-0f, 0f, nan, -1f, 2f, -nan, 3f, -4f, -0f, nan, 5f};
        try (ClBuffer xb = ctx.buffer(x, 1, 1, x.length); ClBuffer yb = ctx.buffer(1, 1, x.length)) {
            r.forward(xb, yb);
            float[] y = yb.read();
            for (int k = 0; k < x.length; k++) {
                float e = x[k] < 0 ? 0f : x[k];
                org.junit.jupiter.api.Assertions.assertEquals(Float.floatToIntBits(e), Float.floatToIntBits(y[k]),
                        "element " + k + ": " + y[k] + ", expected " + e);
            }
        }
    }

    private static void check(Relu relu, int c, int h, int w) {
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
