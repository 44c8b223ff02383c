package org.clstyle.reference;

/** Plain-Java twin of ops.VectorOps, in double. */
public final class VectorReference {
    private VectorReference() {}

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int k = 0; k < a.length; k++) s += a[k] * b[k];
        return s;
    }

    public static double sumAbs(double[] a) {
        double s = 0;
        for (double v : a) s += Math.abs(v);
        return s;
    }

    /** y + alpha x */
    public static double[] axpy(double alpha, double[] x, double[] y) {
        double[] out = new double[y.length];
        for (int k = 0; k < y.length; k++) out[k] = y[k] + alpha * x[k];
        return out;
    }

    public static double[] scale(double[] x, double alpha) {
        double[] out = new double[x.length];
        for (int k = 0; k < x.length; k++) out[k] = x[k] * alpha;
        return out;
    }

    /**
     * One step of PyTorch's Adam (no weight decay) at step {@code step} (1 for the first), updating
     * {@code param}, {@code m} and {@code v} in place:
     * m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
     * p -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
     */
    public static void adam(double[] param, double[] grad, double[] m, double[] v, double lr, double beta1,
            double beta2, double eps, int step) {
        double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
        for (int k = 0; k < param.length; k++) {
            m[k] = beta1 * m[k] + (1 - beta1) * grad[k];
            v[k] = beta2 * v[k] + (1 - beta2) * grad[k] * grad[k];
            param[k] -= lr * (m[k] / bc1) / (Math.sqrt(v[k] / bc2) + eps);
        }
    }
}
