package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class ResampleReferenceTest {
    @Test
    void handCases() {
        assertArrayEquals(new double[] {1, 1, 2, 2, 1, 1, 2, 2},
                ResampleReference.upsampleForward(new double[] {1, 2}, 1, 1, 2, 2), 0);
        // 3x5 pooled by 2: one row of two windows, the last row and column dropped.
        double[] x = {1, 2, 3, 4, 100, 5, 6, 7, 8, 100, 100, 100, 100, 100, 100};
        assertArrayEquals(new double[] {3.5, 5.5}, ResampleReference.avgPoolForward(x, 1, 3, 5, 2), 1e-15);
    }

    // Both are linear: central differences exact up to rounding.
    @ParameterizedTest(name = "planes={0} {1}x{2} r={3}")
    @CsvSource({"1, 1, 1, 1", "2, 3, 2, 2", "3, 2, 3, 3", "1, 5, 7, 2", "2, 9, 8, 4"})
    void backwardsMatchFiniteDifferences(int planes, int h, int w, int r) {
        double[] x = Tensors.toDouble(Tensors.uniform(1, planes * h * w, -1, 1));
        double[] ru = Tensors.toDouble(Tensors.uniform(2, planes * h * r * w * r, -1, 1));
        FiniteDifference.assertMatches("upsample", ResampleReference.upsampleBackward(ru, planes, h, w, r),
                xx -> Conv2dReferenceTest.dot(ru, ResampleReference.upsampleForward(xx, planes, h, w, r)), x, 1e-5, 1e-8, 1e-7);
        if (h >= r && w >= r) {
            double[] rp = Tensors.toDouble(Tensors.uniform(3, planes * (h / r) * (w / r), -1, 1));
            FiniteDifference.assertMatches("avg pool", ResampleReference.avgPoolBackward(rp, planes, h, w, r),
                    xx -> Conv2dReferenceTest.dot(rp, ResampleReference.avgPoolForward(xx, planes, h, w, r)), x, 1e-5, 1e-8,
                    1e-7);
        }
    }
}
