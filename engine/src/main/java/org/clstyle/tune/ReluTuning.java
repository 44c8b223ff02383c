package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.Relu;
import org.clstyle.reference.ReluReference;

/**
 * Tuning of {@link Relu}: shapes are {c, h, w}. Timed: forward plus backward. Searches the variant
 * and (CHUNKS) the elements per work-item RELU_CHUNK.
 */
public class ReluTuning extends OpTuning {
    @Override
    public String op() { return ShapeClass.RELU; }

    @Override
    public List<ClassPlan> plans(boolean quick) {
        return List.of(
                plan(new int[] {64, 64, quick ? 32 : 64}, new int[] {7, 13, 11}),
                plan(new int[] {64, quick ? 128 : 256, 256}, new int[] {3, 591, 593}));
    }

    private static ClassPlan plan(int[] time, int[] check) {
        ShapeClass c = ShapeClass.relu((long) time[0] * time[1] * time[2]);
        if (!c.equals(ShapeClass.relu((long) check[0] * check[1] * check[2]))) {
            throw new IllegalStateException("relu check shape " + shape(check) + " is not in class " + c);
        }
        return new ClassPlan(c, time, check);
    }

    @Override
    public Candidate defaultCandidate(ClDevice d) {
        return new Candidate(Relu.Variant.forDevice(d).name(), Map.of());
    }

    @Override
    public List<Stage> stages(ClDevice d, boolean quick) {
        String other = Relu.Variant.forDevice(d) == Relu.Variant.CHUNKS ? "ELEMENTS" : "CHUNKS";
        int[] chunks = quick ? new int[] {512, 8192} : new int[] {256, 512, 1024, 4096, 8192, 16384};
        return List.of(
                best -> {
                    List<Candidate> out = new ArrayList<>();
                    out.add(best.ofVariant(other));
                    if (best.variant().equals("CHUNKS")) {
                        out.addAll(vary(best, "RELU_CHUNK", chunks));
                    }
                    return out;
                },
                best -> best.variant().equals("CHUNKS") ? vary(best, "RELU_CHUNK", chunks) : List.of());
    }

    @Override
    public Object create(ClContext ctx, Candidate c) {
        return new Relu(ctx, Relu.Variant.valueOf(c.variant()), c.defines());
    }

    @Override
    public String describe(int[] s) {
        return "x " + shape(s);
    }

    @Override
    public Workload workload(ClContext ctx, int[] s, boolean reference) {
        return new ReluWork(ctx, s, reference);
    }

    private static final class ReluWork extends Workload {
        private final ClBuffer x, dy, y, dx;
        private List<double[]> ref;

        ReluWork(ClContext ctx, int[] s, boolean reference) {
            super(0x7e1L + s[0] * 31L + s[2]);
            double[][] xd = new double[1][], dyd = new double[1][];
            x = random(ctx, xd, s);   // [C, H, W]
            dy = random(ctx, dyd, s); // [C, H, W]
            y = output(ctx, s);       // [C, H, W]
            dx = output(ctx, s);      // [C, H, W]
            if (reference) {
                double[] yr = ReluReference.forward(xd[0]);
                ref = List.of(yr, ReluReference.backward(yr, dyd[0]));
            }
        }

        @Override
        public void run(Object op) {
            Relu relu = (Relu) op;
            relu.forward(x, y);
            relu.backward(y, dy, dx);
        }

        @Override
        public List<String> names() { return List.of("forward", "backward"); }

        @Override
        protected List<ClBuffer> outputBuffers() { return List.of(y, dx); }

        @Override
        public List<double[]> reference() { return ref; }

        @Override
        public Tolerance tolerance(int i) {
            return new Tolerance(0, 0); // ReluTest: max and select are exact in float
        }
    }
}
