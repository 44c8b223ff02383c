package org.clstyle.transfer;

import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.ops.Warp;
import org.clstyle.ops.WarpTransform;
import org.clstyle.optim.Objective;

/**
 * One scale's augmentation on the device: the canvas [3, H + 2P, W + 2P] the optimiser moves (the
 * output is its centre H x W), the view of the same size that the loss network sees through this
 * step's random {@link WarpTransform} (rotated, zoomed and shifted about the canvas centre; samples
 * past the canvas reflect), and the objective that warps, evaluates and pulls the gradient back
 * through {@link Warp#backward}. With P at least {@link Augmentation#defaultPad} every output pixel
 * lies inside every view, P - reach pixels or more from its edge.
 * {@link #next()} draws the transform for the next optimiser step; every evaluation within a step
 * (the L-BFGS line search's too) sees the same view, so each step's objective is deterministic.
 * Allocates its two buffers once.
 */
final class AugmentedView implements AutoCloseable {
    private final Warp warp;
    private final int w, h, pad;
    private final double rotate, scale, shift;
    private final SplittableRandom rng;
    private final ClBuffer view;      // [3, H + 2P, W + 2P] the warped canvas
    private final ClBuffer viewGrad;  // [3, H + 2P, W + 2P] d loss / d view
    private WarpTransform current;
    private final double[] drawn = {0, 1, 0, 0}; // this step's degrees, zoom, shift x, shift y

    /** w x h: the output at this scale; pad and shift in pixels at this scale. */
    AugmentedView(ClContext ctx, Augmentation a, int w, int h, int pad, double shift, SplittableRandom rng) {
        this.warp = new Warp(ctx);
        this.w = w;
        this.h = h;
        this.pad = pad;
        this.rotate = a.rotate();
        this.scale = a.scale();
        this.shift = shift;
        this.rng = rng;
        this.view = ctx.buffer(canvasShape());
        this.viewGrad = ctx.buffer(canvasShape());
        this.current = WarpTransform.translation(0, 0);
    }

    int[] canvasShape() {
        return new int[] {3, h + 2 * pad, w + 2 * pad};
    }

    /** Draws the next step's view: angle, magnification and shift, each uniform in its range. */
    WarpTransform next() {
        double deg = rotate * (2 * rng.nextDouble() - 1);
        double zoom = 1 + scale * (2 * rng.nextDouble() - 1);
        double sx = shift * (2 * rng.nextDouble() - 1), sy = shift * (2 * rng.nextDouble() - 1);
        int cw = w + 2 * pad, ch = h + 2 * pad;
        current = WarpTransform.view(deg, zoom, sx, sy, cw, ch, cw, ch);
        drawn[0] = deg;
        drawn[1] = zoom;
        drawn[2] = sx;
        drawn[3] = sy;
        return current;
    }

    /** The current view's {degrees, zoom, shift x, shift y}. */
    double[] drawn() {
        return drawn.clone();
    }

    WarpTransform current() {
        return current;
    }

    /** f(canvas) = inner(warp(canvas)); d f / d canvas = warp^T(d inner / d view). */
    Objective wrap(Objective inner) {
        return (canvas, grad) -> {
            warp.forward(canvas, current, view);
            double v = inner.evaluate(view, viewGrad);
            warp.backward(viewGrad, current, grad, false);
            return v;
        };
    }

    /** The canvas for a start image: pad pixels on every side, reflecting the image (reflect-101). */
    static FloatImage padReflect(FloatImage img, int pad) {
        int w = img.width(), h = img.height(), cw = w + 2 * pad, ch = h + 2 * pad;
        float[] src = img.data(), out = new float[3 * cw * ch];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < ch; i++) {
                int si = reflect(i - pad, h);
                for (int j = 0; j < cw; j++) {
                    out[(c * ch + i) * cw + j] = src[(c * h + si) * w + reflect(j - pad, w)];
                }
            }
        return new FloatImage(cw, ch, out);
    }

    /** The image inside a canvas of data [3, h + 2 pad, w + 2 pad]. */
    static FloatImage crop(float[] canvas, int w, int h, int pad) {
        int cw = w + 2 * pad, ch = h + 2 * pad;
        float[] out = new float[3 * w * h];
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < h; i++) {
                System.arraycopy(canvas, (c * ch + i + pad) * cw + pad, out, (c * h + i) * w, w);
            }
        return new FloatImage(w, h, out);
    }

    private static int reflect(int t, int n) {
        if (n == 1) {
            return 0;
        }
        int per = 2 * (n - 1);
        int r = Math.floorMod(t, per);
        return r < n ? r : per - r;
    }

    @Override
    public void close() {
        view.close();
        viewGrad.close();
    }
}
