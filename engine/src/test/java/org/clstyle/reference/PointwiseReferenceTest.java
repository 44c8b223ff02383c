package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class PointwiseReferenceTest {
    @Test
    void handCases() {
        assertArrayEquals(new double[] {-0.02, 0, 3}, PointwiseReference.leakyReluForward(new double[] {-2, 0, 3}, 0.01), 1e-15);
        assertArrayEquals(new double[] {0, 150 * Math.tanh(1)}, PointwiseReference.tanhForward(new double[] {0, 1}, 150), 1e-12);
        // Two images, planes of one pixel: part 0 [2, 2, 1] = {1, 2 | 3, 4}, part 1 [2, 1, 1] = {5 | 6}.
        double[][] parts = {{1, 2, 3, 4}, {5, 6}};
        double[] y = PointwiseReference.concat(parts, new int[] {2, 1}, 2, 1);
        assertArrayEquals(new double[] {1, 2, 5, 3, 4, 6}, y, 0);
        double[][] back = PointwiseReference.split(y, new int[] {2, 1}, 2, 1);
        assertArrayEquals(parts[0], back[0], 0);
        assertArrayEquals(parts[1], back[1], 0);
    }

    @Test
    void backwardsMatchFiniteDifferences() {
        int n = 50;
        double[] x = Tensors.toDouble(Tensors.uniform(1, n, -2, 2));
        for (int k = 0; k < n; k++) x[k] += x[k] < 0 ? -0.05 : 0.05; // away from LeakyReLU's kink
        double[] r = Tensors.toDouble(Tensors.uniform(2, n, -1, 1));
        FiniteDifference.assertMatches("leaky relu", PointwiseReference.leakyReluBackward(x, r, 0.01),
                v -> Conv2dReferenceTest.dot(r, PointwiseReference.leakyReluForward(v, 0.01)), x, 1e-6, 1e-8, 1e-6);
        // 150 tanh: second derivative up to ~115, step 1e-6: truncation ~1e-10, rounding ~150 * 1e-16 / 1e-6.
        FiniteDifference.assertMatches("150 tanh", PointwiseReference.tanhBackward(x, r, 150),
                v -> Conv2dReferenceTest.dot(r, PointwiseReference.tanhForward(v, 150)), x, 1e-6, 1e-6, 1e-6);
    }
}
