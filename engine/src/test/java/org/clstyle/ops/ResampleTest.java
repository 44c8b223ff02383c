package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.ResampleReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Upsample and AvgPool kernels against ResampleReference: factors 1, 2, 3 and the pyramid's 2 .. 32,
 * batches, odd sizes (pooling drops the partial windows). Tolerance: upsample forward exact (copies);
 * sums of r^2 terms in [-1, 1] in float: atol 1e-7 * r^2 + 1e-7, rtol 1e-6.
 */
class ResampleTest {
    private static ClContext ctx;
    private static Upsample up;
    private static AvgPool pool;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        up = new Upsample(ctx);
        pool = new AvgPool(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3} r={4}")
    @CsvSource({"1, 1, 1, 1, 1", "1, 1, 1, 1, 2", "2, 3, 7, 5, 2", "3, 8, 4, 6, 3", "1, 48, 5, 3, 2", "4, 5, 2, 3, 4"})
    void upsampleMatchesReference(int n, int c, int h, int w, int r) {
        // Both kernels: one work-item per element (GPUs) and per input row (CPUs).
        for (boolean rows : new boolean[] {false, true}) {
            upsample(new Upsample(ctx, rows), n, c, h, w, r);
        }
    }

    private static void upsample(Upsample up, int n, int c, int h, int w, int r) {
        int planes = n * c;
        float[] x = Tensors.uniform(h * 10 + w, planes * h * w, -1, 1);
        float[] dy = Tensors.uniform(h * 10 + w + 1, planes * h * w * r * r, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, h * r, w * r);
                ClBuffer dyb = ctx.buffer(dy, n, c, h * r, w * r); ClBuffer dxb = ctx.buffer(n, c, h, w)) {
            up.forward(xb, yb, r);
            Tensors.assertClose("upsample forward", Conv2dTest.f(ResampleReference.upsampleForward(Tensors.toDouble(x),
                    planes, h, w, r)), yb.read(), 0, 0);
            up.backward(dyb, dxb, r);
            Tensors.assertClose("upsample backward", Conv2dTest.f(ResampleReference.upsampleBackward(Tensors.toDouble(dy),
                    planes, h, w, r)), dxb.read(), 1e-7 * r * r + 1e-7, 1e-6);
        }
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3} r={4}")
    @CsvSource({"1, 1, 1, 1, 1", "2, 3, 7, 5, 2", "3, 8, 9, 10, 3", "1, 3, 64, 64, 32", "2, 3, 64, 96, 16",
            "1, 1, 35, 33, 8", "4, 5, 17, 9, 4"})
    void avgPoolMatchesReference(int n, int c, int h, int w, int r) {
        int planes = n * c, ho = h / r, wo = w / r;
        float[] x = Tensors.uniform(h * 10 + w, planes * h * w, -1, 1);
        float[] dy = Tensors.uniform(h * 10 + w + 1, planes * ho * wo, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, n, c, ho, wo); ClBuffer dxb = ctx.buffer(n, c, h, w)) {
            pool.forward(xb, yb, r);
            Tensors.assertClose("avg pool forward", Conv2dTest.f(ResampleReference.avgPoolForward(Tensors.toDouble(x),
                    planes, h, w, r)), yb.read(), 1e-7 * r * r + 1e-7, 1e-6);
            pool.backward(dyb, dxb, r);
            Tensors.assertClose("avg pool backward", Conv2dTest.f(ResampleReference.avgPoolBackward(Tensors.toDouble(dy),
                    planes, h, w, r)), dxb.read(), 1e-7, 1e-6);
        }
    }

    @Test
    void rejectsBadShapes() {
        try (ClBuffer x = ctx.buffer(1, 2, 3, 3); ClBuffer y = ctx.buffer(1, 2, 6, 5); ClBuffer z = ctx.buffer(1, 2, 1, 1)) {
            assertThrows(IllegalArgumentException.class, () -> up.forward(x, y, 2));
            assertThrows(IllegalArgumentException.class, () -> pool.forward(x, z, 4));
            assertThrows(IllegalArgumentException.class, () -> pool.forward(x, z, 0));
        }
    }
}
