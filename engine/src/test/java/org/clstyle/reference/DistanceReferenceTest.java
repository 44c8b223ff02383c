package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class DistanceReferenceTest {
    @Test
    void mseBackwardMatchesFiniteDifferences() {
        int n = 50;
        double[] a = Tensors.toDouble(Tensors.uniform(7, n, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(8, n, -1, 1));
        FiniteDifference.assertMatches("mse", DistanceReference.mseBackward(a, b, 3.0),
                v -> 3.0 * DistanceReference.mse(v, b), a, 1e-6, 1e-9, 1e-6);
    }

    @Test
    void l1BackwardMatchesFiniteDifferencesAwayFromZeroDifference() {
        int n = 50;
        double[] b = Tensors.toDouble(Tensors.uniform(9, n, -1, 1));
        double[] d = Tensors.toDouble(Tensors.uniform(10, n, -1, 1));
        double[] a = new double[n];
        for (int k = 0; k < n; k++) a[k] = b[k] + d[k] + (d[k] < 0 ? -0.05 : 0.05); // |a - b| >= 0.05
        FiniteDifference.assertMatches("l1", DistanceReference.l1Backward(a, b, 0.5),
                v -> 0.5 * DistanceReference.l1(v, b), a, 1e-6, 1e-9, 1e-6);
    }

    @Test
    void scaledSumBackwardsMatchFiniteDifferences() {
        int n = 40;
        double[] a = Tensors.toDouble(Tensors.uniform(11, n, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(12, n, -1, 1));
        FiniteDifference.assertMatches("sse", DistanceReference.sseBackward(a, b, 0.5, 3.0),
                v -> 3.0 * DistanceReference.sse(v, b, 0.5), a, 1e-6, 1e-9, 1e-6);
        FiniteDifference.assertMatches("sse tiny factor", DistanceReference.sseBackward(a, b, 1e-7, 2.0),
                v -> 2.0 * DistanceReference.sse(v, b, 1e-7), a, 1e-6, 1e-15, 1e-6);
        double[] d = Tensors.toDouble(Tensors.uniform(13, n, -1, 1));
        double[] c = new double[n];
        for (int k = 0; k < n; k++) c[k] = b[k] + d[k] + (d[k] < 0 ? -0.05 : 0.05); // |c - b| >= 0.05
        FiniteDifference.assertMatches("sae", DistanceReference.saeBackward(c, b, 0.25, 3.0),
                v -> 3.0 * DistanceReference.sae(v, b, 0.25), c, 1e-6, 1e-9, 1e-6);
    }

    @Test
    void scaledSumValues() {
        double[] a = {1, 2, 3, 4}, b = {1, 0, 4, 4};
        assertEquals(0.5 * (0 + 4 + 1 + 0), DistanceReference.sse(a, b, 0.5), 0);
        assertEquals(0.25 * (0 + 2 + 1 + 0), DistanceReference.sae(a, b, 0.25), 0);
        assertArrayEquals(new double[] {0, 2, -1, 0}, DistanceReference.sseBackward(a, b, 0.5, 1), 0);
    }

    @Test
    void valuesAndSignOfZero() {
        double[] a = {1, 2, 3, 4}, b = {1, 0, 4, 4};
        assertEquals((0 + 4 + 1 + 0) / 4.0, DistanceReference.mse(a, b), 0);
        assertEquals((0 + 2 + 1 + 0) / 4.0, DistanceReference.l1(a, b), 0);
        assertArrayEquals(new double[] {0, 0.25, -0.25, 0}, DistanceReference.l1Backward(a, b, 1), 0);
    }
}
