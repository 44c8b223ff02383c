package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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
 * Pool2x2 kernels against PoolReference. Tolerances: max pooling exact (it selects); average
 * pooling atol 1e-7 + rtol 1e-6 (four float additions on inputs in [-1, 1]).
 */
class Pool2x2Test {
    private static ClContext ctx;
    private static Pool2x2 pool;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        pool = new Pool2x2(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 2, 2", "3, 7, 5", "5, 13, 11", "1, 13, 11", "64, 6, 4", "67, 37, 29", "3, 2, 9"})
    void matchReference(int c, int h, int w) {
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

    @Test
    void maxTieAndNanFollowPyTorch() {
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

    @Test
    void rejectsWrongShapes() {
        try (ClBuffer x = ctx.buffer(3, 7, 5); ClBuffer y = ctx.buffer(3, 4, 2); ClBuffer one = ctx.buffer(1, 1, 1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> pool.maxForward(x, y));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("[3, 3, 2]"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> pool.avgForward(one, one));
        }
    }
}
