package org.clstyle.reference;

/** Plain-Java twin of ops.Relu, in double. */
public final class ReluReference {
    private ReluReference() {}

    /** max(x, 0) elementwise. */
    public static double[] forward(double[] x) {
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = x[k] > 0 ? x[k] : 0;
        return y;
    }

    /** dy where the forward output y > 0, else 0. */
    public static double[] backward(double[] y, double[] dy) {
        double[] dx = new double[y.length];
        for (int k = 0; k < y.length; k++) dx[k] = y[k] > 0 ? dy[k] : 0;
        return dx;
    }
}
