package org.clstyle.ops;

import static org.clstyle.ops.ReluTest.toFloat;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.ImageReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * ImageOps kernels against ImageReference. Tolerances: atol 1e-6 + rtol 1e-6 for the affine maps
 * (one float multiply-add, with factors rounded to float), exact for clamp, swap and backward.
 */
class ImageOpsTest {
    private static ClContext ctx;
    private static ImageOps ops;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        ops = new ImageOps(ctx);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @ParameterizedTest(name = "[{0}, {1}, {2}]")
    @CsvSource({"1, 1, 1", "3, 7, 5", "5, 13, 11", "64, 7, 5", "67, 37, 29"})
    void channelAffineAndBackwardMatchReference(int c, int h, int w) {
        int n = c * h * w;
        SplittableRandom r = new SplittableRandom(c * 7L + h);
        int[] perm = new int[c];
        for (int i = 0; i < c; i++) perm[i] = i;
        for (int i = c - 1; i > 0; i--) {
            int o = r.nextInt(i + 1), t = perm[i];
            perm[i] = perm[o];
            perm[o] = t;
        }
        float[] mul = Tensors.uniform(c + 1, c, -3, 3), add = Tensors.uniform(c + 2, c, -1, 1);
        float[] x = Tensors.uniform(c + 3, n, -1, 1), dy = Tensors.uniform(c + 4, n, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer yb = ctx.buffer(c, h, w);
                ClBuffer dyb = ctx.buffer(dy, c, h, w); ClBuffer dxb = ctx.buffer(c, h, w)) {
            ops.channelAffine(xb, yb, perm, mul, add);
            Tensors.assertClose("channelAffine", toFloat(ImageReference.channelAffine(Tensors.toDouble(x), c, h, w, perm,
                    Tensors.toDouble(mul), Tensors.toDouble(add))), yb.read(), 1e-6, 1e-6);
            ops.channelAffineBackward(dyb, dxb, perm, mul);
            Tensors.assertClose("channelAffineBackward", toFloat(ImageReference.channelAffineBackward(
                    Tensors.toDouble(dy), c, h, w, perm, Tensors.toDouble(mul))), dxb.read(), 0, 0);
        }
    }

    @Test
    void swapScaleNormalizeDenormalizeClamp() {
        int c = 3, h = 13, w = 11, n = c * h * w;
        float[] x = Tensors.uniform(61, n, -0.2, 1.2);
        double[] xd = Tensors.toDouble(x);
        float[] mean = {0.485f, 0.456f, 0.406f}, std = {0.229f, 0.224f, 0.225f};
        double[] meanD = Tensors.toDouble(mean), stdD = Tensors.toDouble(std);
        try (ClBuffer xb = ctx.buffer(x, c, h, w); ClBuffer yb = ctx.buffer(c, h, w)) {
            ops.swapRedBlue(xb, yb);
            Tensors.assertClose("swapRedBlue", toFloat(ImageReference.channelAffine(xd, c, h, w, new int[] {2, 1, 0},
                    new double[] {1, 1, 1}, new double[3])), yb.read(), 0, 0);
            ops.scale(xb, yb, 255f);
            Tensors.assertClose("scale", toFloat(ImageReference.scale(xd, 255)), yb.read(), 1e-6, 1e-6);
            ops.normalize(xb, yb, mean, std);
            double[] norm = ImageReference.normalize(xd, c, h, w, meanD, stdD);
            Tensors.assertClose("normalize", toFloat(norm), yb.read(), 1e-6, 1e-6);
            ops.denormalize(yb, yb, mean, std); // in place
            Tensors.assertClose("denormalize", x, yb.read(), 1e-6, 1e-6);
            ops.clamp(yb, 0f, 1f);
            Tensors.assertClose("clamp", toFloat(ImageReference.clamp(Tensors.toDouble(yb.read()), 0, 1)), yb.read(), 0, 0);
            float[] clamped = yb.read();
            for (float v : clamped) assertTrue(v >= 0 && v <= 1, "clamped value " + v);
            ops.scale(xb, xb, 0.5f); // in place
            Tensors.assertClose("scale in place", toFloat(ImageReference.scale(xd, 0.5)), xb.read(), 0, 0);
        }
    }

    @Test
    void rejectsBadArguments() {
        try (ClBuffer x = ctx.buffer(3, 2, 2); ClBuffer y = ctx.buffer(3, 2, 2); ClBuffer four = ctx.buffer(4, 2, 2)) {
            float[] one = {1, 1, 1}, zero = {0, 0, 0};
            assertThrows(IllegalArgumentException.class,
                    () -> ops.channelAffine(x, x, new int[] {2, 1, 0}, one, zero)); // in place with a permutation
            assertThrows(IllegalArgumentException.class,
                    () -> ops.channelAffine(x, y, new int[] {0, 0, 1}, one, zero)); // not a permutation
            assertThrows(IllegalArgumentException.class,
                    () -> ops.channelAffine(x, y, new int[] {0, 1}, one, zero));
            assertThrows(IllegalArgumentException.class, () -> ops.swapRedBlue(four, four));
            assertThrows(IllegalArgumentException.class, () -> ops.normalize(x, y, zero, zero));
            assertThrows(IllegalArgumentException.class, () -> ops.clamp(x, 1f, 0f));
        }
    }

    @Test
    void identityAffineInPlace() {
        try (ClBuffer x = ctx.buffer(new float[] {1, 2, 3, 4}, 2, 1, 2)) {
            ops.channelAffine(x, x, new int[] {0, 1}, new float[] {2, -1}, new float[] {1, 0});
            assertArrayEquals(new float[] {3, 5, -3, -4}, x.read());
        }
    }
}
