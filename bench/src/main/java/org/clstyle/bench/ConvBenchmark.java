package org.clstyle.bench;

import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.perf.IterationBench;
import org.clstyle.reference.Conv3x3Reference;
import org.openjdk.jmh.annotations.*;
import org.clstyle.tune.TuningTable;

/**
 * Conv3x3 at VGG19's shapes (the distinct ones up to conv5_1; conv3_3/3_4 equal conv3_2 and
 * conv4_3/4_4 equal conv4_2), forward with fused ReLU and both backwards with the ReLU mask, as the
 * style-transfer iteration runs them. Reports GFLOP/s (2 Cout Cin 9 H W per pass).
 *
 * <p>Validation in setup, before any timing: (1) at the full shape, the outputs of a 9x9 window at
 * the top-left and one at the bottom-right corner of forward and backwardInput against the double
 * reference run on the matching input window (exact for the window's interior and image borders);
 * (2) all three passes in full at a reduced spatial size of 16x13 with the layer's real channel
 * counts (the full-size double reference of backwardWeights would take minutes), with the same tile
 * configuration. Tolerance as in Conv3x3Test: atol 1e-5 + 1e-6 K, rtol 1e-4 for a K-term sum.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class ConvBenchmark {
    @Param({"conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv4_1", "conv4_2", "conv5_1"})
    public String layer;

    @Param({"256", "512"})
    public int size;

    @Param({"forward", "backwardInput", "backwardWeights"})
    public String pass;

    private ClContext ctx;
    private Conv3x3 conv;
    private int cin, cout, h, w;
    private ClBuffer x;       // [Cin, H, W]
    private ClBuffer weight;  // [Cout, Cin, 3, 3]
    private ClBuffer bias;    // [Cout]
    private ClBuffer y;       // [Cout, H, W] forward output = ReLU output for the backward masks
    private ClBuffer dy;      // [Cout, H, W]
    private ClBuffer dx;      // [Cin, H, W]
    private ClBuffer dWeight; // [Cout, Cin, 3, 3]
    private ClBuffer dBias;   // [Cout]
    private double gflop;

    @Setup(Level.Trial)
    public void setUp() {
        IterationBench.ConvLayer c = IterationBench.LAYERS.stream().filter(l -> l.name().equals(layer)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown layer " + layer));
        cin = c.cin();
        cout = c.cout();
        h = size / c.divisor();
        w = h;
        ctx = BenchSupport.context();
        conv = new Conv3x3(ctx, TuningTable.load(ctx.device()));
        validateReduced(16, 13);

        float[] xs = BenchSupport.uniform(1, cin * h * w, -1, 1);
        float[] ws = BenchSupport.uniform(2, cout * cin * 9, -1, 1);
        float[] bs = BenchSupport.uniform(3, cout, -1, 1);
        float[] dys = BenchSupport.uniform(4, cout * h * w, -1, 1);
        x = ctx.buffer(xs, cin, h, w);
        weight = ctx.buffer(ws, cout, cin, 3, 3);
        bias = ctx.buffer(bs, cout);
        y = ctx.buffer(cout, h, w);
        dy = ctx.buffer(dys, cout, h, w);
        dx = ctx.buffer(cin, h, w);
        dWeight = ctx.buffer(cout, cin, 3, 3);
        dBias = ctx.buffer(cout);
        conv.forward(x, weight, bias, y, true);
        conv.backwardInput(dy, weight, y, dx);
        float[] ys = y.read(), dxs = dx.read();
        int k = Math.min(9, h);
        for (int r0 : new int[] {0, h - k}) {
            checkWindow(xs, ws, bs, dys, ys, dxs, r0, r0, k);
        }
        gflop = Conv3x3.flops(cin, cout, h, w) / 1e9;
    }

    /** All three passes at [Cin, rh, rw] against the reference. */
    private void validateReduced(int rh, int rw) {
        rh = Math.min(rh, h);
        rw = Math.min(rw, w);
        float[] xs = BenchSupport.uniform(11, cin * rh * rw, -1, 1);
        float[] ws = BenchSupport.uniform(12, cout * cin * 9, -1, 1);
        float[] bs = BenchSupport.uniform(13, cout, -1, 1);
        float[] dys = BenchSupport.uniform(14, cout * rh * rw, -1, 1);
        try (ClBuffer bx = ctx.buffer(xs, cin, rh, rw); ClBuffer bw = ctx.buffer(ws, cout, cin, 3, 3);
             ClBuffer bb = ctx.buffer(bs, cout); ClBuffer by = ctx.buffer(cout, rh, rw);
             ClBuffer bdy = ctx.buffer(dys, cout, rh, rw); ClBuffer bdx = ctx.buffer(cin, rh, rw);
             ClBuffer bdw = ctx.buffer(cout, cin, 3, 3); ClBuffer bdb = ctx.buffer(cout)) {
            double[] xd = BenchSupport.toDouble(xs), wd = BenchSupport.toDouble(ws), dyd = BenchSupport.toDouble(dys);
            conv.forward(bx, bw, bb, by, true);
            double[] ref = Conv3x3Reference.forward(xd, cin, rh, rw, wd, BenchSupport.toDouble(bs), cout, true);
            float[] yv = by.read();
            BenchSupport.check(layer + " forward " + cin + "x" + rh + "x" + rw, ref, yv, atol(cin * 9), 1e-4);
            double[] yd = BenchSupport.toDouble(yv);
            conv.backwardInput(bdy, bw, by, bdx);
            BenchSupport.check(layer + " backwardInput " + cin + "x" + rh + "x" + rw,
                    Conv3x3Reference.backwardInput(dyd, wd, yd, cin, cout, rh, rw), bdx.read(), atol(cout * 9), 1e-4);
            conv.backwardWeights(bx, bdy, by, bdw, bdb);
            BenchSupport.check(layer + " backwardWeights " + cin + "x" + rh + "x" + rw,
                    Conv3x3Reference.backwardWeight(xd, dyd, yd, cin, cout, rh, rw), bdw.read(), atol(rh * rw), 1e-4);
            BenchSupport.check(layer + " backwardWeights bias", Conv3x3Reference.backwardBias(dyd, yd, cout, rh, rw),
                    bdb.read(), atol(rh * rw), 1e-4);
        }
    }

    /**
     * The k x k window at (r0, c0) of the full-shape forward output and input gradient against the
     * reference on the same window of the inputs; only outputs whose 3x3 neighbourhood lies inside the
     * window or outside the image are compared.
     */
    private void checkWindow(float[] xs, float[] ws, float[] bs, float[] dys, float[] ys, float[] dxs,
                             int r0, int c0, int k) {
        double[] wd = BenchSupport.toDouble(ws);
        double[] yRef = Conv3x3Reference.forward(crop(xs, cin, r0, c0, k), cin, k, k, wd, BenchSupport.toDouble(bs), cout, true);
        compareWindow("forward", yRef, ys, cout, r0, c0, k, atol(cin * 9));
        double[] dxRef = Conv3x3Reference.backwardInput(crop(dys, cout, r0, c0, k), wd, crop(ys, cout, r0, c0, k),
                cin, cout, k, k);
        compareWindow("backwardInput", dxRef, dxs, cin, r0, c0, k, atol(cout * 9));
    }

    private void compareWindow(String what, double[] ref, float[] full, int ch, int r0, int c0, int k, double atol) {
        int lo = r0 == 0 ? 0 : 1, hi = r0 + k == h ? k : k - 1;
        int clo = c0 == 0 ? 0 : 1, chi = c0 + k == w ? k : k - 1;
        int n = ch * (hi - lo) * (chi - clo), t = 0;
        double[] e = new double[n];
        float[] a = new float[n];
        for (int c = 0; c < ch; c++) {
            for (int i = lo; i < hi; i++) {
                for (int j = clo; j < chi; j++) {
                    e[t] = ref[(c * k + i) * k + j];
                    a[t++] = full[(c * h + r0 + i) * w + c0 + j];
                }
            }
        }
        BenchSupport.check(layer + " " + what + " at " + size + " px, window (" + r0 + "," + c0 + ")", e, a, atol, 1e-4);
    }

    private double[] crop(float[] t, int ch, int r0, int c0, int k) {
        double[] out = new double[ch * k * k];
        for (int c = 0; c < ch; c++) {
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < k; j++) {
                    out[(c * k + i) * k + j] = t[(c * h + r0 + i) * w + c0 + j];
                }
            }
        }
        return out;
    }

    private static double atol(int k) {
        return 1e-5 + 1e-6 * k;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
    }

    @Benchmark
    public void run(Flops work) {
        switch (pass) {
            case "forward" -> conv.forward(x, weight, bias, y, true);
            case "backwardInput" -> conv.backwardInput(dy, weight, y, dx);
            case "backwardWeights" -> conv.backwardWeights(x, dy, y, dWeight, dBias);
            default -> throw new IllegalArgumentException("unknown pass " + pass);
        }
        ctx.finish();
        work.gflop += gflop;
    }
}
