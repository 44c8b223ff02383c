package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.Conv3x3;
import org.clstyle.reference.Conv3x3Reference;

/**
 * Tuning of {@link Conv3x3}: shapes are {cin, cout, h, w}. Timed: forward with fused ReLU plus
 * backwardInput with a ReLU mask, the two calls of the style-transfer loop (weights are fixed there,
 * so backwardWeights is neither timed nor tuned). DIRECT searches the register block (MR x 8*NV),
 * then the work-group (DIRECT_WG), then the forced work order (ROWS_INNER); GEMM searches gemm.cl's
 * tiles, then the vector width.
 */
public class ConvTuning extends OpTuning {
    @Override
    public String op() { return ShapeClass.CONV; }

    @Override
    public List<ClassPlan> plans(boolean quick) {
        int q = quick ? 2 : 1; // quick halves the rows: same per-row work, same class
        return List.of(
                plan(new int[] {3, 64, 64 / q, 64}, new int[] {3, 13, 5, 7}),        // conv1_1 of a small image
                plan(new int[] {3, 64, 32 / q, 256}, new int[] {3, 13, 3, 130}),     // conv1_1 at 256 px
                plan(new int[] {128, 256, 16 / q, 64}, new int[] {67, 13, 5, 7}),    // conv3_1 at 256 px
                plan(new int[] {64, 64, 16 / q, 256}, new int[] {67, 13, 3, 130}),   // conv1_2 at 256 px
                plan(new int[] {512, 512, 8 / q, 32}, new int[] {131, 7, 5, 7}),     // conv4_2 at 256 px
                plan(new int[] {256, 256, 8 / q, 128}, new int[] {131, 7, 2, 129})); // conv3_2 at 512 px
    }

    private static ClassPlan plan(int[] time, int[] check) {
        ShapeClass c = ShapeClass.conv(time[0], time[1], time[2], time[3]);
        if (!c.equals(ShapeClass.conv(check[0], check[1], check[2], check[3]))) {
            throw new IllegalStateException("conv check shape " + shape(check) + " is not in class " + c);
        }
        return new ClassPlan(c, time, check);
    }

    @Override
    public Candidate defaultCandidate(ClDevice d) {
        // What new Conv3x3(ctx) runs untuned: the variant chosen per layer (DIRECT, WINOGRAD or WINOGRAD4 on CPUs).
        return new Candidate(Conv3x3.PER_LAYER, Map.of());
    }

    @Override
    public List<Stage> stages(ClDevice d, boolean quick) {
        boolean cpu = Conv3x3.Variant.forDevice(d) == Conv3x3.Variant.DIRECT;
        List<String> others = cpu ? List.of("GEMM", "DIRECT", "WINOGRAD", "WINOGRAD4")
                : List.of("DIRECT", "WINOGRAD", "WINOGRAD4");
        return List.of(
                best -> {
                    if (!best.variant().equals("GEMM")) {
                        // PER_LAYER, DIRECT, WINOGRAD and WINOGRAD4 share the register block (MR rows x NV float8).
                        // MR x NV register blocks around the default 6 x 2 (12 float8 accumulators): smaller
                        // for 16-register machines, larger for 32-register ones (AVX-512).
                        List<Candidate> out = new ArrayList<>(quick
                                ? pairs(best, "MR", "NV", 4, 2, 8, 2, 6, 1, 4, 3)
                                : pairs(best, "MR", "NV", 4, 1, 8, 1, 4, 2, 8, 2, 12, 2, 4, 3, 6, 3, 6, 4));
                        if (!quick) {
                            others.forEach(v -> out.add(best.ofVariant(v)));
                        }
                        return out;
                    }
                    List<Candidate> out = new ArrayList<>(gemmTiles(best, quick));
                    if (!quick) {
                        others.forEach(v -> out.add(best.ofVariant(v)));
                    }
                    return out;
                },
                best -> best.variant().equals("GEMM")
                        ? vary(best, "VW", 1, 2, 4)
                        : vary(best, "DIRECT_WG", quick ? new int[] {1, 16} : new int[] {1, 2, 8, 16}),
                best -> best.variant().equals("GEMM") ? List.of() : vary(best, "WINO_WG", 4, 16),
                best -> best.variant().equals("GEMM") ? List.of() : vary(best, "ROWS_INNER", 0, 1));
    }

    @Override
    public Object create(ClContext ctx, Candidate c) {
        return c.variant().equals(Conv3x3.PER_LAYER) ? new Conv3x3(ctx, c.defines())
                : new Conv3x3(ctx, c.defines(), Conv3x3.Variant.valueOf(c.variant()));
    }

    @Override
    public String describe(int[] s) {
        return "x " + shape(s[0], s[2], s[3]) + " -> " + shape(s[1], s[2], s[3]);
    }

    @Override
    public Workload workload(ClContext ctx, int[] s, boolean reference) {
        return new ConvWork(ctx, s, reference);
    }

    private static final class ConvWork extends Workload {
        private final int cin, cout, h, w;
        private final ClBuffer x, weight, bias, mask, dy, y, dx;
        private List<double[]> ref;

        ConvWork(ClContext ctx, int[] s, boolean reference) {
            super(0x5eedL + s[0] * 31L + s[3]);
            cin = s[0];
            cout = s[1];
            h = s[2];
            w = s[3];
            double[][] xd = new double[1][], wd = new double[1][], bd = new double[1][], md = new double[1][],
                    dyd = new double[1][];
            x = random(ctx, xd, cin, h, w);             // [Cin, H, W]
            weight = random(ctx, wd, cout, cin, 3, 3);  // [Cout, Cin, 3, 3]
            bias = random(ctx, bd, cout);               // [Cout]
            mask = random(ctx, md, cout, h, w);         // [Cout, H, W], a ReLU output: about half <= 0
            dy = random(ctx, dyd, cout, h, w);          // [Cout, H, W]
            y = output(ctx, cout, h, w);                // [Cout, H, W]
            dx = output(ctx, cin, h, w);                // [Cin, H, W]
            if (reference) {
                ref = List.of(Conv3x3Reference.forward(xd[0], cin, h, w, wd[0], bd[0], cout, true),
                        Conv3x3Reference.backwardInput(dyd[0], wd[0], md[0], cin, cout, h, w));
            }
        }

        @Override
        public void run(Object op) {
            Conv3x3 conv = (Conv3x3) op;
            conv.forward(x, weight, bias, y, true);
            conv.backwardInput(dy, weight, mask, dx);
        }

        @Override
        public List<String> names() { return List.of("forward", "backwardInput"); }

        @Override
        protected List<ClBuffer> outputBuffers() { return List.of(y, dx); }

        @Override
        public List<double[]> reference() { return ref; }

        @Override
        public Tolerance tolerance(int i) {
            // Conv3x3Test: a float sum of K products, K = Cin*9 (forward) or Cout*9 (backward).
            int k = i == 0 ? cin * 9 : cout * 9;
            return new Tolerance(1e-5 + 1e-6 * k, 1e-4);
        }
    }
}
