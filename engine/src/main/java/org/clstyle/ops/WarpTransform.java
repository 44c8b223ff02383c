package org.clstyle.ops;

/**
 * An affine map from output pixel coordinates to input pixel coordinates (pixel centres at integers,
 * x the column, y the row): {@code sx = a0 j + a1 i + a2, sy = a3 j + a4 i + a5}. What {@link Warp}
 * samples; the coefficients go to the kernels as floats.
 */
public record WarpTransform(double a0, double a1, double a2, double a3, double a4, double a5) {
    /** Largest coordinate magnitude the kernels accept (taps are ints; floats stay exact well past it). */
    static final double MAX_COORDINATE = 1 << 20;

    public WarpTransform {
        double det = a0 * a4 - a1 * a3;
        for (double v : new double[] {a0, a1, a2, a3, a4, a5}) {
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("WarpTransform: coefficients must be finite, got " + describe(a0, a1, a2, a3, a4, a5));
            }
        }
        if (!(Math.abs(det) > 1e-6)) {
            throw new IllegalArgumentException("WarpTransform: the linear part is (nearly) singular: " + describe(a0, a1, a2, a3, a4, a5));
        }
    }

    /** The identity shifted: output (i, j) reads input (i + dy, j + dx). */
    public static WarpTransform translation(double dx, double dy) {
        return new WarpTransform(1, 0, dx, 0, 1, dy);
    }

    /**
     * The view of an input of inW x inH that an outW x outH output gets when the input is rotated by
     * {@code degrees} (counter-clockwise on screen), magnified by {@code zoom} about its centre and
     * moved by (shiftX, shiftY) pixels: output centre -> input centre - shift, output steps -> input
     * steps of 1/zoom rotated by -degrees.
     */
    public static WarpTransform view(double degrees, double zoom, double shiftX, double shiftY, int inW, int inH,
            int outW, int outH) {
        if (!(zoom > 0)) {
            throw new IllegalArgumentException("WarpTransform.view: zoom must be positive, got " + zoom);
        }
        double th = Math.toRadians(degrees);
        double c = Math.cos(th) / zoom, s = Math.sin(th) / zoom;
        double cix = (inW - 1) / 2.0, ciy = (inH - 1) / 2.0, cox = (outW - 1) / 2.0, coy = (outH - 1) / 2.0;
        double a0 = c, a1 = s, a3 = -s, a4 = c;
        return new WarpTransform(a0, a1, cix - shiftX - (a0 * cox + a1 * coy), a3, a4, ciy - shiftY - (a3 * cox + a4 * coy));
    }

    /** The inverse map, input coordinates -> output coordinates. */
    public WarpTransform inverse() {
        double det = a0 * a4 - a1 * a3;
        double b0 = a4 / det, b1 = -a1 / det, b3 = -a3 / det, b4 = a0 / det;
        return new WarpTransform(b0, b1, -(b0 * a2 + b1 * a5), b3, b4, -(b3 * a2 + b4 * a5));
    }

    public double sampleX(double j, double i) {
        return a0 * j + a1 * i + a2;
    }

    public double sampleY(double j, double i) {
        return a3 * j + a4 * i + a5;
    }

    /**
     * {minX, maxX, minY, maxY}: the range of sample coordinates over an outW x outH output (the
     * corners, as the map is affine).
     */
    public double[] sampleRange(int outW, int outH) {
        double[] r = {Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
        for (int cj : new int[] {0, outW - 1}) {
            for (int ci : new int[] {0, outH - 1}) {
                double x = sampleX(cj, ci), y = sampleY(cj, ci);
                r[0] = Math.min(r[0], x);
                r[1] = Math.max(r[1], x);
                r[2] = Math.min(r[2], y);
                r[3] = Math.max(r[3], y);
            }
        }
        return r;
    }

    float[] floats() {
        return new float[] {(float) a0, (float) a1, (float) a2, (float) a3, (float) a4, (float) a5};
    }

    public double[] coefficients() {
        return new double[] {a0, a1, a2, a3, a4, a5};
    }

    private static String describe(double... a) {
        return java.util.Arrays.toString(a);
    }
}
