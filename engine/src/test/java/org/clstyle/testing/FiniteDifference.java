package org.clstyle.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.function.ToDoubleFunction;

/**
 * Central finite differences in double precision, for checking the reference backward passes:
 * d f / d x_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h.
 */
public final class FiniteDifference {
    private FiniteDifference() {}

    /** The numerical gradient of scalar {@code f} at {@code x} (x is restored afterwards). */
    public static double[] gradient(ToDoubleFunction<double[]> f, double[] x, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = f.applyAsDouble(x);
            x[i] = keep - h;
            double down = f.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /**
     * Fails unless the analytic gradient matches the numerical one at every element within
     * atol + rtol * |numerical|.
     */
    public static void assertMatches(String what, double[] analytic, ToDoubleFunction<double[]> f, double[] x,
            double h, double atol, double rtol) {
        double[] numeric = gradient(f, x, h);
        for (int i = 0; i < numeric.length; i++) {
            if (!(Math.abs(analytic[i] - numeric[i]) <= atol + rtol * Math.abs(numeric[i]))) {
                fail(String.format("%s: d/dx[%d] analytic %.10g, finite difference %.10g (h %.1e, atol %.1e, rtol %.1e)",
                        what, i, analytic[i], numeric[i], h, atol, rtol));
            }
        }
    }
}
