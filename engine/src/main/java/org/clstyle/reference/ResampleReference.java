package org.clstyle.reference;

/**
 * Plain-Java twins of ops.Upsample (nearest, integer factor r, as nn.Upsample(scale_factor=r,
 * mode="nearest")) and ops.AvgPool (r x r windows at stride r, no padding, as F.avg_pool2d(x, r):
 * Ho = H / r rounded down), in double, over planes of x [N*C, H, W].
 */
public final class ResampleReference {
    private ResampleReference() {}

    /** y [planes, H*r, W*r], y[p, i, j] = x[p, i / r, j / r]. */
    public static double[] upsampleForward(double[] x, int planes, int h, int w, int r) {
        Conv2dReference.check(x, planes * h * w, "x");
        int ho = h * r, wo = w * r;
        double[] y = new double[planes * ho * wo];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) y[(p * ho + i) * wo + j] = x[(p * h + i / r) * w + j / r];
        return y;
    }

    /** dx [planes, H, W]: each dy element added to the x element it copied. */
    public static double[] upsampleBackward(double[] dy, int planes, int h, int w, int r) {
        int ho = h * r, wo = w * r;
        Conv2dReference.check(dy, planes * ho * wo, "dy");
        double[] dx = new double[planes * h * w];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) dx[(p * h + i / r) * w + j / r] += dy[(p * ho + i) * wo + j];
        return dx;
    }

    /** y [planes, H / r, W / r]: the mean of each r x r window. */
    public static double[] avgPoolForward(double[] x, int planes, int h, int w, int r) {
        Conv2dReference.check(x, planes * h * w, "x");
        int ho = h / r, wo = w / r;
        double[] y = new double[planes * ho * wo];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < ho * r; i++)
                for (int j = 0; j < wo * r; j++) y[(p * ho + i / r) * wo + j / r] += x[(p * h + i) * w + j] / (r * r);
        return y;
    }

    /** dx [planes, H, W]: dy / r^2 spread over each window; rows and columns past the last window get 0. */
    public static double[] avgPoolBackward(double[] dy, int planes, int h, int w, int r) {
        int ho = h / r, wo = w / r;
        Conv2dReference.check(dy, planes * ho * wo, "dy");
        double[] dx = new double[planes * h * w];
        for (int p = 0; p < planes; p++)
            for (int i = 0; i < ho * r; i++)
                for (int j = 0; j < wo * r; j++) dx[(p * h + i) * w + j] = dy[(p * ho + i / r) * wo + j / r] / (r * r);
        return dx;
    }
}
