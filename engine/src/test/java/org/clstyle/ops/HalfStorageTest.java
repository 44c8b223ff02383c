package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.Half;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.PoolReference;
import org.clstyle.reference.ReluReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Half storage of activations: the host codec {@link Half} (exhaustively, against the definition of
 * round to nearest even), the device conversions against it (bit for bit), and the kernels that read
 * and write half activations (Conv3x3's implicit GEMM, Relu, Pool2x2 per element) against the float
 * references run on the same half-rounded inputs. Tolerances: relu and max pool exact (the output is
 * one of the inputs); a half output is the reference rounded to half within one half ulp (the kernel
 * rounds its float result, which may sit on the other side of a rounding boundary); float outputs
 * (gradients) as the float tests of the same op.
 */
class HalfStorageTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Every half survives half -> float -> half, and its float is the IEEE value. */
    @Test
    void codecRoundTripsEveryHalf() {
        for (int b = 0; b < 0x10000; b++) {
            short h = (short) b;
            float f = Half.toFloat(h);
            int exp = (b >>> 10) & 0x1F, mant = b & 0x3FF;
            if (exp == 0x1F && mant != 0) {
                assertTrue(Float.isNaN(f), "NaN bits " + Integer.toHexString(b));
                assertEquals(b | 0x200, Half.fromFloat(f) & 0xFFFF, "NaN stays NaN, quiet: " + Integer.toHexString(b));
                continue;
            }
            double expect = exp == 0x1F ? Double.POSITIVE_INFINITY
                    : exp == 0 ? mant * 0x1p-24 : (1 + mant / 1024.0) * Math.pow(2, exp - 15);
            if ((b & 0x8000) != 0) {
                expect = -expect;
            }
            assertEquals(expect, f, 0.0, "value of " + Integer.toHexString(b));
            assertEquals(b, Half.fromFloat(f) & 0xFFFF, "round trip of " + Integer.toHexString(b));
        }
    }

    /**
     * Between two neighbouring halves, every float rounds to the nearer, ties to the even one; past
     * the largest half (65504), from its midpoint to the next (65520) on, to infinity; below half the
     * smallest subnormal (2^-25), to zero.
     */
    @Test
    void codecRoundsToNearestEven() {
        for (int b = 0; b < 0x7BFF; b++) { // positive finite halves but the largest
            float lo = Half.toFloat((short) b), hi = Half.toFloat((short) (b + 1));
            float mid = (lo + hi) / 2; // exact in float: halves have 11 significant bits
            short even = (short) ((b & 1) == 0 ? b : b + 1);
            assertEquals(even, Half.fromFloat(mid), "tie between " + lo + " and " + hi);
            assertEquals((short) b, Half.fromFloat(Math.nextDown(mid)), "below the midpoint of " + lo + ", " + hi);
            assertEquals((short) (b + 1), Half.fromFloat(Math.nextUp(mid)), "above the midpoint of " + lo + ", " + hi);
            assertEquals((short) (b | 0x8000), Half.fromFloat(-Math.nextDown(mid)), "negative side");
        }
        assertEquals((short) 0x7BFF, Half.fromFloat(Math.nextDown(65520f)));
        assertEquals((short) 0x7C00, Half.fromFloat(65520f));
        assertEquals((short) 0x7C00, Half.fromFloat(Float.MAX_VALUE));
        assertEquals((short) 0xFC00, Half.fromFloat(Float.NEGATIVE_INFINITY));
        assertEquals((short) 0, Half.fromFloat(0x1p-25f));
        assertEquals((short) 1, Half.fromFloat(Math.nextUp(0x1p-25f)));
        assertEquals((short) 0x8000, Half.fromFloat(-Float.MIN_VALUE));
    }

    /** The device's conversions agree with the codec bit for bit, on every half and on random and special floats. */
    @Test
    void deviceConversionsMatchTheCodec() {
        HalfConversion conv = new HalfConversion(ctx);
        SplittableRandom rnd = new SplittableRandom(7);
        int n = 0x10000 + 4099;
        float[] x = new float[n];
        for (int b = 0; b < 0x10000; b++) {
            x[b] = Half.toFloat((short) b);
        }
        for (int k = 0x10000; k < n; k++) {
            int kind = k % 4;
            x[k] = kind == 0 ? (float) (rnd.nextDouble(-70000, 70000))
                    : kind == 1 ? (float) (rnd.nextGaussian() * 1e-5)
                    : kind == 2 ? Float.intBitsToFloat(rnd.nextInt()) // any bits: NaNs, infinities, subnormals
                    : (Half.toFloat((short) rnd.nextInt(0x7C00)) + Half.toFloat((short) (rnd.nextInt(0x7C00)))) / 2;
        }
        try (ClBuffer xf = ctx.buffer(x, n); ClBuffer xh = ctx.halfBuffer(n); ClBuffer back = ctx.buffer(n)) {
            conv.toHalf(xf, xh);
            conv.toFloat(xh, back);
            float[] got = back.read();
            float[] viaHost = xh.read(); // the host's half -> float of the device's halves
            for (int k = 0; k < n; k++) {
                float expect = Half.round(x[k]);
                if (Float.isNaN(expect)) {
                    assertTrue(Float.isNaN(got[k]) && Float.isNaN(viaHost[k]), "NaN at " + k);
                } else {
                    assertEquals(Float.floatToIntBits(expect), Float.floatToIntBits(got[k]), "element " + k + " = " + x[k]);
                    assertEquals(Float.floatToIntBits(expect), Float.floatToIntBits(viaHost[k]), "host read of " + k);
                }
            }
        }
    }

    /** A half buffer refuses a byte copy from a float one, and the conversions check their types. */
    @Test
    void typesAreChecked() {
        try (ClBuffer f = ctx.buffer(4); ClBuffer h = ctx.halfBuffer(4)) {
            assertThrows(IllegalArgumentException.class, () -> h.copyFrom(f));
            assertThrows(IllegalArgumentException.class, () -> new HalfConversion(ctx).toHalf(h, f));
            assertThrows(IllegalArgumentException.class, () -> new Relu(ctx).forward(f, h));
            assertThrows(IllegalArgumentException.class, () -> new Relu(ctx).backward(h, h, f));
            assertEquals(8, h.bytes());
            assertTrue(h.view(2).isHalf());
        }
    }

    private static float[] randomHalves(SplittableRandom rnd, int n, double scale) {
        float[] v = new float[n];
        for (int k = 0; k < n; k++) {
            v[k] = Half.round((float) (rnd.nextGaussian() * scale));
        }
        return v;
    }

    private static ClBuffer half(float[] v, int... shape) {
        ClBuffer b = ctx.halfBuffer(shape);
        b.write(v);
        return b;
    }

    /** Relu forward on half (exact) and backward with a half mask (exact), for both variants' instances. */
    @ParameterizedTest(name = "{0} [{1}, {2}, {3}]")
    @CsvSource({"ELEMENTS, 3, 7, 5", "CHUNKS, 5, 13, 11", "CHUNKS, 1, 1, 1"})
    void reluOnHalf(Relu.Variant variant, int c, int h, int w) {
        Relu relu = new Relu(ctx, variant, Map.of());
        SplittableRandom rnd = new SplittableRandom(c * 31 + h);
        int n = c * h * w;
        float[] x = randomHalves(rnd, n, 3), dy = randomHalves(rnd, n, 1);
        float[] y = f(ReluReference.forward(d(x)));
        try (ClBuffer xb = half(x, c, h, w); ClBuffer yb = ctx.halfBuffer(c, h, w);
             ClBuffer dyb = ctx.buffer(dy, c, h, w); ClBuffer dxb = ctx.buffer(c, h, w)) {
            relu.forward(xb, yb);
            assertExact(y, yb.read(), "relu forward");
            relu.backward(yb, dyb, dxb);
            assertExact(f(ReluReference.backward(d(y), d(dy))), dxb.read(), "relu backward");
        }
    }

    /** Max and average pooling forward on half, max backward reading a half x, for both variants' instances. */
    @ParameterizedTest(name = "{0} [{1}, {2}, {3}]")
    @CsvSource({"ELEMENTS, 3, 8, 6", "ROWS, 5, 13, 11", "ROWS, 2, 2, 3"})
    void poolOnHalf(Pool2x2.Variant variant, int c, int h, int w) {
        Pool2x2 pool = new Pool2x2(ctx, variant, Map.of());
        SplittableRandom rnd = new SplittableRandom(c * 17 + w);
        int ho = h / 2, wo = w / 2;
        float[] x = randomHalves(rnd, c * h * w, 3), dy = randomHalves(rnd, c * ho * wo, 1);
        try (ClBuffer xb = half(x, c, h, w); ClBuffer yb = ctx.halfBuffer(c, ho, wo);
             ClBuffer dyb = ctx.buffer(dy, c, ho, wo); ClBuffer dxb = ctx.buffer(c, h, w)) {
            pool.maxForward(xb, yb);
            assertExact(f(PoolReference.maxForward(d(x), c, h, w)), yb.read(), "max forward");
            pool.maxBackward(xb, dyb, dxb);
            assertExact(f(PoolReference.maxBackward(d(x), c, h, w, d(dy))), dxb.read(), "max backward");
            pool.avgForward(xb, yb);
            // The kernel's float mean (the reference's order of additions) rounded to nearest even: exact.
            float[] avg = new float[c * ho * wo];
            for (int ch = 0; ch < c; ch++) {
                for (int i = 0; i < ho; i++) {
                    for (int j = 0; j < wo; j++) {
                        int p = (ch * h + 2 * i) * w + 2 * j;
                        avg[(ch * ho + i) * wo + j] = Half.round((((x[p] + x[p + 1]) + x[p + w]) + x[p + w + 1]) * 0.25f);
                    }
                }
            }
            assertExact(avg, yb.read(), "avg forward");
            assertThrows(IllegalArgumentException.class, () -> pool.maxBackwardMaskedInPlace(xb, dyb));
        }
    }

    /**
     * Conv3x3 on half activations (implicit GEMM, whatever the variant): forward with and without the
     * fused ReLU, and the input gradient masked by a half ReLU output, against ConvReference on the
     * same half inputs. Shapes with tile remainders in every direction.
     */
    @ParameterizedTest(name = "{0} {1} -> {2} [{3}x{4}]")
    @CsvSource({"DIRECT, 3, 8, 9, 7", "WINOGRAD4, 64, 64, 12, 12", "GEMM, 5, 17, 13, 6", "DIRECT, 1, 1, 1, 1"})
    void conv3x3OnHalf(Conv3x3.Variant variant, int cin, int cout, int h, int w) {
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), variant);
        SplittableRandom rnd = new SplittableRandom(cin * 7 + cout);
        float[] x = randomHalves(rnd, cin * h * w, 1);
        float[] wt = new float[cout * cin * 9];
        float[] bias = new float[cout];
        double ws = Math.sqrt(2.0 / (9 * cin));
        for (int k = 0; k < wt.length; k++) {
            wt[k] = (float) (rnd.nextGaussian() * ws);
        }
        for (int k = 0; k < cout; k++) {
            bias[k] = (float) (rnd.nextGaussian() * 0.1);
        }
        float[] dy = new float[cout * h * w];
        for (int k = 0; k < dy.length; k++) {
            dy[k] = (float) rnd.nextGaussian();
        }
        try (ClBuffer xb = half(x, cin, h, w); ClBuffer wb = ctx.buffer(wt, cout, cin, 3, 3); ClBuffer bb = ctx.buffer(bias, cout);
             ClBuffer yb = ctx.halfBuffer(cout, h, w); ClBuffer dyb = ctx.buffer(dy, cout, h, w); ClBuffer dxb = ctx.buffer(cin, h, w)) {
            for (boolean relu : new boolean[] {false, true}) {
                conv.forward(xb, wb, bb, yb, relu);
                float[] ref = f(Conv3x3Reference.forward(d(x), cin, h, w, d(wt), d(bias), cout, relu));
                float[] got = yb.read();
                double scale = 0;
                for (float v : ref) {
                    scale = Math.max(scale, Math.abs(v));
                }
                for (int k = 0; k < ref.length; k++) {
                    // One half ulp of the value, plus the float accumulation's error over cin*9 terms.
                    double tol = halfUlp(ref[k]) + 1e-5 * scale;
                    assertEquals(ref[k], got[k], tol, "forward relu=" + relu + " at " + k);
                }
            }
            float[] yr = yb.read(); // the ReLU output, as stored (half)
            conv.backwardInput(dyb, wb, yb, dxb);
            float[] ref = f(Conv3x3Reference.backwardInput(d(dy), d(wt), d(yr), cin, cout, h, w));
            float[] got = dxb.read();
            double scale = 0;
            for (float v : ref) {
                scale = Math.max(scale, Math.abs(v));
            }
            for (int k = 0; k < ref.length; k++) {
                assertEquals(ref[k], got[k], 1e-5 * Math.max(scale, 1e-3), "backward input at " + k);
            }
            assertThrows(IllegalArgumentException.class, () -> conv.forward(xb, wb, bb, dxb, false));
            assertThrows(IllegalArgumentException.class, () -> conv.backwardInput(yb, wb, yb, dxb));
        }
    }

    private static double[] d(float[] v) {
        return Tensors.toDouble(v);
    }

    private static float[] f(double[] v) {
        float[] o = new float[v.length];
        for (int k = 0; k < v.length; k++) {
            o[k] = (float) v[k];
        }
        return o;
    }

    /** The spacing of halves at |v| (2^-24 below the normal range). */
    private static double halfUlp(float v) {
        double a = Math.abs(v);
        if (a < 0x1p-14) {
            return 0x1p-24;
        }
        return Math.pow(2, Math.floor(Math.log(a) / Math.log(2)) - 10);
    }

    private static void assertExact(float[] expect, float[] got, String what) {
        assertEquals(expect.length, got.length, what + " length");
        for (int k = 0; k < expect.length; k++) {
            assertEquals(Float.floatToIntBits(expect[k]), Float.floatToIntBits(got[k]), what + " at " + k);
        }
    }
}
