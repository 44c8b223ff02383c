package org.clstyle.reference;

/**
 * Plain-Java twin of ops.Warp in double: bilinear sampling of [C, Hi, Wi] at the affine coordinates
 * a = {a0..a5} (sx = a0 j + a1 i + a2, sy = a3 j + a4 i + a5) with a reflect-101 border, and the
 * adjoint in scatter form (each output pixel pushes its gradient onto its four taps), independent of
 * the kernel's gather.
 */
public final class WarpReference {
    private WarpReference() {}

    /** The input index that tap t reads along a side of n pixels (reflect-101; n = 1 reads 0). */
    public static int reflect(long t, int n) {
        if (n == 1) {
            return 0;
        }
        long per = 2L * (n - 1);
        long r = Math.floorMod(t, per);
        return (int) (r < n ? r : per - r);
    }

    public static double[] forward(double[] x, int c, int hi, int wi, int ho, int wo, double[] a) {
        double[] y = new double[c * ho * wo];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double sx = a[0] * j + a[1] * i + a[2], sy = a[3] * j + a[4] * i + a[5];
                    long x0 = (long) Math.floor(sx), y0 = (long) Math.floor(sy);
                    double fx = sx - x0, fy = sy - y0;
                    double v = 0;
                    for (int dy = 0; dy < 2; dy++)
                        for (int dx = 0; dx < 2; dx++) {
                            double w = (dx == 0 ? 1 - fx : fx) * (dy == 0 ? 1 - fy : fy);
                            v += w * x[(ch * hi + reflect(y0 + dy, hi)) * wi + reflect(x0 + dx, wi)];
                        }
                    y[(ch * ho + i) * wo + j] = v;
                }
        return y;
    }

    /** d(sum dy . forward(x)) / dx. */
    public static double[] backward(double[] dy, int c, int hi, int wi, int ho, int wo, double[] a) {
        double[] g = new double[c * hi * wi];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double sx = a[0] * j + a[1] * i + a[2], sy = a[3] * j + a[4] * i + a[5];
                    long x0 = (long) Math.floor(sx), y0 = (long) Math.floor(sy);
                    double fx = sx - x0, fy = sy - y0;
                    double d = dy[(ch * ho + i) * wo + j];
                    for (int ty = 0; ty < 2; ty++)
                        for (int tx = 0; tx < 2; tx++) {
                            double w = (tx == 0 ? 1 - fx : fx) * (ty == 0 ? 1 - fy : fy);
                            g[(ch * hi + reflect(y0 + ty, hi)) * wi + reflect(x0 + tx, wi)] += w * d;
                        }
                }
        return g;
    }
}
