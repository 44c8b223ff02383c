package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NormReferenceTest {
    private static final double EPS = 1e-5;
    // Finite differences of sum(r * y): y is smooth in x (a ratio of polynomials with variance >= 0.01
    // here) and linear in gamma and beta. Step 1e-5: truncation ~h^2 = 1e-10, rounding ~1e-11:
    // atol 1e-7, rtol 1e-5.
    private static final double H = 1e-5, ATOL = 1e-7, RTOL = 1e-5;

    @Test
    void normalisesAPlaneToZeroMeanUnitVariance() {
        double[] y = NormReference.instanceForward(new double[] {1, 2, 3}, 1, 1, 3, new double[] {2}, new double[] {1}, EPS);
        double s = 1 / Math.sqrt(2.0 / 3 + EPS); // biased variance of 1, 2, 3 is 2/3
        assertArrayEquals(new double[] {1 - 2 * s, 1, 1 + 2 * s}, y, 1e-12);
        // Batch norm pools the batch: channel values {1, 2} and {3} of two images are 1, 2, 3 again.
        double[] yb = NormReference.batchForward(new double[] {1, 2, 3, 3}, 2, 1, 2, new double[] {2}, new double[] {1}, EPS);
        double mb = 2.25, vb = ((1 - mb) * (1 - mb) + (2 - mb) * (2 - mb) + 2 * (3 - mb) * (3 - mb)) / 4;
        assertEquals(1 + 2 * (1 - mb) / Math.sqrt(vb + EPS), yb[0], 1e-12);
    }

    @Test
    void runningStatisticsFollowPyTorch() {
        double[] rm = {0, 1}, rv = {1, 2};
        // Channel 0 over the batch: 1, 2, 3, 4 (mean 2.5, unbiased var 5/3); channel 1: 0, 0, 2, 2 (mean 1, var 4/3).
        double[] x = {1, 2, 0, 0, 3, 4, 2, 2};
        NormReference.updateRunning(rm, rv, x, 2, 2, 2, 0.1);
        assertArrayEquals(new double[] {0.25, 1.0}, rm, 1e-12);
        assertArrayEquals(new double[] {0.9 + 0.1 * 5.0 / 3, 1.8 + 0.1 * 4.0 / 3}, rv, 1e-12);
    }

    @ParameterizedTest(name = "{0} n={1} c={2} plane={3}")
    @CsvSource({"true, 1, 1, 5", "true, 2, 3, 6", "true, 3, 2, 1", "false, 1, 2, 5", "false, 3, 2, 4", "false, 4, 1, 1"})
    void backwardMatchesFiniteDifferences(boolean instance, int n, int c, int plane) {
        double[] x = Tensors.toDouble(Tensors.uniform(1, n * c * plane, -1, 1));
        // (A one-element instance plane normalises to beta whatever x is: its d/dx is 0, checked all the same.)
        double[] gamma = Tensors.toDouble(Tensors.uniform(2, c, 0.5, 1.5));
        double[] beta = Tensors.toDouble(Tensors.uniform(3, c, -0.5, 0.5));
        double[] r = Tensors.toDouble(Tensors.uniform(4, x.length, -1, 1));
        NormReference.Grads g = instance ? NormReference.instanceBackward(x, r, n, c, plane, gamma, EPS)
                : NormReference.batchBackward(x, r, n, c, plane, gamma, EPS);
        FiniteDifference.assertMatches("d/dx", g.dx(), xx -> Conv2dReferenceTest.dot(r, f(instance, xx, n, c, plane, gamma, beta)),
                x, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dgamma", g.dGamma(),
                gg -> Conv2dReferenceTest.dot(r, f(instance, x, n, c, plane, gg, beta)), gamma, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dbeta", g.dBeta(),
                bb -> Conv2dReferenceTest.dot(r, f(instance, x, n, c, plane, gamma, bb)), beta, H, ATOL, RTOL);
    }

    private static double[] f(boolean instance, double[] x, int n, int c, int plane, double[] gamma, double[] beta) {
        return instance ? NormReference.instanceForward(x, n, c, plane, gamma, beta, EPS)
                : NormReference.batchForward(x, n, c, plane, gamma, beta, EPS);
    }
}
