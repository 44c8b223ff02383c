package org.clstyle.reference;

/** Plain-Java twin of ops.GramMatrix in double precision; f is [C, N] row-major. */
public final class GramMatrixReference {
    private GramMatrixReference() {}

    /** G [C, C] = F F^T / n. */
    public static double[] forward(double[] f, int c, int cols, double n) {
        check(f, c * cols, "f");
        double[] g = new double[c * c];
        for (int a = 0; a < c; a++) {
            for (int b = 0; b < c; b++) {
                double s = 0;
                for (int k = 0; k < cols; k++) {
                    s += f[a * cols + k] * f[b * cols + k];
                }
                g[a * c + b] = s / n;
            }
        }
        return g;
    }

    /** dF [C, N] = (dG + dG^T) F / n. */
    public static double[] backward(double[] dg, double[] f, int c, int cols, double n) {
        check(dg, c * c, "dg");
        check(f, c * cols, "f");
        double[] df = new double[c * cols];
        for (int a = 0; a < c; a++) {
            for (int b = 0; b < c; b++) {
                double coef = (dg[a * c + b] + dg[b * c + a]) / n;
                for (int k = 0; k < cols; k++) {
                    df[a * cols + k] += coef * f[b * cols + k];
                }
            }
        }
        return df;
    }

    private static void check(double[] a, int n, String name) {
        if (a.length != n) {
            throw new IllegalArgumentException("GramMatrixReference: " + name + " has " + a.length + " elements, expected " + n);
        }
    }
}
