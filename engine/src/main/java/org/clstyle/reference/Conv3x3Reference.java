package org.clstyle.reference;

/**
 * Plain-Java twin of ops.Conv3x3 in double precision: 3x3 convolution, stride 1, zero padding 1,
 * bias, optional ReLU. x [Cin, H, W], weight [Cout, Cin, 3, 3], bias [Cout], y [Cout, H, W].
 */
public final class Conv3x3Reference {
    private Conv3x3Reference() {}

    /** y[co, i, j] = bias[co] + sum over ci, di, dj of weight[co, ci, di, dj] * x[ci, i + di - 1, j + dj - 1]. */
    public static double[] forward(double[] x, int cin, int h, int w, double[] weight, double[] bias, int cout,
            boolean relu) {
        check(x, cin * h * w, "x");
        check(weight, cout * cin * 9, "weight");
        check(bias, cout, "bias");
        double[] y = new double[cout * h * w];
        for (int co = 0; co < cout; co++) {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    double s = bias[co];
                    for (int ci = 0; ci < cin; ci++) {
                        for (int di = 0; di < 3; di++) {
                            int ii = i + di - 1;
                            if (ii < 0 || ii >= h) continue;
                            for (int dj = 0; dj < 3; dj++) {
                                int jj = j + dj - 1;
                                if (jj < 0 || jj >= w) continue;
                                s += weight[((co * cin + ci) * 3 + di) * 3 + dj] * x[(ci * h + ii) * w + jj];
                            }
                        }
                    }
                    y[(co * h + i) * w + j] = relu && s < 0 ? 0 : s;
                }
            }
        }
        return y;
    }

    /** dy masked by reluOutput > 0 (a copy), or dy itself when reluOutput is null. */
    static double[] masked(double[] dy, double[] reluOutput) {
        if (reluOutput == null) {
            return dy;
        }
        check(reluOutput, dy.length, "reluOutput");
        double[] d = new double[dy.length];
        for (int k = 0; k < d.length; k++) {
            d[k] = reluOutput[k] > 0 ? dy[k] : 0;
        }
        return d;
    }

    /** dx [Cin, H, W] from dy [Cout, H, W]; reluOutput (the forward output) masks dy when not null. */
    public static double[] backwardInput(double[] dy, double[] weight, double[] reluOutput, int cin, int cout, int h,
            int w) {
        check(dy, cout * h * w, "dy");
        check(weight, cout * cin * 9, "weight");
        double[] g = masked(dy, reluOutput);
        double[] dx = new double[cin * h * w];
        // Scatter form of the forward's sum: each y[co, i, j] read x[ci, i + di - 1, j + dj - 1].
        for (int co = 0; co < cout; co++) {
            for (int i = 0; i < h; i++) {
                for (int j = 0; j < w; j++) {
                    double gy = g[(co * h + i) * w + j];
                    for (int ci = 0; ci < cin; ci++) {
                        for (int di = 0; di < 3; di++) {
                            int ii = i + di - 1;
                            if (ii < 0 || ii >= h) continue;
                            for (int dj = 0; dj < 3; dj++) {
                                int jj = j + dj - 1;
                                if (jj < 0 || jj >= w) continue;
                                dx[(ci * h + ii) * w + jj] += weight[((co * cin + ci) * 3 + di) * 3 + dj] * gy;
                            }
                        }
                    }
                }
            }
        }
        return dx;
    }

    /** dWeight [Cout, Cin, 3, 3] from x and dy; reluOutput masks dy when not null. */
    public static double[] backwardWeight(double[] x, double[] dy, double[] reluOutput, int cin, int cout, int h,
            int w) {
        check(x, cin * h * w, "x");
        check(dy, cout * h * w, "dy");
        double[] g = masked(dy, reluOutput);
        double[] dw = new double[cout * cin * 9];
        for (int co = 0; co < cout; co++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int di = 0; di < 3; di++) {
                    for (int dj = 0; dj < 3; dj++) {
                        double s = 0;
                        for (int i = 0; i < h; i++) {
                            int ii = i + di - 1;
                            if (ii < 0 || ii >= h) continue;
                            for (int j = 0; j < w; j++) {
                                int jj = j + dj - 1;
                                if (jj < 0 || jj >= w) continue;
                                s += g[(co * h + i) * w + j] * x[(ci * h + ii) * w + jj];
                            }
                        }
                        dw[((co * cin + ci) * 3 + di) * 3 + dj] = s;
                    }
                }
            }
        }
        return dw;
    }

    /** dBias [Cout]: dy summed over each channel's plane; reluOutput masks dy when not null. */
    public static double[] backwardBias(double[] dy, double[] reluOutput, int cout, int h, int w) {
        check(dy, cout * h * w, "dy");
        double[] g = masked(dy, reluOutput);
        double[] db = new double[cout];
        for (int co = 0; co < cout; co++) {
            double s = 0;
            for (int p = 0; p < h * w; p++) {
                s += g[co * h * w + p];
            }
            db[co] = s;
        }
        return db;
    }

    private static void check(double[] a, int n, String name) {
        if (a.length != n) {
            throw new IllegalArgumentException("Conv3x3Reference: " + name + " has " + a.length + " elements, expected " + n);
        }
    }
}
