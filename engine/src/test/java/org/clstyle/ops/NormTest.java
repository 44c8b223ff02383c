package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.NormReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * InstanceNorm and BatchNorm kernels against NormReference: batches, odd planes, planes of one pixel
 * (instance) and planes larger than a work-group, C = 1 to 48. Inputs uniform in [-1, 1] plus a
 * per-channel offset up to 3 (so a one-pass variance would lose digits). Tolerance: float means and
 * variances carry relative errors ~1e-6 that rstd (up to ~2 here) carries into y and dx: atol 5e-5,
 * rtol 1e-4; parameter gradients are sums of L = N*H*W terms of magnitude <= ~2: atol 1e-5 + 2e-6 L.
 */
class NormTest {
    private static ClContext ctx;
    private static InstanceNorm instance;
    private static BatchNorm batch;
    private static final java.util.Map<Normalization.Variant, InstanceNorm> INSTANCE = new java.util.EnumMap<>(Normalization.Variant.class);
    private static final java.util.Map<Normalization.Variant, BatchNorm> BATCH = new java.util.EnumMap<>(Normalization.Variant.class);

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        instance = new InstanceNorm(ctx);
        batch = new BatchNorm(ctx);
        for (Normalization.Variant v : Normalization.Variant.values()) {
            INSTANCE.put(v, new InstanceNorm(ctx, v));
            BATCH.put(v, new BatchNorm(ctx, v));
        }
    }

    @AfterAll
    static void close() {
        instance.close();
        batch.close();
        INSTANCE.values().forEach(InstanceNorm::close);
        BATCH.values().forEach(BatchNorm::close);
        ctx.close();
    }

    @ParameterizedTest(name = "{0} n={1} c={2} {3}x{4}")
    @CsvSource({"true, 1, 1, 1, 1", "true, 2, 3, 1, 1", "true, 1, 3, 7, 5", "true, 2, 8, 13, 11", "true, 4, 5, 9, 9",
            "true, 3, 48, 6, 7", "true, 2, 1, 64, 67", "false, 1, 1, 1, 2", "false, 4, 3, 1, 1", "false, 1, 3, 7, 5",
            "false, 2, 8, 13, 11", "false, 3, 48, 6, 7", "false, 2, 5, 33, 31", "false, 4, 1, 64, 67",
            "true, 1, 2, 47, 97", "false, 2, 2, 45, 101"})
    void matchesReference(boolean inst, int n, int c, int h, int w) {
        // Both layouts: work-groups per statistics group (GPUs), rows and chunks (CPUs; the last two rows
        // take several 2048-element chunks per plane and a scalar tail).
        for (Normalization.Variant v : Normalization.Variant.values()) {
            check(INSTANCE.get(v), BATCH.get(v), inst, n, c, h, w);
        }
    }

    @Test
    void cpuDevicesTakeTheRowsLayout() {
        assertEquals(ctx.device().isCpu() ? Normalization.Variant.ROWS : Normalization.Variant.WORK_GROUPS,
                Normalization.Variant.forDevice(ctx.device()));
    }

    private static void check(InstanceNorm instance, BatchNorm batch, boolean inst, int n, int c, int h, int w) {
        int plane = h * w, total = n * c * plane;
        float[] x = Tensors.uniform(total + c, total, -1, 1);
        for (int e = 0; e < total; e++) x[e] += (e / plane) % c * 3f / Math.max(1, c - 1);
        float[] dy = Tensors.uniform(total + c + 1, total, -1, 1);
        float[] gamma = Tensors.uniform(c + 2, c, 0.5, 1.5), beta = Tensors.uniform(c + 3, c, -0.5, 0.5);
        double[] xd = Tensors.toDouble(x), dyd = Tensors.toDouble(dy), gd = Tensors.toDouble(gamma), bd = Tensors.toDouble(beta);
        int groups = inst ? n * c : c;
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, h, w);
                ClBuffer dyb = ctx.buffer(dy, n, c, h, w); ClBuffer dxb = ctx.buffer(n, c, h, w);
                ClBuffer gb = ctx.buffer(gamma, c); ClBuffer bb = ctx.buffer(beta, c); ClBuffer dgb = ctx.buffer(c);
                ClBuffer dbb = ctx.buffer(c); ClBuffer stats = ctx.buffer(groups, 3)) {
            double[] y;
            NormReference.Grads g;
            if (inst) {
                instance.forward(xb, gb, bb, yb, stats);
                instance.backward(xb, dyb, gb, stats, dxb, dgb, dbb);
                y = NormReference.instanceForward(xd, n, c, plane, gd, bd, InstanceNorm.EPS);
                g = NormReference.instanceBackward(xd, dyd, n, c, plane, gd, InstanceNorm.EPS);
            } else {
                batch.forwardTraining(xb, gb, bb, yb, stats, null, null);
                batch.backward(xb, dyb, gb, stats, dxb, dgb, dbb);
                y = NormReference.batchForward(xd, n, c, plane, gd, bd, BatchNorm.EPS);
                g = NormReference.batchBackward(xd, dyd, n, c, plane, gd, BatchNorm.EPS);
            }
            Tensors.assertClose("forward", Conv2dTest.f(y), yb.read(), 5e-5, 1e-4);
            Tensors.assertClose("d/dx", Conv2dTest.f(g.dx()), dxb.read(), 5e-5, 1e-4);
            double pa = 1e-5 + 2e-6 * n * plane;
            Tensors.assertClose("d/dgamma", Conv2dTest.f(g.dGamma()), dgb.read(), pa, 1e-4);
            Tensors.assertClose("d/dbeta", Conv2dTest.f(g.dBeta()), dbb.read(), pa, 1e-4);
            // In place: y = x, dx = dy.
            if (inst) {
                instance.forward(xb, gb, bb, xb, stats);
            } else {
                batch.forwardTraining(xb, gb, bb, xb, stats, null, null);
            }
            Tensors.assertClose("forward in place", Conv2dTest.f(y), xb.read(), 5e-5, 1e-4);
        }
    }

    @Test
    void runningStatisticsAndInferenceFollowTheReference() {
        int n = 3, c = 4, h = 5, w = 7, plane = h * w, total = n * c * plane;
        float[] x = Tensors.uniform(7, total, -1, 2);
        float[] gamma = Tensors.uniform(8, c, 0.5, 1.5), beta = Tensors.uniform(9, c, -0.5, 0.5);
        double[] rm = Tensors.toDouble(Tensors.uniform(10, c, -0.2, 0.2)), rv = Tensors.toDouble(Tensors.uniform(11, c, 0.5, 1.5));
        try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, h, w);
                ClBuffer gb = ctx.buffer(gamma, c); ClBuffer bb = ctx.buffer(beta, c); ClBuffer stats = ctx.buffer(c, 3);
                ClBuffer rmb = ctx.buffer(Conv2dTest.f(rm), c); ClBuffer rvb = ctx.buffer(Conv2dTest.f(rv), c)) {
            double[] xd = Tensors.toDouble(x);
            for (int step = 0; step < 2; step++) {
                batch.forwardTraining(xb, gb, bb, yb, stats, rmb, rvb);
                NormReference.updateRunning(rm, rv, xd, n, c, plane, BatchNorm.MOMENTUM);
            }
            Tensors.assertClose("running mean", Conv2dTest.f(rm), rmb.read(), 1e-6, 1e-5);
            Tensors.assertClose("running var", Conv2dTest.f(rv), rvb.read(), 1e-6, 1e-5);
            batch.forwardInference(xb, gb, bb, rmb, rvb, yb, stats);
            Tensors.assertClose("inference", Conv2dTest.f(NormReference.batchInference(xd, n, c, plane,
                    Tensors.toDouble(gamma), Tensors.toDouble(beta), rm, rv, BatchNorm.EPS)), yb.read(), 2e-5, 1e-4);
        }
    }

    @Test
    void isDeterministic() {
        int n = 2, c = 3, h = 40, w = 41;
        float[] x = Tensors.uniform(5, n * c * h * w, -1, 1), dy = Tensors.uniform(6, n * c * h * w, -1, 1);
        float[][] first = null;
        for (int run = 0; run < 2; run++) {
            try (ClBuffer xb = ctx.buffer(x, n, c, h, w); ClBuffer yb = ctx.buffer(n, c, h, w);
                    ClBuffer dyb = ctx.buffer(dy, n, c, h, w); ClBuffer dxb = ctx.buffer(n, c, h, w);
                    ClBuffer gb = ctx.buffer(new float[] {1, 2, 3}, c); ClBuffer bb = ctx.buffer(new float[] {0.1f, 0, -0.2f}, c);
                    ClBuffer dgb = ctx.buffer(c); ClBuffer dbb = ctx.buffer(c); ClBuffer stats = ctx.buffer(c, 3)) {
                batch.forwardTraining(xb, gb, bb, yb, stats, null, null);
                batch.backward(xb, dyb, gb, stats, dxb, dgb, dbb);
                float[][] now = {yb.read(), dxb.read(), dgb.read(), dbb.read()};
                if (first == null) {
                    first = now;
                } else {
                    for (int k = 0; k < now.length; k++) assertArrayEquals(first[k], now[k], 0f);
                }
            }
        }
    }

    @Test
    void rejectsBadShapes() {
        try (ClBuffer x = ctx.buffer(1, 3, 1, 1); ClBuffer g = ctx.buffer(3); ClBuffer s = ctx.buffer(3, 3);
                ClBuffer g2 = ctx.buffer(2)) {
            assertThrows(IllegalArgumentException.class, () -> batch.forwardTraining(x, g, g, x, s, null, null));
            assertThrows(IllegalArgumentException.class, () -> instance.forward(x, g2, g2, x, s));
        }
    }
}
