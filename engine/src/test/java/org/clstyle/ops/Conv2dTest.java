package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Conv2dReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Conv2d kernels against Conv2dReference on random inputs in [-1, 1]: forward, input, weight and bias
 * gradients, batches of 1 to 4, odd sizes, K 1, 3, 9, stride 1 and 2, with and without padding, and
 * shapes whose weight gradient takes the split pixel sum; channel counts of every row-tile height
 * (8, 16, 24, 32, 48) and above (the default tiles). Tolerance as Conv3x3Test: float sums of L
 * products of magnitude <= 1 (L the accumulation length: Cin*K*K, Cout*K*K or N*Ho*Wo) round with an
 * error that grows with L, so atol = 1e-5 + 1e-6 * L, rtol = 1e-4. A wrong tap gives errors of order 0.1.
 */
class Conv2dTest {
    private static ClContext ctx;
    private static Conv2d conv;
    private static Conv2d gemm;
    private static Conv2d direct;
    private static Conv2d small, smallDoubleBuffered;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        conv = new Conv2d(ctx);
        gemm = new Conv2d(ctx, Conv2d.Variant.GEMM);
        direct = new Conv2d(ctx, Conv2d.Variant.DIRECT);
        // Small pinned tiles: many tiles in every dimension, ragged last ones.
        small = new Conv2d(ctx, Map.of("TS_M", 8, "TS_N", 8, "TS_K", 8, "WPT_M", 4, "WPT_N", 4));
        // The same with two pairs of local tiles (GEMM_DOUBLE_BUFFER): odd and even numbers of K steps.
        smallDoubleBuffered = new Conv2d(ctx, Map.of("TS_M", 8, "TS_N", 8, "TS_K", 8, "WPT_M", 4, "WPT_N", 4, "GEMM_DOUBLE_BUFFER", 1));
    }

    @AfterAll
    static void close() {
        conv.close();
        gemm.close();
        direct.close();
        small.close();
        smallDoubleBuffered.close();
        ctx.close();
    }

    @ParameterizedTest(name = "n={0} cin={1} {2}x{3} cout={4} k={5} s={6} p={7}")
    @CsvSource({"1, 1, 1, 1, 1, 1, 1, 0", "1, 3, 7, 5, 8, 3, 1, 1", "2, 5, 9, 7, 3, 3, 2, 1", "3, 8, 13, 11, 5, 1, 1, 0",
            "2, 3, 17, 15, 32, 9, 1, 4", "1, 48, 6, 7, 3, 1, 1, 0", "2, 32, 10, 9, 64, 3, 2, 0",
            "2, 67, 5, 6, 48, 3, 1, 1", "1, 3, 12, 10, 3, 9, 1, 0", "4, 3, 33, 31, 4, 3, 1, 1",
            "2, 8, 41, 39, 8, 3, 1, 0", "2, 16, 9, 8, 24, 3, 1, 1", "1, 24, 7, 9, 16, 3, 2, 1",
            "1, 40, 6, 5, 40, 3, 1, 1", "2, 32, 11, 7, 32, 1, 1, 0", "2, 3, 9, 8, 4, 1, 2, 0", "1, 5, 11, 10, 6, 3, 3, 1",
            "1, 3, 20, 17, 4, 9, 2, 4", "3, 4, 8, 8, 5, 3, 2, 0", "1, 2, 2, 2, 3, 3, 2, 1", "2, 64, 9, 9, 128, 3, 2, 0",
            "2, 3, 50, 50, 4, 3, 1, 1", "2, 8, 64, 48, 8, 3, 1, 1", "2, 3, 130, 98, 2, 3, 1, 0"})
    void matchesReference(int n, int cin, int h, int w, int cout, int k, int s, int p) {
        check(gemm, n, cin, h, w, cout, k, s, p);
        check(direct, n, cin, h, w, cout, k, s, p);
    }

    @Test
    void cpuDevicesTakeTheDirectVariant() {
        assertEquals(ctx.device().isCpu() ? Conv2d.Variant.DIRECT : Conv2d.Variant.GEMM, conv.variant());
        assertEquals(Conv2d.Variant.GEMM, small.variant());
    }

    @ParameterizedTest(name = "direct, wide rows n={0} cin={1} {2}x{3} cout={4} k={5} s={6} p={7}")
    @CsvSource({"1, 3, 5, 70, 32, 9, 1, 4", "2, 7, 6, 67, 2, 3, 2, 1", "1, 13, 4, 100, 1, 1, 1, 0",
            "1, 4, 40, 50, 12, 3, 1, 1", "1, 2, 9, 9, 3, 3, 2, 5", "1, 64, 40, 200, 8, 3, 1, 1", "2, 40, 23, 150, 5, 3, 2, 1",
            "2, 4, 4, 6, 4, 3, 1, 0", "2, 6, 6, 10, 6, 3, 1, 0", "2, 4, 2, 4, 4, 1, 1, 0", "2, 12, 34, 66, 12, 3, 1, 0"})
    void directVariantMatchesReferenceAcrossRowSegments(int n, int cin, int h, int w, int cout, int k, int s, int p) {
        check(direct, n, cin, h, w, cout, k, s, p);
    }

    @Test
    void directWeightGradientSplitsLargeImagesIntoRowChunks() {
        // The two largest rows of directVariantMatchesReferenceAcrossRowSegments take several chunks.
        for (Conv2d.Geometry g : new Conv2d.Geometry[] {new Conv2d.Geometry(1, 64, 40, 200, 8, 3, 1, 1),
                new Conv2d.Geometry(2, 40, 23, 150, 5, 3, 2, 1)}) {
            int[] block = DirectConv2d.block(g.cout());
            DirectConv2d.Segments sg = DirectConv2d.Segments.of(g.outW(), block[1]);
            int chunks = DirectConv2d.chunks(g, sg, sg.segpx() + (g.k() - 1) / g.stride());
            org.junit.jupiter.api.Assertions.assertTrue(chunks > 1, g + " takes " + chunks + " chunk");
        }
    }

    @Test
    void directRegisterBlockWastesLeastRows() {
        assertEquals(6, DirectConv2d.block(48)[0]);
        assertEquals(4, DirectConv2d.block(32)[0]);
        assertEquals(3, DirectConv2d.block(3)[0]);
        assertEquals(4, DirectConv2d.block(8)[0]);
        assertEquals(1, DirectConv2d.block(1)[0]);
    }

    @ParameterizedTest(name = "small tiles n={0} cin={1} {2}x{3} cout={4} k={5} s={6} p={7}")
    @CsvSource({"2, 5, 9, 7, 3, 3, 2, 1", "1, 3, 11, 13, 17, 9, 1, 4", "3, 19, 7, 6, 9, 1, 1, 0",
            "4, 3, 33, 31, 4, 3, 2, 1"})
    void smallTilesMatchReference(int n, int cin, int h, int w, int cout, int k, int s, int p) {
        check(small, n, cin, h, w, cout, k, s, p);
        check(smallDoubleBuffered, n, cin, h, w, cout, k, s, p);
    }

    @Test
    void fewRowsTakeLowTiles() {
        assertEquals(Map.of("TS_M", 8, "TS_N", 256, "TS_K", 16, "WPT_M", 4, "WPT_N", 16, "VW", 8), Conv2d.tileSizes(3, 65536));
        assertEquals(64, Conv2d.tileSizes(8, 72).get("TS_N"));
        assertEquals(48, Conv2d.tileSizes(40, 100000).get("TS_M"));
        assertEquals(null, Conv2d.tileSizes(64, 100000));
    }

    @Test
    void splitSumIsUsedForLargeImagesAndIsBoundedByTheScratchLimit() {
        assertEquals(1, Conv2d.splits(new Conv2d.Geometry(1, 3, 64, 64, 8, 3, 1, 1)));
        assertEquals(4, Conv2d.splits(new Conv2d.Geometry(4, 3, 64, 64, 8, 3, 1, 1)));
        assertEquals(Conv2d.MAX_SPLITS, Conv2d.splits(new Conv2d.Geometry(4, 8, 256, 256, 8, 3, 1, 0)));
        // 128 x 128 x 9 weights: at most MAX_SCRATCH / 147456 = 113 chunks, so the 64 cap applies;
        // a 1024-wide 3x3 layer would be held to 1.
        assertEquals(1, Conv2d.splits(new Conv2d.Geometry(4, 1024, 256, 256, 1024, 3, 1, 0)));
    }

    private static void check(Conv2d op, int n, int cin, int h, int w, int cout, int k, int s, int p) {
        Conv2dReference.Geometry g = new Conv2dReference.Geometry(n, cin, h, w, cout, k, s, p);
        int ho = g.outH(), wo = g.outW();
        long seed = ((long) n * 31 + cin) * 31 + h * 7 + w + k;
        float[] x = Tensors.uniform(seed, n * cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(seed + 1, cout * cin * k * k, -1, 1);
        float[] b = Tensors.uniform(seed + 2, cout, -1, 1);
        float[] dy = Tensors.uniform(seed + 3, n * cout * ho * wo, -1, 1);
        try (ClBuffer xb = ctx.buffer(x, n, cin, h, w); ClBuffer wb = ctx.buffer(wt, cout, cin, k, k);
                ClBuffer bb = ctx.buffer(b, cout); ClBuffer yb = ctx.buffer(n, cout, ho, wo);
                ClBuffer dyb = ctx.buffer(dy, n, cout, ho, wo); ClBuffer dxb = ctx.buffer(n, cin, h, w);
                ClBuffer dwb = ctx.buffer(cout, cin, k, k); ClBuffer dbb = ctx.buffer(cout)) {
            double[] xd = Tensors.toDouble(x), wd = Tensors.toDouble(wt), dyd = Tensors.toDouble(dy);
            op.forward(xb, wb, bb, yb, s, p);
            Tensors.assertClose("forward", f(Conv2dReference.forward(g, xd, wd, Tensors.toDouble(b))), yb.read(),
                    atol(cin * k * k), 1e-4);
            op.forward(xb, wb, null, yb, s, p);
            Tensors.assertClose("forward without bias", f(Conv2dReference.forward(g, xd, wd, null)), yb.read(),
                    atol(cin * k * k), 1e-4);
            dxb.write(nans(n * cin * h * w)); // every element must be written
            op.backwardInput(dyb, wb, dxb, s, p);
            Tensors.assertClose("backward input", f(Conv2dReference.backwardInput(g, dyd, wd)), dxb.read(),
                    atol(cout * k * k), 1e-4);
            dwb.write(nans(cout * cin * k * k));
            op.backwardWeight(xb, dyb, dwb, s, p);
            Tensors.assertClose("backward weight", f(Conv2dReference.backwardWeight(g, xd, dyd)), dwb.read(),
                    atol(n * ho * wo), 1e-4);
            op.backwardBias(dyb, dbb);
            Tensors.assertClose("backward bias", f(Conv2dReference.backwardBias(g, dyd)), dbb.read(),
                    atol(n * ho * wo), 1e-4);
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        try (ClBuffer x = ctx.buffer(1, 3, 8, 8); ClBuffer w = ctx.buffer(4, 2, 3, 3); ClBuffer w9 = ctx.buffer(4, 3, 9, 9);
                ClBuffer y = ctx.buffer(1, 4, 8, 8)) {
            assertThrows(IllegalArgumentException.class, () -> conv.forward(x, w, null, y, 1, 1));
            assertThrows(IllegalArgumentException.class, () -> conv.forward(x, w9, null, y, 1, 0));
            assertThrows(IllegalArgumentException.class, () -> conv.forward(x, w9, null, y, 2, 4)); // y is 4x4 at stride 2
        }
    }

    private static float[] nans(int len) {
        float[] a = new float[len];
        java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    private static double atol(int l) {
        return 1e-5 + 1e-6 * l;
    }

    static float[] f(double[] d) {
        float[] r = new float[d.length];
        for (int i = 0; i < d.length; i++) r[i] = (float) d[i];
        return r;
    }
}
