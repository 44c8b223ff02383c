package org.clstyle.reference;

/** Plain-Java twin of ops.UniformNoise: the same hash, the same float arithmetic, so the same bits. */
public final class NoiseReference {
    private NoiseReference() {}

    /** u in [0, 1) for counter {@code counter} of {@code seed}: the top 24 bits of splitmix64. */
    public static float unit(long seed, long counter) {
        long z = seed + (counter + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (float) (z >>> 40) * (1.0f / 16777216.0f);
    }

    /** n values lo + (hi - lo) * u in float, counters offset .. offset + n - 1. */
    public static float[] uniform(long seed, int offset, int n, float lo, float hi) {
        float[] x = new float[n];
        for (int k = 0; k < n; k++) x[k] = lo + (hi - lo) * unit(seed, (long) offset + k);
        return x;
    }
}
