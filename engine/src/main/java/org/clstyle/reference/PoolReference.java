package org.clstyle.reference;

/**
 * Plain-Java twin of ops.Pool2x2: 2x2 windows, stride 2, over [C, H, W] to [C, H/2, W/2] (floor).
 * Max pooling sends the gradient to the first maximum in row-major window order, as PyTorch.
 */
public final class PoolReference {
    private PoolReference() {}

    /** Index into x of the first maximum of output window (c, i, j). */
    static int argmax(double[] x, int c, int h, int w, int i, int j) {
        int best = (c * h + 2 * i) * w + 2 * j;
        for (int di = 0; di < 2; di++) {
            for (int dj = 0; dj < 2; dj++) {
                int k = (c * h + 2 * i + di) * w + 2 * j + dj;
                if (x[k] > x[best] || Double.isNaN(x[k])) best = k;
            }
        }
        return best;
    }

    public static double[] maxForward(double[] x, int c, int h, int w) {
        int ho = h / 2, wo = w / 2;
        double[] y = new double[c * ho * wo];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                    y[(ch * ho + i) * wo + j] = x[argmax(x, ch, h, w, i, j)];
        return y;
    }

    /** dx [C, H, W]: dy [C, H/2, W/2] at each window's first maximum, 0 elsewhere. */
    public static double[] maxBackward(double[] x, int c, int h, int w, double[] dy) {
        int ho = h / 2, wo = w / 2;
        double[] dx = new double[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++)
                    dx[argmax(x, ch, h, w, i, j)] += dy[(ch * ho + i) * wo + j];
        return dx;
    }

    public static double[] avgForward(double[] x, int c, int h, int w) {
        int ho = h / 2, wo = w / 2;
        double[] y = new double[c * ho * wo];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    int k = (ch * h + 2 * i) * w + 2 * j;
                    y[(ch * ho + i) * wo + j] = (x[k] + x[k + 1] + x[k + w] + x[k + w + 1]) / 4;
                }
        return y;
    }

    /** dx [C, H, W]: each dy / 4 spread over its window; a dropped row or column gets 0. */
    public static double[] avgBackward(double[] dy, int c, int h, int w) {
        int ho = h / 2, wo = w / 2;
        double[] dx = new double[c * h * w];
        for (int ch = 0; ch < c; ch++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double g = dy[(ch * ho + i) * wo + j] / 4;
                    int k = (ch * h + 2 * i) * w + 2 * j;
                    dx[k] += g;
                    dx[k + 1] += g;
                    dx[k + w] += g;
                    dx[k + w + 1] += g;
                }
        return dx;
    }

    /**
     * Backward through a ReLU then max pooling: dx [C, H, W] = maxBackward(x, dy) where x &gt; 0, else 0,
     * for x the ReLU's output (the pool's input). Twin of Pool2x2.maxBackwardMaskedInPlace.
     */
    public static double[] maxBackwardMasked(double[] x, int c, int h, int w, double[] dy) {
        double[] dx = maxBackward(x, c, h, w, dy);
        for (int k = 0; k < dx.length; k++) {
            if (!(x[k] > 0)) dx[k] = 0;
        }
        return dx;
    }

    /** Backward through a ReLU then average pooling: avgBackward(dy) where x &gt; 0, else 0. */
    public static double[] avgBackwardMasked(double[] x, int c, int h, int w, double[] dy) {
        double[] dx = avgBackward(dy, c, h, w);
        for (int k = 0; k < dx.length; k++) {
            if (!(x[k] > 0)) dx[k] = 0;
        }
        return dx;
    }
}
