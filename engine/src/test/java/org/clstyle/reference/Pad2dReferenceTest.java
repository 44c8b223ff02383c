package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.reference.Pad2dReference.Mode;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class Pad2dReferenceTest {
    @Test
    void rowOfThreePaddedByTwoInEachMode() {
        double[] x = {1, 2, 3};
        assertArrayEquals(new double[] {0, 0, 1, 2, 3, 0, 0}, Pad2dReference.forward(x, 1, 1, 1, 3, Mode.ZERO, 0, 0, 2, 2));
        assertArrayEquals(new double[] {1, 1, 1, 2, 3, 3, 3},
                Pad2dReference.forward(x, 1, 1, 1, 3, Mode.REPLICATE, 0, 0, 2, 2));
        assertArrayEquals(new double[] {2, 3, 1, 2, 3, 1, 2},
                Pad2dReference.forward(x, 1, 1, 1, 3, Mode.CIRCULAR, 0, 0, 2, 2));
        assertArrayEquals(new double[] {3, 2, 1, 2, 3, 2, 1},
                Pad2dReference.forward(x, 1, 1, 1, 3, Mode.REFLECT, 0, 0, 2, 2));
        // Cropping (negative amounts, zero mode).
        assertArrayEquals(new double[] {2}, Pad2dReference.forward(x, 1, 1, 1, 3, Mode.ZERO, 0, 0, -1, -1));
    }

    @Test
    void columnPaddingUsesTheColumn() {
        // 3x1 column, top 1 bottom 2 reflect: rows 1 | 0 1 2 | 1 0.
        double[] x = {10, 20, 30};
        assertArrayEquals(new double[] {20, 10, 20, 30, 20, 10},
                Pad2dReference.forward(x, 1, 1, 3, 1, Mode.REFLECT, 1, 2, 0, 0));
    }

    // The loss sum(r * pad(x)) is linear in x: central differences are exact up to rounding.
    @ParameterizedTest(name = "{0} {1}x{2} pads {3} {4} {5} {6}")
    @CsvSource({"ZERO, 4, 5, 1, 2, 3, 0", "REPLICATE, 4, 5, 3, 1, 0, 6", "CIRCULAR, 4, 5, 4, 1, 2, 5",
            "REFLECT, 4, 5, 3, 1, 2, 4", "REFLECT, 1, 3, 0, 0, 2, 1", "ZERO, 4, 5, -1, 2, -2, 0",
            "REPLICATE, 1, 1, 2, 2, 2, 2"})
    void backwardMatchesFiniteDifferences(Mode mode, int h, int w, int top, int bottom, int left, int right) {
        int n = 2, c = 3;
        double[] x = Tensors.toDouble(Tensors.uniform(1, n * c * h * w, -1, 1));
        int ho = h + top + bottom, wo = w + left + right;
        double[] r = Tensors.toDouble(Tensors.uniform(2, n * c * ho * wo, -1, 1));
        FiniteDifference.assertMatches("pad " + mode, Pad2dReference.backward(r, n, c, h, w, mode, top, bottom, left, right),
                xx -> Conv2dReferenceTest.dot(r, Pad2dReference.forward(xx, n, c, h, w, mode, top, bottom, left, right)),
                x, 1e-5, 1e-8, 1e-7);
    }
}
