package org.clstyle.loss;

import java.util.Arrays;
import org.clstyle.cl.ClBuffer;

/**
 * The style-transfer objective of one H x W image on the device, evaluated whole ({@link LossFunction})
 * or in tiles ({@link TiledLossFunction}) with the same values and gradient; {@link LossFactory} picks one.
 */
public interface ImageLoss extends AutoCloseable {
    /**
     * The loss at {@code image} ([3, H, W], RGB in [0,1]) and, unless {@code gradOut} is null, d total /
     * d image written to {@code gradOut} ([3, H, W], overwritten).
     */
    LossValues evaluate(ClBuffer image, ClBuffer gradOut);

    Recipe recipe();

    int height();

    int width();

    /**
     * Refuses an {@code image} or {@code gradOut} (null: none) that is not [3, h, w], naming the caller
     * ({@code who}, e.g. "LossFunction.evaluate"): the check every {@link #evaluate} starts with.
     */
    static void checkShapes(String who, ClBuffer image, ClBuffer gradOut, int h, int w) {
        int[] shape = {3, h, w};
        if (!Arrays.equals(image.shape(), shape)) {
            throw new IllegalArgumentException(who + ": image is " + image + ", expected " + Arrays.toString(shape));
        }
        if (gradOut != null && !Arrays.equals(gradOut.shape(), shape)) {
            throw new IllegalArgumentException(who + ": gradOut is " + gradOut + ", expected " + Arrays.toString(shape));
        }
    }

    /** Releases every device buffer this loss holds. */
    @Override
    void close();
}
