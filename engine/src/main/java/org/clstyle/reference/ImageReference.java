package org.clstyle.reference;

/** Plain-Java twin of ops.ImageOps over [C, H, W], in double. */
public final class ImageReference {
    private ImageReference() {}

    /** y[c] = x[perm[c]] * mul[c] + add[c] */
    public static double[] channelAffine(double[] x, int c, int h, int w, int[] perm, double[] mul, double[] add) {
        int hw = h * w;
        double[] y = new double[c * hw];
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++)
                y[ch * hw + p] = x[perm[ch] * hw + p] * mul[ch] + add[ch];
        return y;
    }

    /** dx[perm[c]] = dy[c] * mul[c] */
    public static double[] channelAffineBackward(double[] dy, int c, int h, int w, int[] perm, double[] mul) {
        int hw = h * w;
        double[] dx = new double[c * hw];
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < hw; p++)
                dx[perm[ch] * hw + p] += dy[ch * hw + p] * mul[ch];
        return dx;
    }

    /** y[c] = (x[c] - mean[c]) / std[c] */
    public static double[] normalize(double[] x, int c, int h, int w, double[] mean, double[] std) {
        int hw = h * w;
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = (x[k] - mean[k / hw]) / std[k / hw];
        return y;
    }

    /** y[c] = x[c] * std[c] + mean[c] */
    public static double[] denormalize(double[] x, int c, int h, int w, double[] mean, double[] std) {
        int hw = h * w;
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = x[k] * std[k / hw] + mean[k / hw];
        return y;
    }

    public static double[] scale(double[] x, double s) {
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = x[k] * s;
        return y;
    }

    public static double[] clamp(double[] x, double lo, double hi) {
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = Math.min(Math.max(x[k], lo), hi);
        return y;
    }
}
