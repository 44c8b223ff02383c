package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class ReluReferenceTest {
    /** Inputs at least 0.05 away from the kink at 0, so a step of 1e-6 never crosses it. */
    private static double[] awayFromZero(long seed, int n) {
        double[] x = Tensors.toDouble(Tensors.uniform(seed, n, -1, 1));
        for (int k = 0; k < n; k++) x[k] += x[k] < 0 ? -0.05 : 0.05;
        return x;
    }

    @Test
    void forwardClipsNegatives() {
        assertArrayEquals(new double[] {0, 0, 0.5, 2}, ReluReference.forward(new double[] {-1, 0, 0.5, 2}));
    }

    @Test
    void backwardMatchesFiniteDifferences() {
        int n = 60;
        double[] x = awayFromZero(1, n);
        double[] w = Tensors.toDouble(Tensors.uniform(2, n, -1, 1));
        double[] analytic = ReluReference.backward(ReluReference.forward(x), w);
        // f(x) = sum_k w_k relu(x_k), so df/dx = backward(relu(x), w).
        FiniteDifference.assertMatches("relu", analytic, v -> dotWith(w, ReluReference.forward(v)), x, 1e-6, 1e-8, 1e-6);
    }

    static double dotWith(double[] w, double[] y) {
        double s = 0;
        for (int k = 0; k < y.length; k++) s += w[k] * y[k];
        return s;
    }
}
