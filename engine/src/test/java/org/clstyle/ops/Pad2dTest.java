package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Pad2dReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pad2d kernels against Pad2dReference, every mode, batches, odd sizes, 1x1 planes, wide pads (a 9x9
 * convolution's 4) and crops. Tolerance: forward exact (copies); backward sums at most a handful of
 * terms in [-1, 1] in another order than the reference: atol 1e-6.
 */
class Pad2dTest {
    private static ClContext ctx;
    private static Pad2d pad;
    private static Pad2d elements;
    private static Pad2d rows;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        pad = new Pad2d(ctx);
        elements = new Pad2d(ctx, false);
        rows = new Pad2d(ctx, true);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "{0} n={1} c={2} {3}x{4} pads {5} {6} {7} {8}")
    @CsvSource({"ZERO, 1, 1, 1, 1, 1, 1, 1, 1", "ZERO, 2, 3, 7, 5, 4, 4, 4, 4", "ZERO, 3, 5, 9, 8, -2, 1, 0, -3",
            "REPLICATE, 1, 1, 1, 1, 2, 3, 1, 4", "REPLICATE, 2, 8, 13, 11, 1, 1, 1, 1", "REPLICATE, 1, 3, 5, 7, 4, 4, 4, 4",
            "CIRCULAR, 2, 3, 7, 5, 1, 1, 1, 1", "CIRCULAR, 1, 5, 4, 6, 4, 2, 6, 3", "CIRCULAR, 3, 1, 2, 2, 2, 2, 2, 2",
            "REFLECT, 2, 3, 7, 5, 4, 4, 4, 4", "REFLECT, 1, 48, 9, 10, 1, 1, 1, 1", "REFLECT, 4, 3, 2, 3, 1, 1, 2, 2",
            "REFLECT, 1, 1, 33, 31, 4, 0, 0, 4", "REFLECT, 1, 2, 12, 20, 3, 1, 2, 5", "CIRCULAR, 1, 2, 10, 17, 1, 3, 4, 2",
            "REPLICATE, 2, 2, 6, 19, 0, 2, 5, 1", "ZERO, 1, 2, 6, 20, 1, -2, -3, 2", "ZERO, 1, 3, 5, 18, 2, 2, 3, 1"})
    void matchesReference(Pad2d.Mode mode, int n, int c, int h, int w, int top, int bottom, int left, int right) {
        // Both kernel families: one work-item per element (GPUs) and per row (CPUs).
        check(elements, mode, n, c, h, w, top, bottom, left, right);
        check(rows, mode, n, c, h, w, top, bottom, left, right);
    }

    private static void check(Pad2d pad, Pad2d.Mode mode, int n, int c, int h, int w, int top, int bottom, int left,
                              int right) {
        Pad2dReference.Mode rm = Pad2dReference.Mode.valueOf(mode.name());
        Pad2d.Amounts a = new Pad2d.Amounts(top, bottom, left, right);
        int ho = h + top + bottom, wo = w + left + right;
        float[] x = Tensors.uniform(h * 100 + w, n * c * h * w, -1, 1);
        float[] dy = Tensors.uniform(h * 100 + w + 1, n * c * ho * wo, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, n, c, ho, wo); ClBuffer dxb = ctx.buffer(n, c, h, w)) {
            yb.write(nans(n * c * ho * wo)); // every element must be written
            dxb.write(nans(n * c * h * w));
            pad.forward(xb, yb, mode, a);
            Tensors.assertClose("pad forward", Conv2dTest.f(Pad2dReference.forward(Tensors.toDouble(x), n, c, h, w, rm,
                    top, bottom, left, right)), yb.read(), 0, 0);
            pad.backward(dyb, dxb, mode, a);
            Tensors.assertClose("pad backward", Conv2dTest.f(Pad2dReference.backward(Tensors.toDouble(dy), n, c, h, w, rm,
                    top, bottom, left, right)), dxb.read(), 1e-6, 0);
        }
    }

    private static float[] nans(int len) {
        float[] a = new float[len];
        java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    @Test
    void rejectsWhatPyTorchRejects() {
        try (ClBuffer x = ctx.buffer(1, 1, 3, 3); ClBuffer y = ctx.buffer(1, 1, 9, 9); ClBuffer y5 = ctx.buffer(1, 1, 5, 5)) {
            assertThrows(IllegalArgumentException.class, () -> pad.forward(x, y, Pad2d.Mode.REFLECT, Pad2d.Amounts.of(3)));
            assertThrows(IllegalArgumentException.class, () -> pad.forward(x, y, Pad2d.Mode.CIRCULAR,
                    new Pad2d.Amounts(4, 2, 3, 3)));
            assertThrows(IllegalArgumentException.class, () -> pad.forward(x, y, Pad2d.Mode.ZERO, Pad2d.Amounts.of(2)));
            assertThrows(IllegalArgumentException.class, () -> pad.forward(x, y5, Pad2d.Mode.REPLICATE,
                    new Pad2d.Amounts(-1, 3, 1, 1)));
            assertThrows(IllegalArgumentException.class, () -> Pad2d.Mode.parse("mirror"));
        }
    }
}
