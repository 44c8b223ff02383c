package org.clstyle.reference;

/** Plain-Java twin of ops.Distance: mean squared and mean absolute error and their scaled sums, in double. */
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

    /** factor * sum((a - b)^2) */
    public static double sse(double[] a, double[] b, double factor) {
        double s = 0;
        for (int k = 0; k < a.length; k++) {
            double d = a[k] - b[k];
            s += d * d;
        }
        return factor * s;
    }

    /** factor * sum(|a - b|) */
    public static double sae(double[] a, double[] b, double factor) {
        double s = 0;
        for (int k = 0; k < a.length; k++) s += Math.abs(a[k] - b[k]);
        return factor * s;
    }

    /** scale * d sse / d a = scale * factor * 2 (a - b) */
    public static double[] sseBackward(double[] a, double[] b, double factor, double scale) {
        double[] g = new double[a.length];
        for (int k = 0; k < a.length; k++) g[k] = scale * factor * 2 * (a[k] - b[k]);
        return g;
    }

    /** scale * d sae / d a = scale * factor * sign(a - b), sign(0) = 0 */
    public static double[] saeBackward(double[] a, double[] b, double factor, double scale) {
        double[] g = new double[a.length];
        for (int k = 0; k < a.length; k++) g[k] = scale * factor * Math.signum(a[k] - b[k]);
        return g;
    }
}
