package org.clstyle.reference;

/**
 * Plain-Java twin of ops.Conv2d in double precision: KxK convolution (cross-correlation, as PyTorch's
 * nn.Conv2d) with stride s and symmetric zero padding p, optional bias, over a batch.
 * x [N, Cin, H, W], weight [Cout, Cin, K, K], bias [Cout] or null, y [N, Cout, Ho, Wo] with
 * Ho = (H + 2p - K) / s + 1 (floor), Wo likewise.
 */
public final class Conv2dReference {
    private Conv2dReference() {}

    /** The geometry of one convolution. */
    public record Geometry(int n, int cin, int h, int w, int cout, int k, int stride, int pad) {
        public Geometry {
            if (n < 1 || cin < 1 || h < 1 || w < 1 || cout < 1 || k < 1 || stride < 1 || pad < 0) {
                throw new IllegalArgumentException("Conv2dReference: bad geometry " + this);
            }
            if (h + 2 * pad < k || w + 2 * pad < k) {
                throw new IllegalArgumentException("Conv2dReference: kernel " + k + " larger than padded input " + this);
            }
        }

        public int outH() { return (h + 2 * pad - k) / stride + 1; }

        public int outW() { return (w + 2 * pad - k) / stride + 1; }

        int xSize() { return n * cin * h * w; }

        int ySize() { return n * cout * outH() * outW(); }

        int wSize() { return cout * cin * k * k; }
    }

    /** y[b, co, oi, oj] = bias[co] + sum over ci, di, dj of w[co, ci, di, dj] * x[b, ci, oi*s - p + di, oj*s - p + dj]. */
    public static double[] forward(Geometry g, double[] x, double[] weight, double[] bias) {
        check(x, g.xSize(), "x");
        check(weight, g.wSize(), "weight");
        if (bias != null) check(bias, g.cout(), "bias");
        int ho = g.outH(), wo = g.outW(), k = g.k();
        double[] y = new double[g.ySize()];
        for (int b = 0; b < g.n(); b++) {
            for (int co = 0; co < g.cout(); co++) {
                for (int oi = 0; oi < ho; oi++) {
                    for (int oj = 0; oj < wo; oj++) {
                        double s = bias == null ? 0 : bias[co];
                        for (int ci = 0; ci < g.cin(); ci++) {
                            for (int di = 0; di < k; di++) {
                                int i = oi * g.stride() - g.pad() + di;
                                if (i < 0 || i >= g.h()) continue;
                                for (int dj = 0; dj < k; dj++) {
                                    int j = oj * g.stride() - g.pad() + dj;
                                    if (j < 0 || j >= g.w()) continue;
                                    s += weight[((co * g.cin() + ci) * k + di) * k + dj]
                                            * x[((b * g.cin() + ci) * g.h() + i) * g.w() + j];
                                }
                            }
                        }
                        y[((b * g.cout() + co) * ho + oi) * wo + oj] = s;
                    }
                }
            }
        }
        return y;
    }

    /** dx [N, Cin, H, W] from dy [N, Cout, Ho, Wo] (scatter form of the forward's sum). */
    public static double[] backwardInput(Geometry g, double[] dy, double[] weight) {
        check(dy, g.ySize(), "dy");
        check(weight, g.wSize(), "weight");
        int ho = g.outH(), wo = g.outW(), k = g.k();
        double[] dx = new double[g.xSize()];
        for (int b = 0; b < g.n(); b++) {
            for (int co = 0; co < g.cout(); co++) {
                for (int oi = 0; oi < ho; oi++) {
                    for (int oj = 0; oj < wo; oj++) {
                        double gy = dy[((b * g.cout() + co) * ho + oi) * wo + oj];
                        for (int ci = 0; ci < g.cin(); ci++) {
                            for (int di = 0; di < k; di++) {
                                int i = oi * g.stride() - g.pad() + di;
                                if (i < 0 || i >= g.h()) continue;
                                for (int dj = 0; dj < k; dj++) {
                                    int j = oj * g.stride() - g.pad() + dj;
                                    if (j < 0 || j >= g.w()) continue;
                                    dx[((b * g.cin() + ci) * g.h() + i) * g.w() + j]
                                            += weight[((co * g.cin() + ci) * k + di) * k + dj] * gy;
                                }
                            }
                        }
                    }
                }
            }
        }
        return dx;
    }

    /** dWeight [Cout, Cin, K, K] from x and dy, summed over the batch. */
    public static double[] backwardWeight(Geometry g, double[] x, double[] dy) {
        check(x, g.xSize(), "x");
        check(dy, g.ySize(), "dy");
        int ho = g.outH(), wo = g.outW(), k = g.k();
        double[] dw = new double[g.wSize()];
        for (int co = 0; co < g.cout(); co++) {
            for (int ci = 0; ci < g.cin(); ci++) {
                for (int di = 0; di < k; di++) {
                    for (int dj = 0; dj < k; dj++) {
                        double s = 0;
                        for (int b = 0; b < g.n(); b++) {
                            for (int oi = 0; oi < ho; oi++) {
                                int i = oi * g.stride() - g.pad() + di;
                                if (i < 0 || i >= g.h()) continue;
                                for (int oj = 0; oj < wo; oj++) {
                                    int j = oj * g.stride() - g.pad() + dj;
                                    if (j < 0 || j >= g.w()) continue;
                                    s += dy[((b * g.cout() + co) * ho + oi) * wo + oj]
                                            * x[((b * g.cin() + ci) * g.h() + i) * g.w() + j];
                                }
                            }
                        }
                        dw[((co * g.cin() + ci) * k + di) * k + dj] = s;
                    }
                }
            }
        }
        return dw;
    }

    /** dBias [Cout]: dy summed over the batch and each channel's plane. */
    public static double[] backwardBias(Geometry g, double[] dy) {
        check(dy, g.ySize(), "dy");
        int plane = g.outH() * g.outW();
        double[] db = new double[g.cout()];
        for (int b = 0; b < g.n(); b++) {
            for (int co = 0; co < g.cout(); co++) {
                for (int p = 0; p < plane; p++) {
                    db[co] += dy[(b * g.cout() + co) * plane + p];
                }
            }
        }
        return db;
    }

    static void check(double[] a, int n, String name) {
        if (a.length != n) {
            throw new IllegalArgumentException("reference: " + name + " has " + a.length + " elements, expected " + n);
        }
    }
}
