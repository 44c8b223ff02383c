package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class Conv3x3ReferenceTest {
    // Finite differences: step 1e-5 in double; the loss is linear/piecewise-linear in each input, so
    // the only error is rounding (~1e-10 / 1e-5): atol 1e-7, rtol 1e-6.
    private static final double H = 1e-5, ATOL = 1e-7, RTOL = 1e-6;

    @Test
    void forwardOfHandComputedCase() {
        // One channel 3x3 image, all-ones kernel, bias 0.5: each output is 0.5 + the sum of the
        // in-image 3x3 neighbourhood.
        double[] x = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        double[] w = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        double[] y = Conv3x3Reference.forward(x, 1, 3, 3, w, new double[] {0.5}, 1, false);
        assertArrayEquals(new double[] {12.5, 21.5, 16.5, 27.5, 45.5, 33.5, 24.5, 39.5, 28.5}, y, 1e-12);
        // A kernel with only its top-left tap (di=0, dj=0) shifts the image down-right; ReLU clips.
        double[] shift = {-1, 0, 0, 0, 0, 0, 0, 0, 0};
        double[] ys = Conv3x3Reference.forward(x, 1, 3, 3, shift, new double[] {3}, 1, true);
        assertArrayEquals(new double[] {3, 3, 3, 3, 2, 1, 3, 0, 0}, ys, 1e-12);
    }

    @Test
    void forwardMixesChannelsWithTheirOwnWeights() {
        // Cin 2, Cout 2, 1x2 image, centre taps only: y[co] = sum_ci w[co, ci, 1, 1] x[ci].
        double[] x = {1, 2, 10, 20};
        double[] w = new double[2 * 2 * 9];
        w[(0 * 2 + 0) * 9 + 4] = 1;
        w[(0 * 2 + 1) * 9 + 4] = 2;
        w[(1 * 2 + 0) * 9 + 4] = -1;
        w[(1 * 2 + 1) * 9 + 4] = 0.5;
        double[] y = Conv3x3Reference.forward(x, 2, 1, 2, w, new double[] {0, 1}, 2, false);
        assertArrayEquals(new double[] {21, 42, 5, 9}, y, 1e-12);
    }

    @ParameterizedTest(name = "cin={0} cout={1} {2}x{3} relu={4}")
    @CsvSource({"2, 3, 4, 5, false", "2, 3, 4, 5, true", "1, 1, 1, 1, false", "3, 2, 1, 3, true", "1, 2, 5, 1, false"})
    void backwardsMatchFiniteDifferences(int cin, int cout, int h, int w, boolean relu) {
        double[] x = Tensors.toDouble(Tensors.uniform(1, cin * h * w, -1, 1));
        double[] wt = Tensors.toDouble(Tensors.uniform(2, cout * cin * 9, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(3, cout, -0.5, 0.5));
        double[] r = Tensors.toDouble(Tensors.uniform(4, cout * h * w, -1, 1)); // dL/dy for L = sum(r * y)
        double[] y = Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, relu);
        double[] mask = relu ? y : null;

        FiniteDifference.assertMatches("d/dx", Conv3x3Reference.backwardInput(r, wt, mask, cin, cout, h, w),
                xx -> dot(r, Conv3x3Reference.forward(xx, cin, h, w, wt, b, cout, relu)), x, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dweight", Conv3x3Reference.backwardWeight(x, r, mask, cin, cout, h, w),
                ww -> dot(r, Conv3x3Reference.forward(x, cin, h, w, ww, b, cout, relu)), wt, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dbias", Conv3x3Reference.backwardBias(r, mask, cout, h, w),
                bb -> dot(r, Conv3x3Reference.forward(x, cin, h, w, wt, bb, cout, relu)), b, H, ATOL, RTOL);
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
