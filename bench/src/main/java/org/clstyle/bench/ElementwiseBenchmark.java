package org.clstyle.bench;

import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Distance;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.Relu;
import org.clstyle.ops.TotalVariation;
import org.clstyle.ops.VectorOps;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.ImageReference;
import org.clstyle.reference.ReluReference;
import org.clstyle.reference.TotalVariationReference;
import org.clstyle.reference.VectorReference;
import org.openjdk.jmh.annotations.*;
import org.clstyle.tune.TuningTable;

/**
 * The memory-bound ops at the tensors the iteration gives them, as {@code op@tensor}: the loss
 * reductions and their backwards (content MSE at relu4_2, also at relu1_1, the largest activation;
 * L1 at relu4_2), ReLU at relu1_1, total variation and the image ops on the [3, S, S] image, and the
 * optimiser's vector ops (L-BFGS: dot, sumAbs, axpy, scale, copy, fill; Adam) on image-sized vectors.
 * GB/s counts each tensor read or written once. Each is validated at the full shape in setup
 * against its reference, with the tolerance its unit test uses.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
@State(Scope.Thread)
public class ElementwiseBenchmark {
    @Param({"mse@relu1_1", "mseBackward@relu1_1", "mse@relu4_2", "mseBackward@relu4_2", "l1@relu4_2",
            "l1Backward@relu4_2", "relu@relu1_1", "reluBackward@relu1_1", "tvL2@image", "tvL2Backward@image",
            "tvL1@image", "tvL1Backward@image", "channelAffine@image", "channelAffineBackward@image", "clamp@image",
            "dot@image", "sumAbs@image", "axpy@image", "axpyDevice@image", "scale@image", "copy@image", "fill@image",
            "adam@image"})
    public String op;

    @Param({"256", "512"})
    public int size;

    private static final int[] PERM = {2, 1, 0};
    private static final float[] MUL = {255f, 255f, 255f};
    private static final float[] ADD = {-103.939f, -116.779f, -123.68f};

    private ClContext ctx;
    private Distance distance;
    private Relu relu;
    private TotalVariation tv;
    private ImageOps image;
    private VectorOps vec;
    private String name;
    private ClBuffer a, b, c, d; // [C, H, W] each, per op (see setUp)
    private ClBuffer out;        // [4] reduction results
    private int step = 1;
    private double gbytes;

    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = op.split("@");
        name = parts[0];
        int[] shape = switch (parts[1]) {
            case "image" -> new int[] {3, size, size};
            case "relu1_1" -> new int[] {64, size, size};
            case "relu4_2" -> new int[] {512, size / 8, size / 8};
            default -> throw new IllegalArgumentException("unknown tensor " + parts[1]);
        };
        int n = shape[0] * shape[1] * shape[2];
        ctx = BenchSupport.context();
        distance = new Distance(ctx);
        relu = new Relu(ctx, TuningTable.load(ctx.device()));
        tv = new TotalVariation(ctx);
        image = new ImageOps(ctx);
        vec = new VectorOps(ctx);
        float[] as = BenchSupport.uniform(1, n, -1, 1), bs = BenchSupport.uniform(2, n, -1, 1);
        float[] cs = BenchSupport.uniform(3, n, -1, 1), ds = BenchSupport.uniform(4, n, 0, 1);
        a = ctx.buffer(as, shape);
        b = ctx.buffer(bs, shape);
        c = ctx.buffer(cs, shape);
        d = ctx.buffer(ds, shape);
        out = ctx.buffer(4);
        double[] ad = BenchSupport.toDouble(as), bd = BenchSupport.toDouble(bs);
        double[] dd = BenchSupport.toDouble(ds);
        int ch = shape[0], h = shape[1], w = shape[2];
        String what = op + " at " + size + " px";
        double e = (double) n * Float.BYTES / 1e9; // GB of one tensor
        switch (name) {
            case "mse" -> { call(); BenchSupport.check(what, DistanceReference.mse(ad, bd), out.read(0), 0, 1e-5); gbytes = 2 * e; }
            case "l1" -> { call(); BenchSupport.check(what, DistanceReference.l1(ad, bd), out.read(0), 0, 1e-5); gbytes = 2 * e; }
            case "mseBackward" -> { call(); BenchSupport.check(what, DistanceReference.mseBackward(ad, bd, 0.5), c.read(), 1e-9, 1e-5); gbytes = 3 * e; }
            case "l1Backward" -> { call(); BenchSupport.check(what, DistanceReference.l1Backward(ad, bd, 0.5), c.read(), 1e-9, 1e-5); gbytes = 3 * e; }
            case "relu" -> { call(); BenchSupport.check(what, ReluReference.forward(ad), b.read(), 0, 0); gbytes = 2 * e; }
            case "reluBackward" -> { call(); BenchSupport.check(what, ReluReference.backward(ad, bd), c.read(), 0, 0); gbytes = 3 * e; }
            case "tvL2" -> { call(); BenchSupport.check(what, TotalVariationReference.l2(ad, ch, h, w), out.read(0), 0, 1e-5); gbytes = e; }
            case "tvL1" -> { call(); BenchSupport.check(what, TotalVariationReference.l1(ad, ch, h, w), out.read(0), 0, 1e-5); gbytes = e; }
            case "tvL2Backward" -> { call(); BenchSupport.check(what, TotalVariationReference.l2Backward(ad, ch, h, w, 0.5), c.read(), 1e-6, 1e-5); gbytes = 2 * e; }
            case "tvL1Backward" -> { call(); BenchSupport.check(what, TotalVariationReference.l1Backward(ad, ch, h, w, 0.5), c.read(), 1e-6, 1e-5); gbytes = 2 * e; }
            case "channelAffine" -> {
                call();
                BenchSupport.check(what, ImageReference.channelAffine(dd, ch, h, w, PERM, toD(MUL), toD(ADD)), b.read(), 1e-4, 1e-6);
                gbytes = 2 * e;
            }
            case "channelAffineBackward" -> {
                call();
                BenchSupport.check(what, ImageReference.channelAffineBackward(ad, ch, h, w, PERM, toD(MUL)), b.read(), 1e-6, 1e-6);
                gbytes = 2 * e;
            }
            case "clamp" -> { call(); BenchSupport.check(what, ImageReference.clamp(ad, -0.5, 0.5), a.read(), 0, 0); gbytes = 2 * e; }
            case "dot" -> {
                call();
                double abs = 0;
                for (int i = 0; i < n; i++) abs += Math.abs(ad[i] * bd[i]);
                BenchSupport.check(what, VectorReference.dot(ad, bd), out.read(0), 2e-6 * abs, 0);
                gbytes = 2 * e;
            }
            case "sumAbs" -> { call(); BenchSupport.check(what, VectorReference.sumAbs(ad), out.read(0), 0, 1e-5); gbytes = e; }
            case "axpy" -> { call(); BenchSupport.check(what, VectorReference.axpy(1e-3, ad, bd), b.read(), 1e-6, 1e-6); gbytes = 3 * e; }
            case "axpyDevice" -> {
                out.write(new float[] {0, 0.25f, 0, 0});
                call();
                BenchSupport.check(what, VectorReference.axpy(0.25 * 1e-3, ad, bd), b.read(), 1e-6, 1e-6);
                gbytes = 3 * e;
            }
            case "scale" -> { call(); BenchSupport.check(what, VectorReference.scale(ad, 1.0), a.read(), 0, 0); gbytes = 2 * e; }
            case "copy" -> { call(); BenchSupport.check(what, ad, b.read(), 0, 0); gbytes = 2 * e; }
            case "fill" -> { call(); BenchSupport.check(what, new double[n], b.read(), 0, 0); gbytes = e; }
            case "adam" -> {
                // param a, grad b, m c (start 0), v d (start 0)
                c.write(new float[n]);
                d.write(new float[n]);
                double[] p = ad.clone(), m = new double[n], v = new double[n];
                call();
                VectorReference.adam(p, bd, m, v, 1e-3, 0.9, 0.999, 1e-8, 1);
                BenchSupport.check(what + " param", p, a.read(), 1e-6, 1e-5);
                BenchSupport.check(what + " m", m, c.read(), 1e-6, 1e-5);
                BenchSupport.check(what + " v", v, d.read(), 1e-6, 1e-5);
                gbytes = 7 * e;
            }
            default -> throw new IllegalArgumentException("unknown op " + name);
        }
    }

    /** One call of the op; in-place ops (clamp, scale, axpy, adam) keep their values bounded when repeated. */
    private void call() {
        switch (name) {
            case "mse" -> distance.forward(Distance.Kind.MSE, a, b, out, 0);
            case "l1" -> distance.forward(Distance.Kind.L1, a, b, out, 0);
            case "mseBackward" -> distance.backward(Distance.Kind.MSE, a, b, 0.5f, c, false);
            case "l1Backward" -> distance.backward(Distance.Kind.L1, a, b, 0.5f, c, false);
            case "relu" -> relu.forward(a, b);
            case "reluBackward" -> relu.backward(a, b, c);
            case "tvL2" -> tv.forward(TotalVariation.Kind.L2, a, out, 0);
            case "tvL1" -> tv.forward(TotalVariation.Kind.L1, a, out, 0);
            case "tvL2Backward" -> tv.backward(TotalVariation.Kind.L2, a, 0.5f, c, false);
            case "tvL1Backward" -> tv.backward(TotalVariation.Kind.L1, a, 0.5f, c, false);
            case "channelAffine" -> image.channelAffine(d, b, PERM, MUL, ADD);
            case "channelAffineBackward" -> image.channelAffineBackward(a, b, PERM, MUL);
            case "clamp" -> image.clamp(a, -0.5f, 0.5f);
            case "dot" -> vec.dot(a, b, out, 0);
            case "sumAbs" -> vec.sumAbs(a, out, 0);
            case "axpy" -> vec.axpy(1e-3f, a, b);
            case "axpyDevice" -> vec.axpy(out, 1, 1e-3f, a, b);
            case "scale" -> vec.scale(a, 1.0f); // 1: repeated calls keep the values (the kernel cannot know)
            case "copy" -> vec.copy(a, b);
            case "fill" -> vec.fill(b, 0f);
            case "adam" -> vec.adam(a, b, c, d, 1e-3f, 0.9f, 0.999f, 1e-8f, step++);
            default -> throw new IllegalArgumentException("unknown op " + name);
        }
    }

    private static double[] toD(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
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
