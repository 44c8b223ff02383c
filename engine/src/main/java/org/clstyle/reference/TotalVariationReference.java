package org.clstyle.reference;

/**
 * Plain-Java twin of ops.TotalVariation over [C, H, W]: the sum of squared (L2) or absolute (L1)
 * differences to the right and lower neighbours, in double.
 */
public final class TotalVariationReference {
    private TotalVariationReference() {}

    public static double l2(double[] x, int c, int h, int w) {
        return tv(x, c, h, w, false);
    }

    public static double l1(double[] x, int c, int h, int w) {
        return tv(x, c, h, w, true);
    }

    private static double tv(double[] x, int c, int h, int w, boolean abs) {
        double s = 0;
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    int k = (ch * h + i) * w + j;
                    if (j + 1 < w) s += term(x[k + 1] - x[k], abs);
                    if (i + 1 < h) s += term(x[k + w] - x[k], abs);
                }
        return s;
    }

    private static double term(double d, boolean abs) {
        return abs ? Math.abs(d) : d * d;
    }

    /** scale * d l2 / d x */
    public static double[] l2Backward(double[] x, int c, int h, int w, double scale) {
        return backward(x, c, h, w, scale, false);
    }

    /** scale * d l1 / d x, sign(0) = 0 */
    public static double[] l1Backward(double[] x, int c, int h, int w, double scale) {
        return backward(x, c, h, w, scale, true);
    }

    // Scatter form (each difference pushes onto both its ends), independent of the kernel's gather.
    private static double[] backward(double[] x, int c, int h, int w, double scale, boolean abs) {
        double[] g = new double[x.length];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < h; i++)
                for (int j = 0; j < w; j++) {
                    int k = (ch * h + i) * w + j;
                    if (j + 1 < w) push(g, k + 1, k, x[k + 1] - x[k], scale, abs);
                    if (i + 1 < h) push(g, k + w, k, x[k + w] - x[k], scale, abs);
                }
        return g;
    }

    private static void push(double[] g, int plus, int minus, double d, double scale, boolean abs) {
        double dd = scale * (abs ? Math.signum(d) : 2 * d);
        g[plus] += dd;
        g[minus] -= dd;
    }
}
