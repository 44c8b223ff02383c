package org.clstyle.cl;

/**
 * IEEE 754 binary16 ("half") to and from float, as OpenCL's vload_half and vstore_half_rte do it:
 * round to nearest, ties to even, subnormals kept, overflow to infinity, NaN kept as a quiet NaN. Java 17
 * has no Float.floatToFloat16 (it arrived in Java 20), so the host codes half buffers with this.
 */
public final class Half {
    private Half() {
    }

    /** The float value of half bits {@code h} (exact: every half is a float). */
    public static float toFloat(short h) {
        int bits = h & 0xFFFF;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1F;
        int mant = bits & 0x3FF;
        if (exp == 0x1F) { // infinity or NaN: the payload moves to the top of float's mantissa
            return Float.intBitsToFloat(sign | 0x7F800000 | (mant << 13));
        }
        if (exp == 0) { // zero or subnormal: mant * 2^-24
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp - 15 + 127) << 23) | (mant << 13));
    }

    /** The half nearest to {@code f} (ties to even), as its bits. */
    public static short fromFloat(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) { // infinity, or NaN kept quiet with the top of its payload
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
        }
        int e = exp - 127 + 15; // the half exponent field, before rounding
        if (e >= 0x1F) {
            return (short) (sign | 0x7C00);
        }
        int m; // the significand with its implicit bit, and how far right it must move
        int shift;
        if (e > 0) {
            m = mant | 0x800000;
            shift = 13;
        } else {
            if (e < -10) { // below half the smallest subnormal (2^-25): rounds to zero
                return (short) sign;
            }
            m = exp == 0 ? mant : mant | 0x800000;
            shift = 14 - e; // subnormal: value = m * 2^(exp-150) = q * 2^-24
            e = 0;
        }
        int q = m >>> shift;
        int rest = m & ((1 << shift) - 1), halfway = 1 << (shift - 1);
        if (rest > halfway || (rest == halfway && (q & 1) != 0)) {
            q++; // may carry into the exponent (1.111... -> 10.0, subnormal -> normal, MAX -> infinity): the bit layout absorbs it
        }
        if (e > 0) {
            return (short) (sign | ((e << 10) + (q - 0x400)));
        }
        return (short) (sign | q);
    }

    /** {@code f} rounded to the nearest half and back: what a half buffer holds after storing f. */
    public static float round(float f) {
        return toFloat(fromFloat(f));
    }
}
