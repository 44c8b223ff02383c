package org.clstyle.reference;

/**
 * Plain-Java twin of ops.Pad2d in double: spatial padding of x [N, C, H, W] to
 * y [N, C, top + H + bottom, left + W + right] as PyTorch's F.pad with mode "constant" (0),
 * "replicate", "circular" or "reflect". A negative amount crops.
 */
public final class Pad2dReference {
    private Pad2dReference() {}

    /** The padding modes, in the order of their codes in pad.cl. */
    public enum Mode { ZERO, REPLICATE, CIRCULAR, REFLECT }

    /** The input index along an axis of length n that output index o reads, or -1 for a zero. */
    public static int source(int o, int before, int n, Mode mode) {
        int i = o - before;
        if (i >= 0 && i < n) return i;
        return switch (mode) {
            case ZERO -> -1;
            case REPLICATE -> i < 0 ? 0 : n - 1;
            case CIRCULAR -> Math.floorMod(i, n);
            case REFLECT -> i < 0 ? -i : 2 * (n - 1) - i;
        };
    }

    public static double[] forward(double[] x, int n, int c, int h, int w, Mode mode, int top, int bottom, int left,
            int right) {
        Conv2dReference.check(x, n * c * h * w, "x");
        int ho = h + top + bottom, wo = w + left + right;
        double[] y = new double[n * c * ho * wo];
        for (int p = 0; p < n * c; p++) {
            for (int oi = 0; oi < ho; oi++) {
                int i = source(oi, top, h, mode);
                for (int oj = 0; oj < wo; oj++) {
                    int j = source(oj, left, w, mode);
                    y[(p * ho + oi) * wo + oj] = i < 0 || j < 0 ? 0 : x[(p * h + i) * w + j];
                }
            }
        }
        return y;
    }

    /** dx [N, C, H, W]: each dy element added to the input element it was read from. */
    public static double[] backward(double[] dy, int n, int c, int h, int w, Mode mode, int top, int bottom, int left,
            int right) {
        int ho = h + top + bottom, wo = w + left + right;
        Conv2dReference.check(dy, n * c * ho * wo, "dy");
        double[] dx = new double[n * c * h * w];
        for (int p = 0; p < n * c; p++) {
            for (int oi = 0; oi < ho; oi++) {
                int i = source(oi, top, h, mode);
                for (int oj = 0; oj < wo; oj++) {
                    int j = source(oj, left, w, mode);
                    if (i >= 0 && j >= 0) dx[(p * h + i) * w + j] += dy[(p * ho + oi) * wo + oj];
                }
            }
        }
        return dx;
    }
}
