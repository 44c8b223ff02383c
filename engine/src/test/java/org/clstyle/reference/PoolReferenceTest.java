package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class PoolReferenceTest {
    /** Distinct values at least 0.09 apart (a shuffled ladder plus small noise): no ties for FD to cross. */
    static double[] distinct(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] x = new double[n];
        for (int k = 0; k < n; k++) x[k] = k * 0.1 + 0.01 * r.nextDouble();
        for (int k = n - 1; k > 0; k--) {
            int o = r.nextInt(k + 1);
            double t = x[k]; x[k] = x[o]; x[o] = t;
        }
        return x;
    }

    @Test
    void maxBackwardMatchesFiniteDifferencesOnOddShape() {
        int c = 2, h = 5, w = 7;
        double[] x = distinct(3, c * h * w);
        double[] dy = Tensors.toDouble(Tensors.uniform(4, c * (h / 2) * (w / 2), -1, 1));
        double[] analytic = PoolReference.maxBackward(x, c, h, w, dy);
        FiniteDifference.assertMatches("max pool", analytic,
                v -> ReluReferenceTest.dotWith(dy, PoolReference.maxForward(v, c, h, w)), x, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void avgBackwardMatchesFiniteDifferencesOnOddShape() {
        int c = 3, h = 7, w = 5;
        double[] x = Tensors.toDouble(Tensors.uniform(5, c * h * w, -1, 1));
        double[] dy = Tensors.toDouble(Tensors.uniform(6, c * (h / 2) * (w / 2), -1, 1));
        double[] analytic = PoolReference.avgBackward(dy, c, h, w);
        FiniteDifference.assertMatches("avg pool", analytic,
                v -> ReluReferenceTest.dotWith(dy, PoolReference.avgForward(v, c, h, w)), x, 1e-6, 1e-8, 1e-6);
    }

    /** Distinct values as {@link #distinct}, shifted so that about half are negative, all >= 0.04 from 0. */
    static double[] distinctAroundZero(long seed, int n) {
        double[] z = distinct(seed, n);
        for (int k = 0; k < n; k++) z[k] -= (n / 2) * 0.1 + 0.05;
        return z;
    }

    /** f(z) = dy . maxpool(relu(z)): d f / d z = maxBackwardMasked(relu(z), dy). */
    @Test
    void maxBackwardMaskedMatchesFiniteDifferencesOfReluThenPool() {
        int c = 3, h = 7, w = 9;
        double[] z = distinctAroundZero(7, c * h * w);
        double[] dy = Tensors.toDouble(Tensors.uniform(8, c * (h / 2) * (w / 2), -1, 1));
        double[] analytic = PoolReference.maxBackwardMasked(ReluReference.forward(z), c, h, w, dy);
        FiniteDifference.assertMatches("relu then max pool", analytic,
                v -> ReluReferenceTest.dotWith(dy, PoolReference.maxForward(ReluReference.forward(v), c, h, w)),
                z, 1e-6, 1e-8, 1e-6);
    }

    /** f(z) = dy . avgpool(relu(z)): d f / d z = avgBackwardMasked(relu(z), dy). */
    @Test
    void avgBackwardMaskedMatchesFiniteDifferencesOfReluThenPool() {
        int c = 2, h = 9, w = 7;
        double[] z = distinctAroundZero(9, c * h * w);
        double[] dy = Tensors.toDouble(Tensors.uniform(10, c * (h / 2) * (w / 2), -1, 1));
        double[] analytic = PoolReference.avgBackwardMasked(ReluReference.forward(z), c, h, w, dy);
        FiniteDifference.assertMatches("relu then avg pool", analytic,
                v -> ReluReferenceTest.dotWith(dy, PoolReference.avgForward(ReluReference.forward(v), c, h, w)),
                z, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void maxTieGoesToFirstInRowMajorOrder() {
        // One 2x3 image: window {1, 5 / 5, 2} ties at (0,1) and (1,0); the last column is dropped.
        double[] x = {1, 5, 9,
                      5, 2, 9};
        assertArrayEquals(new double[] {5}, PoolReference.maxForward(x, 1, 2, 3));
        assertArrayEquals(new double[] {0, 7, 0, 0, 0, 0}, PoolReference.maxBackward(x, 1, 2, 3, new double[] {7}));
    }
}
