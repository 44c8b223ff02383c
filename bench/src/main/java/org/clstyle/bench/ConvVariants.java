package org.clstyle.bench;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.perf.IterationBench;
import org.clstyle.reference.Conv3x3Reference;

/**
 * The CPU variants of Conv3x3 (DIRECT, WINOGRAD = F(2x2,3x3), WINOGRAD4 = F(4x4,3x3)) side by side at
 * VGG19's layers from conv1_2 on: forward with ReLU and backwardInput with the ReLU mask, each variant
 * called in turn on the same buffers (ReLU-shaped inputs, He-scaled weights) in every round, so that
 * load from other work on the machine hits all of them alike; prints the minimum wall time per call
 * over the rounds. This is how Conv3x3.useWinograd4's figures were measured.
 *
 * <pre>java -cp bench/target/benchmarks.jar org.clstyle.bench.ConvVariants [ROUNDS [SIZES [LAYERS]]]
 *   e.g. ... ConvVariants 5 256,512 conv1_2,conv4_2</pre>
 *
 * Before timing, every variant is checked against the double reference on the layer's channel counts
 * at 12 x 13 (atol 1e-5 + 1e-6 K, rtol 1e-4 as in Conv3x3Test).
 */
public final class ConvVariants {
    private static final Conv3x3.Variant[] VARIANTS = {Conv3x3.Variant.DIRECT, Conv3x3.Variant.WINOGRAD,
            Conv3x3.Variant.WINOGRAD4};

    private ConvVariants() {}

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
        int[] sizes = Arrays.stream((args.length > 1 ? args[1] : "256,512").split(",")).mapToInt(Integer::parseInt).toArray();
        List<String> only = args.length > 2 ? List.of(args[2].split(",")) : null;
        try (ClContext ctx = BenchSupport.context()) {
            Conv3x3[] convs = new Conv3x3[VARIANTS.length];
            for (int v = 0; v < VARIANTS.length; v++) {
                convs[v] = new Conv3x3(ctx, Map.of(), VARIANTS[v]);
            }
            System.out.println("device " + ctx.device().label() + "; ms per call, minimum of " + rounds
                    + " interleaved rounds: forward (ReLU) / backwardInput (masked)");
            System.out.printf("%5s %-8s %9s %9s  %15s %15s %15s  %s%n", "size", "layer", "channels", "plane",
                    "DIRECT", "WINOGRAD", "WINOGRAD4", "fastest");
            for (IterationBench.ConvLayer l : IterationBench.LAYERS) {
                if (l.cin() < 64 || (only != null && !only.contains(l.name()))) {
                    continue;
                }
                for (Conv3x3 c : convs) {
                    validate(ctx, c, l.cin(), l.cout());
                }
                for (int size : sizes) {
                    measure(ctx, convs, l, size, rounds);
                }
            }
        }
    }

    private static void measure(ClContext ctx, Conv3x3[] convs, IterationBench.ConvLayer l, int size, int rounds) {
        int cin = l.cin(), cout = l.cout(), h = size / l.divisor(), w = h;
        float[] xs = BenchSupport.normal(1, cin * h * w, 1);
        for (int i = 0; i < xs.length; i++) {
            xs[i] = Math.max(0, xs[i]);
        }
        try (ClBuffer x = ctx.buffer(xs, cin, h, w);
                ClBuffer wt = ctx.buffer(BenchSupport.normal(2, cout * cin * 9, Math.sqrt(2.0 / (9 * cin))), cout, cin, 3, 3);
                ClBuffer b = ctx.buffer(BenchSupport.normal(3, cout, 0.01), cout); ClBuffer y = ctx.buffer(cout, h, w);
                ClBuffer dy = ctx.buffer(BenchSupport.normal(4, cout * h * w, 1), cout, h, w);
                ClBuffer dx = ctx.buffer(cin, h, w)) {
            double[][] best = new double[convs.length][2];
            for (double[] r : best) {
                Arrays.fill(r, Double.MAX_VALUE);
            }
            for (Conv3x3 c : convs) { // packs the weights, builds the kernels, allocates scratch
                c.forward(x, wt, b, y, true);
                c.backwardInput(dy, wt, y, dx);
            }
            ctx.finish();
            for (int r = 0; r < rounds; r++) {
                for (int v = 0; v < convs.length; v++) {
                    long t0 = System.nanoTime();
                    convs[v].forward(x, wt, b, y, true);
                    ctx.finish();
                    long t1 = System.nanoTime();
                    convs[v].backwardInput(dy, wt, y, dx);
                    ctx.finish();
                    long t2 = System.nanoTime();
                    best[v][0] = Math.min(best[v][0], (t1 - t0) / 1e6);
                    best[v][1] = Math.min(best[v][1], (t2 - t1) / 1e6);
                }
            }
            int fastest = 0;
            for (int v = 1; v < convs.length; v++) {
                if (best[v][0] + best[v][1] < best[fastest][0] + best[fastest][1]) {
                    fastest = v;
                }
            }
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%5d %-8s %4d->%-4d %9s ", size, l.name(),
                    cin, cout, h + "x" + w));
            for (double[] t : best) {
                row.append(String.format(Locale.ROOT, " %7.1f/%7.1f", t[0], t[1]));
            }
            System.out.println(row + "  " + VARIANTS[fastest]);
        }
    }

    /** Forward and backwardInput of {@code c} at [cin, 12, 13] -> [cout, 12, 13] against the reference. */
    private static void validate(ClContext ctx, Conv3x3 c, int cin, int cout) {
        int h = 12, w = 13;
        float[] xs = BenchSupport.uniform(11, cin * h * w, -1, 1), ws = BenchSupport.uniform(12, cout * cin * 9, -1, 1);
        float[] bs = BenchSupport.uniform(13, cout, -1, 1), dys = BenchSupport.uniform(14, cout * h * w, -1, 1);
        try (ClBuffer bx = ctx.buffer(xs, cin, h, w); ClBuffer bw = ctx.buffer(ws, cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(bs, cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer bdy = ctx.buffer(dys, cout, h, w); ClBuffer bdx = ctx.buffer(cin, h, w)) {
            double[] xd = BenchSupport.toDouble(xs), wd = BenchSupport.toDouble(ws);
            c.forward(bx, bw, bb, by, true);
            float[] yv = by.read();
            BenchSupport.check(c.variant() + " forward " + cin + "->" + cout, Conv3x3Reference.forward(xd, cin, h, w, wd,
                    BenchSupport.toDouble(bs), cout, true), yv, 1e-5 + 1e-6 * cin * 9, 1e-4);
            c.backwardInput(bdy, bw, by, bdx);
            BenchSupport.check(c.variant() + " backwardInput " + cin + "->" + cout, Conv3x3Reference.backwardInput(
                    BenchSupport.toDouble(dys), wd, BenchSupport.toDouble(yv), cin, cout, h, w), bdx.read(),
                    1e-5 + 1e-6 * cout * 9, 1e-4);
            c.forget(bw);
        }
    }
}
