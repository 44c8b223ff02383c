package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.NoiseReference;
import org.clstyle.reference.PointwiseReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Pointwise, ChannelConcat and UniformNoise kernels against their references. Tolerances: LeakyReLU,
 * scale, add, concat and split exact (one rounding, or copies); tanh: the device's tanh is within
 * a few ulp, so atol 1e-6 * scale, rtol 1e-5; tanh backward from the float output: atol 2e-5 * scale;
 * noise bit-exact (integer hash, contraction off).
 */
class PointwiseTest {
    private static ClContext ctx;
    private static Pointwise pw;
    private static ChannelConcat cat;
    private static UniformNoise noise;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        pw = new Pointwise(ctx);
        cat = new ChannelConcat(ctx);
        noise = new UniformNoise(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "n={0} c={1} {2}x{3}")
    @CsvSource({"1, 1, 1, 1", "2, 3, 7, 5", "1, 48, 13, 11", "4, 8, 9, 9"})
    void elementwiseOpsMatchReference(int n, int c, int h, int w) {
        int total = n * c * h * w;
        float[] x = Tensors.uniform(total, total, -3, 3), dy = Tensors.uniform(total + 1, total, -1, 1);
        double[] xd = Tensors.toDouble(x), dyd = Tensors.toDouble(dy);
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, h, w);
                ClBuffer dyb = ctx.buffer(dy, n, c, h, w); ClBuffer dxb = ctx.buffer(n, c, h, w)) {
            pw.leakyReluForward(xb, yb, 0.01f);
            Tensors.assertClose("leaky forward", Conv2dTest.f(PointwiseReference.leakyReluForward(xd, 0.01f)), yb.read(), 0, 0);
            float[] expectDx = Conv2dTest.f(PointwiseReference.leakyReluBackward(xd, dyd, 0.01f));
            pw.leakyReluBackward(yb, dyb, dxb, 0.01f); // from the output
            Tensors.assertClose("leaky backward from y", expectDx, dxb.read(), 0, 0);
            pw.leakyReluBackward(xb, dyb, dxb, 0.01f); // from the input
            Tensors.assertClose("leaky backward from x", expectDx, dxb.read(), 0, 0);

            pw.tanhForward(xb, yb, 150f);
            Tensors.assertClose("150 tanh", Conv2dTest.f(PointwiseReference.tanhForward(xd, 150)), yb.read(), 1.5e-4, 1e-5);
            pw.tanhBackward(yb, dyb, dxb, 150f);
            Tensors.assertClose("150 tanh backward", Conv2dTest.f(PointwiseReference.tanhBackward(xd, dyd, 150)), dxb.read(),
                    3e-3, 1e-4);
            pw.tanhForward(xb, yb, 1f);
            Tensors.assertClose("tanh", Conv2dTest.f(PointwiseReference.tanhForward(xd, 1)), yb.read(), 1e-6, 1e-5);

            pw.scale(xb, yb, 150f);
            float[] scaled = new float[total];
            for (int k = 0; k < total; k++) scaled[k] = 150f * x[k];
            Tensors.assertClose("scale", scaled, yb.read(), 0, 0);
            pw.add(xb, dyb, yb);
            Tensors.assertClose("add", Conv2dTest.f(PointwiseReference.add(xd, dyd)), yb.read(), 0, 0);
            pw.accumulate(dyb, xb); // x += dy in place
            Tensors.assertClose("accumulate", Conv2dTest.f(PointwiseReference.add(xd, dyd)), xb.read(), 0, 0);
        }
    }

    @ParameterizedTest(name = "n={0} channels {1} {2} {3} plane {4}")
    @CsvSource({"1, 1, 1, 1, 1", "2, 8, 8, 3, 35", "3, 3, 3, 5, 7", "2, 40, 8, 1, 9", "2, 3, 2, 1, 4099"})
    void concatAndSplitMatchReference(int n, int c0, int c1, int c2, int plane) {
        // Both kernels: one element per work-item (GPUs), contiguous runs of 4096 (CPUs; the last row takes several).
        for (boolean chunks : new boolean[] {false, true}) {
            concatAndSplit(new ChannelConcat(ctx, chunks), n, c0, c1, c2, plane);
        }
    }

    private static void concatAndSplit(ChannelConcat cat, int n, int c0, int c1, int c2, int plane) {
        int[] ch = {c0, c1, c2};
        int total = c0 + c1 + c2;
        float[][] parts = new float[3][];
        double[][] pd = new double[3][];
        for (int k = 0; k < 3; k++) {
            parts[k] = Tensors.uniform(k + 10, n * ch[k] * plane, -1, 1);
            pd[k] = Tensors.toDouble(parts[k]);
        }
        float[] dy = Tensors.uniform(20, n * total * plane, -1, 1);
        try (ClBuffer a = ctx.buffer(parts[0], n, c0, 1, plane); ClBuffer b = ctx.buffer(parts[1], n, c1, 1, plane);
                ClBuffer c = ctx.buffer(parts[2], n, c2, 1, plane); ClBuffer y = ctx.buffer(n, total, 1, plane);
                ClBuffer dyb = ctx.buffer(dy, n, total, 1, plane); ClBuffer ga = ctx.buffer(n, c0, 1, plane);
                ClBuffer gb = ctx.buffer(n, c1, 1, plane); ClBuffer gc = ctx.buffer(n, c2, 1, plane)) {
            y.write(new float[n * total * plane]); // stale zeros would hide a missed element only if the part were 0
            cat.forward(List.of(a, b, c), y);
            Tensors.assertClose("concat", Conv2dTest.f(PointwiseReference.concat(pd, ch, n, plane)), y.read(), 0, 0);
            cat.backward(dyb, List.of(ga, gb, gc));
            double[][] split = PointwiseReference.split(Tensors.toDouble(dy), ch, n, plane);
            Tensors.assertClose("split 0", Conv2dTest.f(split[0]), ga.read(), 0, 0);
            Tensors.assertClose("split 1", Conv2dTest.f(split[1]), gb.read(), 0, 0);
            Tensors.assertClose("split 2", Conv2dTest.f(split[2]), gc.read(), 0, 0);
        }
    }

    @Test
    void concatRejectsMismatchedParts() {
        try (ClBuffer a = ctx.buffer(1, 2, 3, 3); ClBuffer b = ctx.buffer(1, 2, 3, 4); ClBuffer y = ctx.buffer(1, 4, 3, 3)) {
            assertThrows(IllegalArgumentException.class, () -> cat.forward(List.of(a, b), y));
            assertThrows(IllegalArgumentException.class, () -> cat.forward(List.of(a), y));
        }
    }

    @Test
    void noiseIsTheReferenceBitForBitAndReproducible() {
        int n = 100_003;
        long seed = 0xDEADBEEFCAFEL;
        try (ClBuffer x = ctx.buffer(n); ClBuffer tail = ctx.buffer(n - 7)) {
            noise.fill(x, seed, 0, -1f, 1f);
            float[] got = x.read();
            assertArrayEquals(NoiseReference.uniform(seed, 0, n, -1f, 1f), got);
            // Offsets continue the stream.
            noise.fill(tail, seed, 7, -1f, 1f);
            float[] t = tail.read();
            for (int k = 0; k < t.length; k++) {
                assertTrue(Float.floatToIntBits(t[k]) == Float.floatToIntBits(got[k + 7]), "offset element " + k);
            }
            // Range, mean (1/sqrt(12 n) ~ 0.0018 standard error for [0,1)) and a different seed.
            noise.fill(x, seed, 0, 0f, 1f);
            double mean = 0, sq = 0;
            for (float v : x.read()) {
                assertTrue(v >= 0f && v < 1f, "value " + v);
                mean += v;
                sq += v * v;
            }
            mean /= n;
            double var = sq / n - mean * mean;
            assertTrue(Math.abs(mean - 0.5) < 0.01, "mean " + mean);
            assertTrue(Math.abs(var - 1.0 / 12) < 0.005, "variance " + var);
            float first = x.read(0);
            noise.fill(x, seed + 1, 0, 0f, 1f);
            assertNotEquals(first, x.read(0));
        }
    }
}
