package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.clstyle.tune.TuningTable;

/** Which instance a tuned op delegates a call to. */
class TunedInstancesTest {
    record Op(String variant, Map<String, Object> defines) {}

    private static final Op UNTUNED = new Op("CHUNKS", Map.of());

    @Test
    void emptyTableAlwaysGivesTheUntunedInstance() {
        List<Op> created = new ArrayList<>();
        TunedInstances<Op> t = new TunedInstances<>(new TuningTable("d", "v"), "relu", UNTUNED, "CHUNKS",
                (v, d) -> { Op o = new Op(v, d); created.add(o); return o; });
        assertSame(UNTUNED, t.forClass(ShapeClass.relu(10)));
        assertSame(UNTUNED, t.forClass(ShapeClass.relu(1 << 24)));
        assertTrue(created.isEmpty());
        assertTrue(t.made().isEmpty());
    }

    @Test
    void equalSettingsShareOneInstanceAndDefaultsStayUntuned() {
        TuningTable table = new TuningTable("d", "v");
        ShapeClass a = ShapeClass.conv(3, 64, 8, 8), b = ShapeClass.conv(3, 64, 8, 256),
                c = ShapeClass.conv(64, 64, 8, 8), d = ShapeClass.conv(256, 256, 8, 8);
        table.put("conv", a, new TuningTable.Entry("DIRECT", Map.of("MR", 4), 2, 1));
        table.put("conv", b, new TuningTable.Entry("DIRECT", Map.of("MR", 4), 2, 1));
        table.put("conv", c, new TuningTable.Entry("DIRECT", Map.of(), 2, 2)); // the default won
        table.put("conv", d, new TuningTable.Entry("GEMM", Map.of(), 2, 1));   // another variant won
        List<Op> created = new ArrayList<>();
        TunedInstances<Op> t = new TunedInstances<>(table, "conv", new Op("DIRECT", Map.of()), "DIRECT",
                (v, m) -> { Op o = new Op(v, m); created.add(o); return o; });
        Op untuned = t.forClass(ShapeClass.conv(128, 128, 8, 256)); // class not in the table
        assertEquals(new Op("DIRECT", Map.of()), untuned);
        assertSame(untuned, t.forClass(c));
        Op ta = t.forClass(a);
        assertEquals(new Op("DIRECT", Map.of("MR", 4)), ta);
        assertSame(ta, t.forClass(b));
        assertEquals(new Op("GEMM", Map.of()), t.forClass(d));
        assertEquals(2, created.size());
        assertEquals(2, t.made().size());
    }

    @Test
    void refusedEntryFallsBackToTheUntunedInstance() {
        TuningTable table = new TuningTable("d", "v");
        ShapeClass s = ShapeClass.relu(10);
        table.put("relu", s, new TuningTable.Entry("CHUNKS", Map.of("RELU_CHUNK", 12), 1, 1));
        TunedInstances<Op> t = new TunedInstances<>(table, "relu", UNTUNED, "CHUNKS", (v, d) -> {
            throw new IllegalArgumentException("Relu: RELU_CHUNK must be a positive multiple of 8 but is 12");
        });
        assertSame(UNTUNED, t.forClass(s));
        assertSame(UNTUNED, t.forClass(s));
        assertTrue(t.refused().orElseThrow().contains("RELU_CHUNK"));
        assertTrue(t.made().isEmpty());
    }
}
