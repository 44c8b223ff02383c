package org.clstyle.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.SplittableRandom;

/** Random tensors and tolerance checks shared by the kernel and gradient tests. */
public final class Tensors {
    private Tensors() {}

    /** n uniform values in [lo, hi) from a seeded generator. */
    public static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return out;
    }

    /** n standard-normal values scaled by {@code std}. */
    public static float[] normal(long seed, int n, double std) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i += 2) {
            double u1 = Math.max(r.nextDouble(), 1e-300), u2 = r.nextDouble();
            double rad = Math.sqrt(-2 * Math.log(u1));
            out[i] = (float) (std * rad * Math.cos(2 * Math.PI * u2));
            if (i + 1 < n) {
                out[i + 1] = (float) (std * rad * Math.sin(2 * Math.PI * u2));
            }
        }
        return out;
    }

    /**
     * Fails unless every |actual - expected| <= atol + rtol * |expected|; the message names the worst
     * element, its index and the tolerance.
     */
    public static void assertClose(String what, float[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            fail(what + ": length " + actual.length + ", expected " + expected.length);
        }
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i], a = actual[i];
            double excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
            if (Double.isNaN(a) != Double.isNaN(e) || excess > worstExcess) {
                worst = i;
                worstExcess = Double.isNaN(excess) ? Double.POSITIVE_INFINITY : excess;
            }
        }
        if (worst >= 0) {
            fail(String.format("%s: element %d is %.9g, expected %.9g (atol %.1e, rtol %.1e)",
                    what, worst, actual[worst], expected[worst], atol, rtol));
        }
    }

    /** Scalar form of {@link #assertClose(String, float[], float[], double, double)}. */
    public static void assertClose(String what, double expected, double actual, double atol, double rtol) {
        if (!(Math.abs(actual - expected) <= atol + rtol * Math.abs(expected))) {
            fail(String.format("%s: %.12g, expected %.12g (atol %.1e, rtol %.1e)", what, actual, expected, atol, rtol));
        }
    }

    /** Float array to double. */
    public static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) d[i] = x[i];
        return d;
    }
}
