package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.clstyle.reference.Conv2dReference.Geometry;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class Conv2dReferenceTest {
    // Finite differences: the loss sum(r * y) is linear in each of x, weight and bias, so central
    // differences are exact up to rounding (~1e-16 / 1e-5): step 1e-5, atol 1e-7, rtol 1e-6.
    private static final double H = 1e-5, ATOL = 1e-7, RTOL = 1e-6;

    @Test
    void strideTwoPicksEveryOtherWindow() {
        // 1 channel 4x4 image 0..15, 1x1 kernel of weight 2, stride 2: y = 2 x at (0,0), (0,2), (2,0), (2,2).
        double[] x = new double[16];
        for (int i = 0; i < 16; i++) x[i] = i;
        Geometry g = new Geometry(1, 1, 4, 4, 1, 1, 2, 0);
        assertEquals(2, g.outH());
        assertArrayEquals(new double[] {0, 4, 16, 20}, Conv2dReference.forward(g, x, new double[] {2}, null), 0);
        // 3x3 all-ones kernel, padding 1, stride 2 on the same image: sums of the in-image neighbourhoods
        // of (0,0), (0,2), (2,0), (2,2); bias 1.
        double[] ones = {1, 1, 1, 1, 1, 1, 1, 1, 1};
        double[] y = Conv2dReference.forward(new Geometry(1, 1, 4, 4, 1, 3, 2, 1), x, ones, new double[] {1});
        assertArrayEquals(new double[] {1 + 0 + 1 + 4 + 5, 1 + 1 + 2 + 3 + 5 + 6 + 7,
                1 + 4 + 5 + 8 + 9 + 12 + 13, 1 + 5 + 6 + 7 + 9 + 10 + 11 + 13 + 14 + 15}, y, 0);
    }

    @Test
    void matchesTheStrideOneThreeByThreeReference() {
        // Conv3x3Reference is the same operator for K 3, stride 1, padding 1, one image.
        int cin = 3, cout = 4, h = 6, w = 5;
        double[] x = Tensors.toDouble(Tensors.uniform(1, cin * h * w, -1, 1));
        double[] wt = Tensors.toDouble(Tensors.uniform(2, cout * cin * 9, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(3, cout, -1, 1));
        assertArrayEquals(Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, false),
                Conv2dReference.forward(new Geometry(1, cin, h, w, cout, 3, 1, 1), x, wt, b), 1e-12);
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} k={5} s={6} p={7}")
    @CsvSource({"1, 1, 1, 1, 1, 1, 1, 0", "2, 2, 5, 4, 3, 3, 1, 1", "2, 3, 7, 6, 2, 3, 2, 1", "1, 2, 6, 7, 3, 3, 2, 0",
            "2, 1, 9, 9, 2, 9, 1, 4", "3, 2, 5, 3, 2, 1, 2, 0", "1, 2, 10, 11, 1, 9, 2, 0"})
    void backwardsMatchFiniteDifferences(int n, int cin, int h, int w, int cout, int k, int s, int p) {
        Geometry g = new Geometry(n, cin, h, w, cout, k, s, p);
        double[] x = Tensors.toDouble(Tensors.uniform(1, n * cin * h * w, -1, 1));
        double[] wt = Tensors.toDouble(Tensors.uniform(2, cout * cin * k * k, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(3, cout, -0.5, 0.5));
        double[] r = Tensors.toDouble(Tensors.uniform(4, n * cout * g.outH() * g.outW(), -1, 1)); // dL/dy

        FiniteDifference.assertMatches("d/dx", Conv2dReference.backwardInput(g, r, wt),
                xx -> dot(r, Conv2dReference.forward(g, xx, wt, b)), x, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dweight", Conv2dReference.backwardWeight(g, x, r),
                ww -> dot(r, Conv2dReference.forward(g, x, ww, b)), wt, H, ATOL, RTOL);
        FiniteDifference.assertMatches("d/dbias", Conv2dReference.backwardBias(g, r),
                bb -> dot(r, Conv2dReference.forward(g, x, wt, bb)), b, H, ATOL, RTOL);
    }

    static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += a[i] * b[i];
        return s;
    }
}
