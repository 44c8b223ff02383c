package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.clstyle.ops.WarpTransform;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class WarpReferenceTest {
    /**
     * f(x) = sum (warp(x) - target)^2, so df/dx = warp^T(2 (warp(x) - target)): the adjoint checked by
     * central differences, for views that reach past the input's borders (several reflections).
     */
    @ParameterizedTest(name = "[{0}, {1}, {2}] -> [{3}, {4}], {5} deg, zoom {6}, shift {7}")
    @CsvSource({"2, 5, 4, 6, 7, 17, 0.8, 1.3", "1, 7, 6, 5, 5, -33, 1.4, -2.6", "1, 1, 5, 3, 4, 10, 0.5, 0.7",
            "1, 4, 1, 3, 3, 95, 1.1, 4.2", "3, 3, 3, 9, 8, 5, 0.3, 0.1"})
    void backwardMatchesFiniteDifferences(int c, int hi, int wi, int ho, int wo, double deg, double zoom, double shift) {
        double[] a = WarpTransform.view(deg, zoom, shift, -0.6 * shift, wi, hi, wo, ho).coefficients();
        double[] x = Tensors.toDouble(Tensors.uniform(hi * 31L + wi, c * hi * wi, -1, 1));
        double[] target = Tensors.toDouble(Tensors.uniform(7, c * ho * wo, -1, 1));
        double[] y = WarpReference.forward(x, c, hi, wi, ho, wo, a);
        double[] r = new double[y.length];
        for (int k = 0; k < y.length; k++) r[k] = 2 * (y[k] - target[k]);
        FiniteDifference.assertMatches("warp", WarpReference.backward(r, c, hi, wi, ho, wo, a), v -> {
            double[] yy = WarpReference.forward(v, c, hi, wi, ho, wo, a);
            double s = 0;
            for (int k = 0; k < yy.length; k++) s += (yy[k] - target[k]) * (yy[k] - target[k]);
            return s;
        }, x, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void identityAndHalfPixelAndReflection() {
        double[] x = {0, 1, 2,
                      3, 4, 5};
        assertArrayEquals(x, WarpReference.forward(x, 1, 2, 3, 2, 3, WarpTransform.translation(0, 0).coefficients()), 0);
        // Half a pixel right: means of neighbours; the last column reads tap 3, which reflects to column 1.
        assertArrayEquals(new double[] {0.5, 1.5, 1.5, 3.5, 4.5, 4.5},
                WarpReference.forward(x, 1, 2, 3, 2, 3, WarpTransform.translation(0.5, 0).coefficients()), 1e-12);
        // Two pixels left: columns -2, -1, 0 read 2, 1, 0.
        assertArrayEquals(new double[] {2, 1, 0, 5, 4, 3},
                WarpReference.forward(x, 1, 2, 3, 2, 3, WarpTransform.translation(-2, 0).coefficients()), 1e-12);
        assertEquals(1, WarpReference.reflect(-1, 5));
        assertEquals(3, WarpReference.reflect(5, 5));
        assertEquals(0, WarpReference.reflect(8, 5));
        assertEquals(0, WarpReference.reflect(-7, 1));
    }
}
