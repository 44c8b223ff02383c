package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;

class ImageReferenceTest {
    @Test
    void channelAffineBackwardMatchesFiniteDifferences() {
        int c = 3, h = 3, w = 4;
        int[] perm = {2, 0, 1};
        double[] mul = {0.5, -2, 3}, add = {1, 2, -3};
        double[] x = Tensors.toDouble(Tensors.uniform(13, c * h * w, -1, 1));
        double[] dy = Tensors.toDouble(Tensors.uniform(14, c * h * w, -1, 1));
        FiniteDifference.assertMatches("channelAffine", ImageReference.channelAffineBackward(dy, c, h, w, perm, mul),
                v -> ReluReferenceTest.dotWith(dy, ImageReference.channelAffine(v, c, h, w, perm, mul, add)),
                x, 1e-6, 1e-8, 1e-6);
    }

    @Test
    void affinePermutesScalesAndShifts() {
        double[] x = {1, 2, 10, 20, 100, 200}; // [3, 1, 2]
        double[] y = ImageReference.channelAffine(x, 3, 1, 2, new int[] {2, 1, 0}, new double[] {1, 2, 3},
                new double[] {0, 1, -1});
        assertArrayEquals(new double[] {100, 200, 21, 41, 2, 5}, y, 0);
    }

    @Test
    void denormalizeUndoesNormalize() {
        double[] x = Tensors.toDouble(Tensors.uniform(15, 3 * 2 * 2, 0, 1));
        double[] mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225};
        double[] back = ImageReference.denormalize(ImageReference.normalize(x, 3, 2, 2, mean, std), 3, 2, 2, mean, std);
        assertArrayEquals(x, back, 1e-12);
    }
}
