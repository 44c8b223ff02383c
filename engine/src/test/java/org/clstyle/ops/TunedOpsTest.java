package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.ReluReference;
import org.clstyle.testing.Tensors;
import org.clstyle.tune.TuningTable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A tuning table in the cache is used by the ops' default constructors: calls of a tuned shape class
 * run on an instance built with the table's settings, others on the defaults. (Surefire points
 * CLSTYLE_CACHE_DIR at target/test-cache, so this never touches the user's cache.)
 */
class TunedOpsTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() throws Exception {
        Files.deleteIfExists(TuningTable.file(TuningTable.cacheRoot(), ctx.device().name(), ctx.device().driverVersion()));
        ctx.close();
    }

    @Test
    void reluFollowsTheTuningTableItIsGiven() throws Exception {
        TuningTable table = new TuningTable(ctx.device().name(), ctx.device().driverVersion());
        Relu.Variant v = Relu.Variant.forDevice(ctx.device());
        table.put(ShapeClass.RELU, ShapeClass.relu(1L << 21), new TuningTable.Entry(v.name(), Map.of("RELU_CHUNK", 64), 1, 1));
        table.save(TuningTable.cacheRoot());

        Relu relu = new Relu(ctx, TuningTable.load(ctx.device()));
        int small = 3 * 7 * 5, large = (1 << 21) + 3;
        for (int n : new int[] {small, large}) {
            float[] x = Tensors.uniform(n, n, -1, 1);
            try (ClBuffer bx = ctx.buffer(x, n); ClBuffer by = ctx.buffer(n)) {
                relu.forward(bx, by);
                Tensors.assertClose("relu of " + n, toFloat(ReluReference.forward(Tensors.toDouble(x))), by.read(), 0, 0);
            }
        }
        assertEquals(1, relu.tunedInstances().size(), "one instance made for the tuned large class");
        assertTrue(relu.tunedInstances().stream().allMatch(r -> r.chunk() == 64), "built with the table's RELU_CHUNK");
    }

    @Test
    void convFollowsTheTuningTableForItsShapeClass() throws Exception {
        int cin = 5, cout = 7, h = 9, w = 11;
        TuningTable table = new TuningTable(ctx.device().name(), ctx.device().driverVersion());
        table.put(ShapeClass.CONV, ShapeClass.conv(cin, cout, h, w),
                new TuningTable.Entry(Conv3x3.PER_LAYER, Map.of("MR", 4, "NV", 1), 1, 1));
        table.save(TuningTable.cacheRoot());

        Conv3x3 conv = new Conv3x3(ctx, TuningTable.load(ctx.device()));
        double[] x = Tensors.toDouble(Tensors.uniform(1, cin * h * w, -1, 1));
        double[] wt = Tensors.toDouble(Tensors.uniform(2, cout * cin * 9, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(3, cout, -1, 1));
        double[] dy = Tensors.toDouble(Tensors.uniform(4, cout * h * w, -1, 1));
        try (ClBuffer bx = ctx.buffer(toFloat(x), cin, h, w); ClBuffer bw = ctx.buffer(toFloat(wt), cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(toFloat(b), cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer bdy = ctx.buffer(toFloat(dy), cout, h, w); ClBuffer bdx = ctx.buffer(cin, h, w)) {
            conv.prepare(bw);
            conv.forward(bx, bw, bb, by, true);
            conv.backwardInput(bdy, bw, by, bdx);
            double[] y = org.clstyle.reference.Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, true);
            double[] dx = org.clstyle.reference.Conv3x3Reference.backwardInput(dy, wt, y, cin, cout, h, w);
            // Conv3x3Test's tolerance: atol 1e-5 + 1e-6 K, rtol 1e-4 for a K-term sum.
            Tensors.assertClose("tuned forward", toFloat(y), by.read(), 1e-5 + 1e-6 * cin * 9, 1e-4);
            Tensors.assertClose("tuned backwardInput", toFloat(dx), bdx.read(), 1e-5 + 1e-6 * cout * 9, 1e-4);
        }
        assertEquals(1, conv.tunedInstances().size(), "one instance for the tuned class");
        assertTrue(conv.tunedInstances().stream().allMatch(c -> c.registerRows() == 4), "built with the table's MR");
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
