package org.clstyle.reference;

/** Plain-Java twin of ops.Distance: mean squared and mean absolute error, in double. */
public final class DistanceReference {
    private DistanceReference() {}

    /** mean((a - b)^2) */
    public static double mse(double[] a, double[] b) {
        double s = 0;
        for (int k = 0; k < a.length; k++) {
            double d = a[k] - b[k];
            s += d * d;
        }
        return s / a.length;
    }

    /** mean(|a - b|) */
    public static double l1(double[] a, double[] b) {
        double s = 0;
        for (int k = 0; k < a.length; k++) s += Math.abs(a[k] - b[k]);
        return s / a.length;
    }

    /** scale * d mse / d a = scale * 2 (a - b) / n */
    public static double[] mseBackward(double[] a, double[] b, double scale) {
        double[] g = new double[a.length];
        for (int k = 0; k < a.length; k++) g[k] = scale * 2 * (a[k] - b[k]) / a.length;
        return g;
    }

    /** scale * d l1 / d a = scale * sign(a - b) / n, sign(0) = 0 */
    public static double[] l1Backward(double[] a, double[] b, double scale) {
        double[] g = new double[a.length];
        for (int k = 0; k < a.length; k++) g[k] = scale * Math.signum(a[k] - b[k]) / a.length;
        return g;
    }
}
