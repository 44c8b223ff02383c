package org.clstyle.train;

import java.util.LinkedHashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.LossValues;

/**
 * The loss of one training batch and its gradient with respect to the generator's output: for each image
 * i of the output [N, 3, H, W], the output mapped to a [0,1] image ({@link OutputMapping}), the loss
 * (stylization: with crop i as the content target, {@link LossFunction#setContent}) and d loss / d image
 * mapped back into d loss / d output. The batch's loss is the sum of the per-image losses (the authors'
 * criterion over a batch). What {@link Trainer} runs every step, and what TrainStepGoldenTest checks
 * against PyTorch.
 */
final class BatchLoss implements AutoCloseable {
    /** The batch's total and its raw terms, each summed over the images. */
    record Values(double total, Map<String, Double> content, Map<String, Double> style, double tv) {}

    /** Called after image i's loss, while {@link #image()} still holds it (the trainer's preview). */
    @FunctionalInterface
    interface AfterImage {
        void accept(int i) throws Exception;
    }

    private final LossFunction loss;
    private final OutputMapping mapping;
    private final int plane;
    private final ClBuffer image;   // [3, H, W] one output as a [0,1] image
    private final ClBuffer grad;    // [3, H, W] d loss / d image
    private final ClBuffer scratch; // [3, H, W] one output slice, then one crop

    /** For outputs of h x w; {@code loss} is built for that size and is not closed here. */
    BatchLoss(ClContext ctx, LossFunction loss, OutputMapping mapping, int h, int w) {
        this.loss = loss;
        this.mapping = mapping;
        this.plane = 3 * h * w;
        this.image = ctx.buffer(3, h, w);
        this.grad = ctx.buffer(3, h, w);
        this.scratch = ctx.buffer(3, h, w);
    }

    /**
     * The loss of {@code out} [N, 3, H, W] and d loss / d out into {@code dOut} (overwritten); {@code crops}
     * [N, 3, H, W] holds the content photos (stylization) or is null (texture).
     */
    Values evaluate(ClBuffer out, ClBuffer crops, ClBuffer dOut, AfterImage after) throws Exception {
        int n = out.dim(0);
        double total = 0, tv = 0;
        Map<String, Double> content = new LinkedHashMap<>(), style = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            scratch.copyFrom(out, (long) i * plane, 0, plane);
            mapping.forward(scratch, image);
            if (crops != null) {
                scratch.copyFrom(crops, (long) i * plane, 0, plane);
                loss.setContent(scratch);
            }
            LossValues v = loss.evaluate(image, grad);
            mapping.backward(grad);
            dOut.copyFrom(grad, 0, (long) i * plane, plane);
            total += v.total();
            v.content().forEach((l, x) -> content.merge(l, x, Double::sum));
            v.style().forEach((l, x) -> style.merge(l, x, Double::sum));
            tv += v.tv();
            if (after != null) {
                after.accept(i);
            }
        }
        return new Values(total, content, style, tv);
    }

    /** The last image evaluated, as the loss saw it ([3, H, W], [0,1] up to the generator's range). */
    ClBuffer image() {
        return image;
    }

    @Override
    public void close() {
        image.close();
        grad.close();
        scratch.close();
    }
}
