package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.PoolReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pool2x2 kernels against PoolReference, for both variants (the GPU form runs on any device) and
 * the row variant's vector widths. Tolerances: max pooling exact (it selects); average pooling
 * atol 1e-7 + rtol 1e-6 (four float additions on inputs in [-1, 1]).
 */
class Pool2x2Test {
    private static ClContext ctx;
    private static Pool2x2 pool;
    /** By name: the device's default and each kernel form, the row form at each vector width. */
    private static final Map<String, Pool2x2> POOLS = new HashMap<>();

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        pool = new Pool2x2(ctx);
        POOLS.put("default", pool);
        POOLS.put("elements", new Pool2x2(ctx, Pool2x2.Variant.ELEMENTS, Map.of()));
        POOLS.put("rows", new Pool2x2(ctx, Pool2x2.Variant.ROWS, Map.of()));
        POOLS.put("rows4", new Pool2x2(ctx, Pool2x2.Variant.ROWS, Map.of("POOL_VW", 4, "POOL_WG", 3)));
        POOLS.put("rows16", new Pool2x2(ctx, Pool2x2.Variant.ROWS, Map.of("POOL_VW", 16, "POOL_WG", 1)));
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 2, 2", "3, 7, 5", "5, 13, 11", "1, 13, 11", "64, 6, 4", "67, 37, 29", "3, 2, 9"})
    void matchReference(int c, int h, int w) {
        for (String name : new String[] {"default", "elements", "rows"}) {
            check(POOLS.get(name), c, h, w);
        }
    }

    /** Widths around the vector steps (2*4, 2*8, 2*16 input columns) and their tails, odd and even. */
    @ParameterizedTest(name = "{0} [{1}, {2}, {3}]")
    @CsvSource({"rows, 1, 2, 2", "rows, 3, 3, 3", "rows, 1, 5, 16", "rows, 3, 4, 17", "rows, 64, 3, 33",
            "rows, 3, 6, 66", "rows, 1, 7, 130", "rows, 64, 2, 130", "rows, 3, 9, 34",
            "rows4, 1, 2, 2", "rows4, 3, 5, 17", "rows4, 64, 3, 33", "rows4, 1, 4, 130",
            "rows16, 3, 3, 31", "rows16, 1, 5, 33", "rows16, 64, 2, 66", "rows16, 3, 7, 130",
            "elements, 3, 5, 33", "elements, 1, 7, 130"})
    void vectorPathsAndTails(String name, int c, int h, int w) {
        check(POOLS.get(name), c, h, w);
    }

    private static void check(Pool2x2 pool, int c, int h, int w) {
        int n = c * h * w, ho = h / 2, wo = w / 2;
        // Values on a coarse grid so windows often tie: exercises the first-maximum rule.
        float[] x = Tensors.uniform(c * 31 + h, n, -1, 1);
        for (int k = 0; k < n; k += 3) x[k] = Math.round(x[k] * 2) / 2f;
        float[] dy = Tensors.uniform(c * 31 + h + 1, c * ho * wo, -1, 1);
        double[] xd = Tensors.toDouble(x), dyd = Tensors.toDouble(dy);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer yb = ctx.buffer(c, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, c, ho, wo); ClBuffer dxb = ctx.buffer(c, h, w)) {
            dxb.write(Tensors.uniform(9, n, 5, 6)); // garbage that the backward must overwrite
            pool.maxForward(xb, yb);
            Tensors.assertClose("max forward", toFloat(PoolReference.maxForward(xd, c, h, w)), yb.read(), 0, 0);
            pool.maxBackward(xb, dyb, dxb);
            Tensors.assertClose("max backward", toFloat(PoolReference.maxBackward(xd, c, h, w, dyd)), dxb.read(), 0, 0);
            pool.avgForward(xb, yb);
            Tensors.assertClose("avg forward", toFloat(PoolReference.avgForward(xd, c, h, w)), yb.read(), 1e-7, 1e-6);
            dxb.write(Tensors.uniform(10, n, 5, 6));
            pool.avgBackward(dyb, dxb);
            Tensors.assertClose("avg backward", toFloat(PoolReference.avgBackward(dyd, c, h, w)), dxb.read(), 1e-7, 1e-6);
        }
    }

    /**
     * The in-place backward through ReLU and pooling against PoolReference's masked twins, on every
     * shape above and every kernel form: x holds ReLU outputs (zeros, positive ties) and is
     * overwritten by dx. Max exact, avg atol 1e-7 + rtol 1e-6.
     */
    @ParameterizedTest(name = "{0} [{1}, {2}, {3}]")
    @CsvSource({"default, 1, 2, 2", "elements, 3, 7, 5", "rows, 5, 13, 11", "elements, 1, 13, 11",
            "rows, 64, 6, 4", "elements, 67, 37, 29", "rows, 67, 37, 29", "rows, 3, 2, 9", "elements, 3, 2, 9",
            "rows, 3, 4, 17", "rows, 64, 3, 33", "rows, 1, 7, 130", "rows, 3, 9, 34",
            "rows4, 3, 5, 17", "rows4, 1, 4, 130", "rows16, 3, 3, 31", "rows16, 3, 7, 130",
            "elements, 3, 5, 33", "elements, 1, 7, 130"})
    void maskedInPlaceMatchesReference(String name, int c, int h, int w) {
        Pool2x2 pool = POOLS.get(name);
        int n = c * h * w, ho = h / 2, wo = w / 2;
        float[] x = Tensors.uniform(c * 37 + w, n, -1, 1);
        for (int k = 0; k < n; k++) {
            if (k % 3 == 0) x[k] = Math.round(x[k] * 2) / 2f; // ties, incl. windows of zeros
            x[k] = Math.max(x[k], 0f);                         // a ReLU output
        }
        float[] dy = Tensors.uniform(c * 37 + w + 1, c * ho * wo, -1, 1);
        double[] xd = Tensors.toDouble(x), dyd = Tensors.toDouble(dy);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer dyb = ctx.buffer(dy, c, ho, wo)) {
            pool.maxBackwardMaskedInPlace(xb, dyb);
            Tensors.assertClose("max backward masked", toFloat(PoolReference.maxBackwardMasked(xd, c, h, w, dyd)),
                    xb.read(), 0, 0);
            xb.write(x);
            pool.avgBackwardMaskedInPlace(xb, dyb);
            Tensors.assertClose("avg backward masked", toFloat(PoolReference.avgBackwardMasked(xd, c, h, w, dyd)),
                    xb.read(), 1e-7, 1e-6);
        }
    }

    /** Ties, signed zeros and NaNs in every lane and tail: the in-place max backward is exact, NaN masked to 0. */
    @ParameterizedTest
    @CsvSource({"default", "elements", "rows", "rows4", "rows16"})
    void maskedInPlaceTiesSignedZerosAndNans(String name) {
        Pool2x2 pool = POOLS.get(name);
        int c = 2, h = 5, w = 71, n = c * h * w, ho = h / 2, wo = w / 2;
        float[] levels = {-0f, 0f, 1f, 2f, Float.NaN};
        float[] u = Tensors.uniform(79, n, 0, 1);
        float[] x = new float[n];
        for (int k = 0; k < n; k++) x[k] = levels[Math.min(levels.length - 1, (int) (u[k] * levels.length))];
        float[] dy = Tensors.uniform(80, c * ho * wo, -1, 1);
        double[] xd = Tensors.toDouble(x), dyd = Tensors.toDouble(dy);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer dyb = ctx.buffer(dy, c, ho, wo)) {
            pool.maxBackwardMaskedInPlace(xb, dyb);
            Tensors.assertClose("max backward masked", toFloat(PoolReference.maxBackwardMasked(xd, c, h, w, dyd)),
                    xb.read(), 0, 0);
            xb.write(x);
            pool.avgBackwardMaskedInPlace(xb, dyb);
            Tensors.assertClose("avg backward masked", toFloat(PoolReference.avgBackwardMasked(xd, c, h, w, dyd)),
                    xb.read(), 1e-7, 1e-6);
        }
    }

    @ParameterizedTest
    @CsvSource({"default", "elements", "rows", "rows4"})
    void maxTieAndNanFollowPyTorch(String name) {
        Pool2x2 pool = POOLS.get(name);
        // [1, 2, 6]: window 0 ties 5 at (0,1) and (1,0): the first, (0,1), wins; window 1 holds a NaN,
        // which wins as in PyTorch; window 2 is all 7: the gradient goes to its first element only.
        float nan = Float.NaN;
        float[] x = {1, 5, 3, nan, 7, 7,
                     5, 2, 4, 9, 7, 7};
        try (ClBuffer xb = ctx.buffer(x, 1, 2, 6); ClBuffer yb = ctx.buffer(1, 1, 3);
                ClBuffer dyb = ctx.buffer(new float[] {10, 20, 30}, 1, 1, 3); ClBuffer dxb = ctx.buffer(1, 2, 6)) {
            pool.maxForward(xb, yb);
            assertArrayEquals(new float[] {5, nan, 7}, yb.read());
            pool.maxBackward(xb, dyb, dxb);
            assertArrayEquals(new float[] {0, 10, 0, 20, 30, 0,
                                           0, 0, 0, 0, 0, 0}, dxb.read());
        }
    }

    /**
     * Values from {-1, -0, 0, 1, NaN}, so that nearly every window ties or holds a NaN, in every lane
     * of the vector steps and in the tails: max forward must match the reference bit for bit (the
     * first maximum's sign of zero too), max backward exactly.
     */
    @ParameterizedTest
    @CsvSource({"default", "elements", "rows", "rows4", "rows16"})
    void tiesSignedZerosAndNansInEveryLane(String name) {
        Pool2x2 pool = POOLS.get(name);
        int c = 2, h = 5, w = 71, n = c * h * w, ho = h / 2, wo = w / 2;
        float[] levels = {-1f, -0f, 0f, 1f, Float.NaN};
        float[] u = Tensors.uniform(77, n, 0, 1);
        float[] x = new float[n];
        for (int k = 0; k < n; k++) x[k] = levels[Math.min(levels.length - 1, (int) (u[k] * levels.length))];
        float[] dy = Tensors.uniform(78, c * ho * wo, -1, 1);
        double[] xd = Tensors.toDouble(x);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer yb = ctx.buffer(c, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, c, ho, wo); ClBuffer dxb = ctx.buffer(c, h, w)) {
            dxb.write(Tensors.uniform(9, n, 5, 6));
            pool.maxForward(xb, yb);
            float[] expected = toFloat(PoolReference.maxForward(xd, c, h, w)), actual = yb.read();
            for (int k = 0; k < expected.length; k++) {
                if (Float.floatToIntBits(expected[k]) != Float.floatToIntBits(actual[k])) {
                    org.junit.jupiter.api.Assertions.fail("max forward: element " + k + " is " + actual[k]
                            + ", expected " + expected[k]);
                }
            }
            pool.maxBackward(xb, dyb, dxb);
            Tensors.assertClose("max backward", toFloat(PoolReference.maxBackward(xd, c, h, w, Tensors.toDouble(dy))),
                    dxb.read(), 0, 0);
        }
    }

    @Test
    void rejectsWrongShapes() {
        try (ClBuffer x = ctx.buffer(3, 7, 5); ClBuffer y = ctx.buffer(3, 4, 2); ClBuffer one = ctx.buffer(1, 1, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pool.maxForward(x, y));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[3, 3, 2]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> pool.avgForward(one, one));
        }
    }
}
