package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class VectorReferenceTest {
    @Test
    void firstAdamStepMovesEachParameterByAboutLrAgainstItsGradientSign() {
        // At t = 1 the bias-corrected m / sqrt(v) is g / |g|, so the step is lr * |g| / (|g| + eps).
        double[] p = {1, 1, 1}, g = {0.5, -2, 1e-3}, m = new double[3], v = new double[3];
        double lr = 0.1, eps = 1e-8;
        VectorReference.adam(p, g, m, v, lr, 0.9, 0.999, eps, 1);
        for (int k = 0; k < 3; k++) {
            double a = Math.abs(g[k]);
            assertEquals(1 - Math.signum(g[k]) * lr * a / (a + eps), p[k], 1e-15);
        }
        assertArrayEquals(new double[] {0.05, -0.2, 1e-4}, m, 1e-15);
        assertArrayEquals(new double[] {0.00025, 0.004, 1e-9}, v, 1e-15);
    }

    @Test
    void dotSumAbsAxpyScale() {
        double[] a = {1, -2, 3}, b = {4, 5, -6};
        assertEquals(4 - 10 - 18, VectorReference.dot(a, b), 0);
        assertEquals(6, VectorReference.sumAbs(a), 0);
        assertArrayEquals(new double[] {6, 1, 0}, VectorReference.axpy(2, a, b), 0);
        assertArrayEquals(new double[] {-0.5, 1, -1.5}, VectorReference.scale(a, -0.5), 0);
    }
}
