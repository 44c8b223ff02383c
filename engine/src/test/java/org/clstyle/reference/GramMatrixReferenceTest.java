package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class GramMatrixReferenceTest {
    // The loss is quadratic in F, so central differences are exact up to rounding: atol 1e-7, rtol 1e-6.
    private static final double H = 1e-5, ATOL = 1e-7, RTOL = 1e-6;

    @Test
    void forwardOfHandComputedCase() {
        // F = [[1, 2, 3], [4, 5, 6]], n = 2: F F^T = [[14, 32], [32, 77]].
        double[] g = GramMatrixReference.forward(new double[] {1, 2, 3, 4, 5, 6}, 2, 3, 2);
        assertArrayEquals(new double[] {7, 16, 16, 38.5}, g, 1e-12);
    }

    @ParameterizedTest(name = "c={0} cols={1} n={2}")
    @CsvSource({"3, 5, 15", "1, 1, 1", "4, 7, 3.5", "2, 1, 10"})
    void backwardMatchesFiniteDifferences(int c, int cols, double n) {
        double[] f = Tensors.toDouble(Tensors.uniform(11, c * cols, -1, 1));
        // A non-symmetric dL/dG, so the (dG + dG^T) form is really tested.
        double[] r = Tensors.toDouble(Tensors.uniform(12, c * c, -1, 1));
        FiniteDifference.assertMatches("d/dF", GramMatrixReference.backward(r, f, c, cols, n),
                ff -> dot(r, GramMatrixReference.forward(ff, c, cols, n)), f, H, ATOL, RTOL);
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
