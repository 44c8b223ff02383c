package org.clstyle.loss;

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

    /** Releases every device buffer this loss holds. */
    @Override
    void close();
}
