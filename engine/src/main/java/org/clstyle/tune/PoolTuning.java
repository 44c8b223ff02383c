package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.Pool2x2;
import org.clstyle.reference.PoolReference;

/**
 * Tuning of {@link Pool2x2}: shapes are {c, h, w} (x [C, H, W]). Timed: max and average pooling,
 * forward and backward. Searches the variant, then (ROWS) the vector width POOL_VW and the
 * work-group POOL_WG.
 */
public class PoolTuning extends OpTuning {
    @Override
    public String op() { return ShapeClass.POOL; }

    @Override
    public List<ClassPlan> plans(boolean quick) {
        return List.of(
                plan(new int[] {64, 64, quick ? 32 : 64}, new int[] {5, 7, 13}),          // pool1 of a small image
                plan(new int[] {64, quick ? 128 : 256, 256}, new int[] {3, 591, 593}));  // pool1 at 256 px
    }

    private static ClassPlan plan(int[] time, int[] check) {
        ShapeClass c = ShapeClass.pool(time[0], time[1], time[2]);
        if (!c.equals(ShapeClass.pool(check[0], check[1], check[2]))) {
            throw new IllegalStateException("pool check shape " + shape(check) + " is not in class " + c);
        }
        return new ClassPlan(c, time, check);
    }

    @Override
    public Candidate defaultCandidate(ClDevice d) {
        return new Candidate(Pool2x2.Variant.forDevice(d).name(), Map.of());
    }

    @Override
    public List<Stage> stages(ClDevice d, boolean quick) {
        String other = Pool2x2.Variant.forDevice(d) == Pool2x2.Variant.ROWS ? "ELEMENTS" : "ROWS";
        return List.of(
                best -> {
                    List<Candidate> out = new ArrayList<>();
                    out.add(best.ofVariant(other));
                    if (best.variant().equals("ROWS")) {
                        out.addAll(vary(best, "POOL_VW", 4, 16));
                    }
                    return out;
                },
                // when the first stage switched to ROWS, its vector widths now
                best -> best.variant().equals("ROWS") ? vary(best, "POOL_VW", 4, 16) : List.of(),
                best -> best.variant().equals("ROWS")
                        ? vary(best, "POOL_WG", quick ? new int[] {1, 16} : new int[] {1, 2, 8, 16})
                        : List.of());
    }

    @Override
    public Object create(ClContext ctx, Candidate c) {
        return new Pool2x2(ctx, Pool2x2.Variant.valueOf(c.variant()), c.defines());
    }

    @Override
    public String describe(int[] s) {
        return "x " + shape(s) + " -> " + shape(s[0], s[1] / 2, s[2] / 2);
    }

    @Override
    public Workload workload(ClContext ctx, int[] s, boolean reference) {
        return new PoolWork(ctx, s, reference);
    }

    private static final class PoolWork extends Workload {
        private final ClBuffer x, dy, maxY, maxDx, avgY, avgDx;
        private List<double[]> ref;

        PoolWork(ClContext ctx, int[] s, boolean reference) {
            super(0x9001L + s[0] * 31L + s[2]);
            int c = s[0], h = s[1], w = s[2];
            double[][] xd = new double[1][], dyd = new double[1][];
            x = random(ctx, xd, c, h, w);             // [C, H, W]
            dy = random(ctx, dyd, c, h / 2, w / 2);   // [C, H/2, W/2]
            maxY = output(ctx, c, h / 2, w / 2);      // [C, H/2, W/2]
            maxDx = output(ctx, c, h, w);             // [C, H, W]
            avgY = output(ctx, c, h / 2, w / 2);      // [C, H/2, W/2]
            avgDx = output(ctx, c, h, w);             // [C, H, W]
            if (reference) {
                ref = List.of(PoolReference.maxForward(xd[0], c, h, w), PoolReference.maxBackward(xd[0], c, h, w, dyd[0]),
                        PoolReference.avgForward(xd[0], c, h, w), PoolReference.avgBackward(dyd[0], c, h, w));
            }
        }

        @Override
        public void run(Object op) {
            Pool2x2 pool = (Pool2x2) op;
            pool.maxForward(x, maxY);
            pool.maxBackward(x, dy, maxDx);
            pool.avgForward(x, avgY);
            pool.avgBackward(dy, avgDx);
        }

        @Override
        public List<String> names() { return List.of("maxForward", "maxBackward", "avgForward", "avgBackward"); }

        @Override
        protected List<ClBuffer> outputBuffers() { return List.of(maxY, maxDx, avgY, avgDx); }

        @Override
        public List<double[]> reference() { return ref; }

        @Override
        public Tolerance tolerance(int i) {
            // Pool2x2Test: max pooling selects (exact); average: four float additions on [-1, 1].
            return i < 2 ? new Tolerance(0, 0) : new Tolerance(1e-7, 1e-6);
        }
    }
}
