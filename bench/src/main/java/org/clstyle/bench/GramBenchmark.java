package org.clstyle.bench;

import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.GramMatrix;
import org.clstyle.reference.GramMatrixReference;
import org.openjdk.jmh.annotations.*;
import org.clstyle.tune.TuningTable;

/**
 * GramMatrix forward (G = F F^T / n) and backward (dF = (dG + dG^T) F / n) at the style layers
 * relu1_1 ... relu5_1 of a 256 and a 512 px image. GFLOP/s counts 2 C^2 HW per pass (the nominal
 * product; a kernel that exploits the symmetry of G does less work and shows a higher rate).
 * Validated in setup at the full shape against the double reference, tolerance as in
 * GramMatrixTest: atol (1e-5 + 1e-6 K) K / n, rtol 1e-4, inputs in [0, 1) like ReLU outputs.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class GramBenchmark {
    @Param({"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"})
    public String layer;

    @Param({"256", "512"})
    public int size;

    @Param({"forward", "backward"})
    public String pass;

    private ClContext ctx;
    private GramMatrix gram;
    private ClBuffer f;  // [C, H, W]
    private ClBuffer g;  // [C, C]
    private ClBuffer dg; // [C, C]
    private ClBuffer df; // [C, H, W]
    private double n;
    private double gflop;

    @Setup(Level.Trial)
    public void setUp() {
        int block = layer.charAt(4) - '0';
        int c = new int[] {0, 64, 128, 256, 512, 512}[block];
        int h = size >> (block - 1);
        int cols = h * h;
        n = (double) c * cols;
        ctx = BenchSupport.context();
        gram = new GramMatrix(ctx, TuningTable.load(ctx.device()));
        float[] fs = BenchSupport.uniform(1, c * cols, 0, 1);
        float[] dgs = BenchSupport.uniform(2, c * c, -1, 1);
        f = ctx.buffer(fs, c, h, h);
        g = ctx.buffer(c, c);
        dg = ctx.buffer(dgs, c, c);
        df = ctx.buffer(c, h, h);
        double[] fd = BenchSupport.toDouble(fs);
        if (pass.equals("forward")) {
            gram.forward(f, g, n);
            BenchSupport.check(layer + " Gram forward at " + size + " px", GramMatrixReference.forward(fd, c, cols, n),
                    g.read(), (1e-5 + 1e-6 * cols) * cols / n, 1e-4);
        } else {
            gram.backward(dg, f, df, n, false);
            BenchSupport.check(layer + " Gram backward at " + size + " px",
                    GramMatrixReference.backward(BenchSupport.toDouble(dgs), fd, c, cols, n), df.read(),
                    (1e-5 + 1e-6 * c) * c / n, 1e-4);
        }
        gflop = 2.0 * c * c * cols / 1e9;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
    }

    @Benchmark
    public void run(Flops work) {
        if (pass.equals("forward")) {
            gram.forward(f, g, n);
        } else {
            gram.backward(dg, f, df, n, false);
        }
        ctx.finish();
        work.gflop += gflop;
    }
}
