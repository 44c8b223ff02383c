package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.ReluReference;
import org.clstyle.testing.Tensors;
import org.clstyle.tune.ShapeClass;
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
    void defaultConstructorFollowsTheTuningTable() throws Exception {
        TuningTable table = new TuningTable(ctx.device().name(), ctx.device().driverVersion());
        Relu.Variant v = Relu.Variant.forDevice(ctx.device());
        table.put(ShapeClass.RELU, ShapeClass.relu(1L << 21), new TuningTable.Entry(v.name(), Map.of("RELU_CHUNK", 64), 1, 1));
        table.save(TuningTable.cacheRoot());

        Relu relu = new Relu(ctx);
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

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
