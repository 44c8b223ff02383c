package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class TotalVariationReferenceTest {
    @Test
    void l2BackwardMatchesFiniteDifferences() {
        int c = 2, h = 5, w = 4;
        double[] x = Tensors.toDouble(Tensors.uniform(11, c * h * w, -1, 1));
        FiniteDifference.assertMatches("tv l2", TotalVariationReference.l2Backward(x, c, h, w, 1.5),
                v -> 1.5 * TotalVariationReference.l2(v, c, h, w), x, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void l1BackwardMatchesFiniteDifferencesAwayFromTies() {
        int c = 2, h = 5, w = 4;
        double[] x = PoolReferenceTest.distinct(12, c * h * w); // neighbours differ by >= 0.09
        FiniteDifference.assertMatches("tv l1", TotalVariationReference.l1Backward(x, c, h, w, 0.7),
                v -> 0.7 * TotalVariationReference.l1(v, c, h, w), x, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void isASumOverBothDirections() {
        // Right differences 1 - 0 and 4 - 2, down differences 2 - 0 and 4 - 1.
        double[] x = {0, 1,
                      2, 4};
        assertEquals(1 + 4 + 4 + 9, TotalVariationReference.l2(x, 1, 2, 2), 0);
        assertEquals(1 + 2 + 2 + 3, TotalVariationReference.l1(x, 1, 2, 2), 0);
        assertEquals(0, TotalVariationReference.l2(new double[] {5}, 1, 1, 1), 0);
    }
}
