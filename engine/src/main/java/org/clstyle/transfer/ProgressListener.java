package org.clstyle.transfer;

import java.nio.file.Path;
import java.time.Duration;
import org.clstyle.image.FloatImage;
import org.clstyle.loss.LossValues;

/** What a {@link Stylizer} reports while it runs. Every method has a do-nothing default. */
public interface ProgressListener {

    /**
     * One finished iteration. {@code iteration} counts over all scales (1 .. totalIterations); the
     * loss is that of the last evaluation (for L-BFGS the image after the step, for Adam the image the
     * step started from); {@code eta} estimates the rest of the run from the time per iteration so
     * far, scaled by pixel count for the finer scales still to come.
     */
    record Progress(int scale, int scales, int width, int height, int iteration, int totalIterations,
            LossValues loss, Weighted weighted, Duration elapsed, Duration eta) {}

    /**
     * The terms as they enter the total: content weight x sum over layers of layer weight x raw term,
     * likewise style, and tv weight x tv; content + style + tv = total.
     */
    record Weighted(double content, double style, double tv) {}

    /** A scale starts: its image size and iteration budget. */
    default void onScaleStart(int scale, int scales, int width, int height, int iterations) { }

    default void onIteration(Progress p) { }

    /** An intermediate image was written (every --save-every iterations). */
    default void onImageSaved(int iteration, FloatImage image, Path file) { }

    /** How often {@link #onPreview} wants the current image: every N iterations; 0 (the default) never. */
    default int previewEvery() { return 0; }

    /**
     * The current image (with --original-colors applied) every {@link #previewEvery()} iterations, from
     * the run's thread; nothing is written to disk.
     */
    default void onPreview(int iteration, FloatImage image) { }

    /** A one-line remark for the user (alpha dropped, stop requested, optimiser converged ...). */
    default void onNote(String note) { }

    ProgressListener NONE = new ProgressListener() { };
}
