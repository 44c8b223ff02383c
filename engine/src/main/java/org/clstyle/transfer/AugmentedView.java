package org.clstyle.transfer;

import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.ops.Warp;
import org.clstyle.ops.WarpTransform;
import org.clstyle.optim.Objective;

/**
 * One scale's augmentation on the device: the loss network sees the image [3, H, W] through this
 * step's random {@link WarpTransform} as a view [3, H + 2P, W + 2P] (rotated, zoomed and shifted about
 * the centres; everything past the image's edges is its reflect-101 mirror image, so the border the
 * network sees carries the image's own statistics), and the objective warps, evaluates and pulls the
 * gradient back through {@link Warp#backward} (the mirrored border's gradient flows back to the pixels it
 * mirrors). With P at least {@link Augmentation#reach} every image pixel lies inside every view, so the
 * view's edges and rotated corners fall in the border, never on the image.
 * {@link #next()} draws the transform for the next optimiser step; every evaluation within a step
 * (the L-BFGS line search's too) sees the same view, so each step's objective is deterministic.
 * Allocates its two buffers once.
 */
final class AugmentedView implements AutoCloseable {
    private final Warp warp;
    private final int w, h, pad;
    private final double rotate, scale, shift;
    private final SplittableRandom rng;
    private final ClBuffer view;      // [3, H + 2P, W + 2P] the warped image with its mirrored border
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
        this.view = ctx.buffer(viewShape());
        this.viewGrad = ctx.buffer(viewShape());
        this.current = WarpTransform.translation(-pad, -pad);
    }

    int[] viewShape() {
        return new int[] {3, h + 2 * pad, w + 2 * pad};
    }

    /** Draws the next step's view: angle, magnification and shift, each uniform in its range. */
    WarpTransform next() {
        double deg = rotate * (2 * rng.nextDouble() - 1);
        double zoom = 1 + scale * (2 * rng.nextDouble() - 1);
        double sx = shift * (2 * rng.nextDouble() - 1), sy = shift * (2 * rng.nextDouble() - 1);
        current = WarpTransform.view(deg, zoom, sx, sy, w, h, w + 2 * pad, h + 2 * pad);
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

    /** f(image) = inner(warp(image)); d f / d image = warp^T(d inner / d view). */
    Objective wrap(Objective inner) {
        return (image, grad) -> {
            warp.forward(image, current, view);
            double v = inner.evaluate(view, viewGrad);
            warp.backward(viewGrad, current, grad, false);
            return v;
        };
    }

    /** The image with pad pixels on every side of its reflection (reflect-101): the content target's border. */
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
