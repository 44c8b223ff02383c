package org.clstyle.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Element types found in weight files, decoded to float32 (exactly, except float64 which is rounded). */
enum Floats {
    F32(4), F16(2), BF16(2), F64(8);

    final int size;

    Floats(int size) {
        this.size = size;
    }

    /** Decodes n elements starting at byte {@code pos} of a little-endian buffer. */
    float[] decode(ByteBuffer buf, long pos, int n) {
        ByteBuffer b = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(Math.toIntExact(pos));
        float[] out = new float[n];
        switch (this) {
            case F32 -> b.asFloatBuffer().get(out, 0, n);
            case F64 -> {
                var d = b.asDoubleBuffer();
                for (int i = 0; i < n; i++) {
                    out[i] = (float) d.get(i);
                }
            }
            case F16 -> {
                var s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[i] = halfToFloat(s.get(i));
                }
            }
            case BF16 -> {
                var s = b.asShortBuffer();
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((s.get(i) & 0xffff) << 16);
                }
            }
        }
        return out;
    }

    /** IEEE binary16 to binary32, exact (Java 17 has no Float.float16ToFloat). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) {
            return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        }
        if (exp == 0) {
            // Subnormal half: mant * 2^-24, exactly representable as a float.
            float v = mant * 0x1p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }
}
