package org.clstyle.bench;

import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Pool2x2;
import org.clstyle.reference.PoolReference;
import org.openjdk.jmh.annotations.*;
import org.clstyle.tune.TuningTable;

/**
 * Pool2x2 max and average, forward and backward, at VGG19's four pooling layers (inputs [64, S, S],
 * [128, S/2, S/2], [256, S/4, S/4], [512, S/8, S/8]). Memory-bound: reports GB/s counting each tensor
 * read or written once (forward x + y = 1.25 |x|; max backward x + dy + dx = 2.25 |x|; average
 * backward dy + dx = 1.25 |x|). Validated at the full shape in setup: max exactly, average to
 * atol 1e-7, rtol 1e-6 (as Pool2x2Test).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class PoolBenchmark {
    @Param({"pool1", "pool2", "pool3", "pool4"})
    public String layer;

    @Param({"256", "512"})
    public int size;

    @Param({"max", "avg"})
    public String kind;

    @Param({"forward", "backward"})
    public String pass;

    private ClContext ctx;
    private Pool2x2 pool;
    private ClBuffer x;  // [C, H, W]
    private ClBuffer y;  // [C, H/2, W/2]
    private ClBuffer dy; // [C, H/2, W/2]
    private ClBuffer dx; // [C, H, W]
    private double gbytes;

    @Setup(Level.Trial)
    public void setUp() {
        int block = layer.charAt(4) - '0';
        int c = new int[] {0, 64, 128, 256, 512}[block];
        int h = size >> (block - 1);
        ctx = BenchSupport.context();
        pool = new Pool2x2(ctx, TuningTable.load(ctx.device()));
        float[] xs = BenchSupport.uniform(1, c * h * h, -1, 1);
        float[] dys = BenchSupport.uniform(2, c * h * h / 4, -1, 1);
        x = ctx.buffer(xs, c, h, h);
        y = ctx.buffer(c, h / 2, h / 2);
        dy = ctx.buffer(dys, c, h / 2, h / 2);
        dx = ctx.buffer(c, h, h);
        double[] xd = BenchSupport.toDouble(xs), dyd = BenchSupport.toDouble(dys);
        String what = layer + " " + kind + " " + pass + " at " + size + " px";
        boolean max = kind.equals("max");
        if (pass.equals("forward")) {
            call();
            BenchSupport.check(what, max ? PoolReference.maxForward(xd, c, h, h) : PoolReference.avgForward(xd, c, h, h),
                    y.read(), max ? 0 : 1e-7, max ? 0 : 1e-6);
        } else {
            call();
            BenchSupport.check(what, max ? PoolReference.maxBackward(xd, c, h, h, dyd) : PoolReference.avgBackward(dyd, c, h, h),
                    dx.read(), max ? 0 : 1e-7, max ? 0 : 1e-6);
        }
        double e = (double) c * h * h * Float.BYTES;
        gbytes = (pass.equals("forward") ? 1.25 : max ? 2.25 : 1.25) * e / 1e9;
    }

    private void call() {
        boolean max = kind.equals("max");
        if (pass.equals("forward")) {
            if (max) pool.maxForward(x, y); else pool.avgForward(x, y);
        } else {
            if (max) pool.maxBackward(x, dy, dx); else pool.avgBackward(dy, dx);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
    }

    @Benchmark
    public void run(Bytes work) {
        call();
        ctx.finish();
        work.gbytes += gbytes;
    }
}
