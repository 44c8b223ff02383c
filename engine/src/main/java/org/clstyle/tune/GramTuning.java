package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.GramMatrix;
import org.clstyle.reference.GramMatrixReference;

/**
 * Tuning of {@link GramMatrix}: shapes are {c, h, w} (f [C, H, W], N = H*W, normaliser n = N).
 * Timed: forward plus backward. DIRECT searches the forward block (GM x GN), the backward block
 * (MR x 8*NV), the forward chunk length (GRAM_KC), then the backward panel and work-groups; GEMM
 * searches gemm.cl's tiles, then the vector width.
 */
public class GramTuning extends OpTuning {
    @Override
    public String op() { return ShapeClass.GRAM; }

    @Override
    public List<ClassPlan> plans(boolean quick) {
        return List.of(
                plan(new int[] {128, quick ? 32 : 64, 64}, new int[] {67, 7, 13}),  // relu2_1 at 128-256 px
                plan(new int[] {64, 128, quick ? 128 : 256}, new int[] {19, 127, 131}), // relu1_1 at 128-256 px
                plan(new int[] {512, quick ? 16 : 32, 32}, new int[] {131, 5, 7}), // relu5_1 at 256-512 px
                plan(new int[] {256, 128, 128}, new int[] {131, 129, 129}));       // relu3_1 at 512 px
    }

    private static ClassPlan plan(int[] time, int[] check) {
        ShapeClass c = ShapeClass.gram(time[0], (long) time[1] * time[2]);
        if (!c.equals(ShapeClass.gram(check[0], (long) check[1] * check[2]))) {
            throw new IllegalStateException("gram check shape " + shape(check) + " is not in class " + c);
        }
        return new ClassPlan(c, time, check);
    }

    @Override
    public Candidate defaultCandidate(ClDevice d) {
        return new Candidate(GramMatrix.Variant.forDevice(d).name(), Map.of());
    }

    @Override
    public List<Stage> stages(ClDevice d, boolean quick) {
        String other = GramMatrix.Variant.forDevice(d) == GramMatrix.Variant.DIRECT ? "GEMM" : "DIRECT";
        return List.of(
                best -> {
                    List<Candidate> out = new ArrayList<>(best.variant().equals("DIRECT")
                            // forward GM x GN blocks around the default 3 x 4 (12 float8 accumulators)
                            ? (quick ? pairs(best, "GM", "GN", 2, 4, 4, 3, 4, 4)
                                     : pairs(best, "GM", "GN", 2, 4, 4, 2, 4, 3, 2, 8, 3, 3, 4, 4, 6, 2))
                            : gemmTiles(best, quick));
                    if (!quick) {
                        out.add(best.ofVariant(other));
                    }
                    return out;
                },
                best -> best.variant().equals("DIRECT")
                        ? (quick ? pairs(best, "MR", "NV", 4, 2, 8, 2)
                                 : pairs(best, "MR", "NV", 4, 2, 8, 1, 4, 3, 8, 2, 6, 1))
                        : vary(best, "VW", 1, 2, 4),
                best -> best.variant().equals("DIRECT")
                        ? vary(best, "GRAM_KC", quick ? new int[] {2048, 32768} : new int[] {2048, 4096, 16384, 32768})
                        : List.of(),
                best -> best.variant().equals("DIRECT")
                        ? vary(best, "PANEL_KB", quick ? new int[] {32, 128} : new int[] {16, 32, 128})
                        : List.of(),
                best -> best.variant().equals("DIRECT") && !quick ? vary(best, "DIRECT_WG", 1, 16) : List.of(),
                best -> best.variant().equals("DIRECT") && !quick ? vary(best, "BACKWARD_WG", 16, 512) : List.of());
    }

    @Override
    public Object create(ClContext ctx, Candidate c) {
        return new GramMatrix(ctx, c.defines(), GramMatrix.Variant.valueOf(c.variant()));
    }

    @Override
    public String describe(int[] s) {
        return "f " + shape(s) + " -> " + shape(s[0], s[0]);
    }

    @Override
    public Workload workload(ClContext ctx, int[] s, boolean reference) {
        return new GramWork(ctx, s, reference);
    }

    private static final class GramWork extends Workload {
        private final int c, cols;
        private final ClBuffer f, dg, g, df;
        private List<double[]> ref;

        GramWork(ClContext ctx, int[] s, boolean reference) {
            super(0x9a4dL + s[0] * 31L + s[2]);
            c = s[0];
            cols = s[1] * s[2];
            double[][] fd = new double[1][], dgd = new double[1][];
            f = random(ctx, fd, c, s[1], s[2]); // [C, H, W]
            dg = random(ctx, dgd, c, c);         // [C, C]
            g = output(ctx, c, c);               // [C, C]
            df = output(ctx, c, s[1], s[2]);     // [C, H, W]
            if (reference) {
                ref = List.of(GramMatrixReference.forward(fd[0], c, cols, cols),
                        GramMatrixReference.backward(dgd[0], fd[0], c, cols, cols));
            }
        }

        @Override
        public void run(Object op) {
            GramMatrix gram = (GramMatrix) op;
            gram.forward(f, g, cols);
            gram.backward(dg, f, df, cols, false);
        }

        @Override
        public List<String> names() { return List.of("forward", "backward"); }

        @Override
        protected List<ClBuffer> outputBuffers() { return List.of(g, df); }

        @Override
        public List<double[]> reference() { return ref; }

        @Override
        public Tolerance tolerance(int i) {
            // GramMatrixTest: K products (K = N forward, C backward) scaled by 1/n, atol grows with K / n.
            int k = i == 0 ? cols : c;
            return new Tolerance((1e-5 + 1e-6 * k) * Math.max(1, k / (double) cols), 1e-4);
        }
    }
}
