package org.clstyle.bench;

import java.util.SplittableRandom;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;

/** What every kernel benchmark shares: the device, random data, and the check against the reference. */
final class BenchSupport {
    private BenchSupport() {}

    /** A context on the device named by -Dclstyle.device (index or name part; default: first GPU, else first device). */
    static ClContext context() {
        return new ClContext(ClDevice.select(System.getProperty("clstyle.device")), false);
    }

    /** n uniform floats in [lo, hi), seeded. */
    static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) (lo + (hi - lo) * r.nextDouble());
        }
        return out;
    }

    /** n normal floats with standard deviation std, seeded (He-initialised weights, activations' gradients). */
    static float[] normal(long seed, int n, double std) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            double u1 = Math.max(r.nextDouble(), 1e-300), u2 = r.nextDouble();
            out[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return out;
    }

    static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    /**
     * Throws unless every |actual - expected| <= atol + rtol*|expected|: a benchmark of a wrong kernel
     * must not produce a number. The message names the worst element.
     */
    static void check(String what, double[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            throw new IllegalStateException(what + ": " + actual.length + " values, reference has " + expected.length);
        }
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
            if (Double.isNaN(actual[i]) || excess > worstExcess) {
                worst = i;
                worstExcess = Double.isNaN(excess) ? Double.POSITIVE_INFINITY : excess;
            }
        }
        if (worst >= 0) {
            throw new IllegalStateException(String.format(
                    "%s disagrees with the reference: element %d is %.9g, expected %.9g (atol %.1e, rtol %.1e)",
                    what, worst, actual[worst], expected[worst], atol, rtol));
        }
    }

    /** Scalar form of {@link #check(String, double[], float[], double, double)}. */
    static void check(String what, double expected, double actual, double atol, double rtol) {
        check(what, new double[] {expected}, new float[] {(float) actual}, atol, rtol);
    }
}
