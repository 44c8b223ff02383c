package org.clstyle.train;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.ImageOps;

/**
 * How a generator's output becomes the [0,1] RGB image the loss network reads (its preprocessing is
 * the loss's own, as for stylize), and how the gradient comes back.
 * <ul>
 * <li>pyramid: the output is the image (the authors' code feeds the generator's output straight to the
 *     descriptor network; here that network's input is our [0,1] image, so the output is read as it);
 *     generation clamps it to [0,1].</li>
 * <li>johnson: the output 150 tanh(x) is in pixels of 0..255 centred on 127.5 (Johnson's network
 *     produces mean-centred 0-255 pixels), so image = out / 255 + 0.5, which keeps the image within
 *     [-0.09, 1.09] and d image / d out = 1/255.</li>
 * </ul>
 * The generator's input is the photo's RGB minus 0.5 (the authors': {@code images.input - 0.5}).
 */
final class OutputMapping {
    private static final float[] JOHNSON_MEAN = {-127.5f, -127.5f, -127.5f};
    private static final float[] JOHNSON_STD = {255f, 255f, 255f};
    private final boolean johnson;
    private final ImageOps ops;

    OutputMapping(ClContext ctx, GeneratorSpec spec) {
        this.johnson = !spec.isPyramid();
        this.ops = new ImageOps(ctx);
    }

    /** image = map(out); both [3, H, W]. */
    void forward(ClBuffer out, ClBuffer image) {
        if (johnson) {
            ops.normalize(out, image, JOHNSON_MEAN, JOHNSON_STD); // (out + 127.5) / 255
        } else {
            image.copyFrom(out);
        }
    }

    /** dOut = dImage * d image / d out, in place. */
    void backward(ClBuffer grad) {
        if (johnson) {
            ops.scale(grad, grad, 1f / 255f);
        }
    }

    /** Host version for one value (generation reads the output back). */
    float toImage(float out) {
        return johnson ? out / 255f + 0.5f : out;
    }
}
