package org.clstyle.selftest;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.Pool2x2;
import org.clstyle.ops.Relu;
import org.clstyle.ops.TotalVariation;
import org.clstyle.ops.VectorOps;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.reference.ImageReference;
import org.clstyle.reference.PoolReference;
import org.clstyle.reference.ReluReference;
import org.clstyle.reference.TotalVariationReference;
import org.clstyle.reference.VectorReference;

/**
 * Every kernel variant of every op, GPU variants included whatever the device, against its plain-Java
 * reference on small awkward shapes (sizes 1, primes, odd planes, channel counts just past a tile).
 * One {@link Row} per op, variant and direction. Used by {@code clstyle selftest}, by the tests on
 * devices with lowered limits, and under Oclgrind (.ci/oclgrind.sh), where the shapes must stay tiny
 * (it runs kernels about 1000 times slower than PoCL).
 *
 * <p>Tolerances, per output element: |actual - expected| &le; atol + rtol |expected|. Float sums of K
 * products of values of magnitude &le; 1 round with an error growing with K: atol = 1e-5 + 1e-6 K,
 * rtol = 1e-4 for convolutions and Gram matrices; 1e-6 for elementwise kernels and pooling (one
 * rounding); 1e-5 relative for reductions. A wrong index, a missing barrier or a kernel that did not
 * run gives errors of order 0.1 to 1.
 */
public final class KernelSelftest {

    /** One kernel's result: worst absolute error, worst error as a fraction of its tolerance (pass &le; 1). */
    public record Row(String kernel, boolean passed, double worstAbsError, double worstToTolerance, double seconds,
                      String detail) {}

    private final ClContext ctx;
    private final SplittableRandom random;
    private final List<ClBuffer> open = new ArrayList<>();
    // Statistics of the row being run.
    private double worstAbs;
    private double worstRatio;
    private String worstWhat;

    public KernelSelftest(ClContext ctx, long seed) {
        this.ctx = ctx;
        this.random = new SplittableRandom(seed);
    }

    /** The rows' names, in the order {@link #run} runs them. */
    public static List<String> names() {
        List<String> out = new ArrayList<>();
        for (Check c : checks()) {
            out.add(c.name);
        }
        return out;
    }

    /** Runs every check whose name {@code filter} accepts; one row each. */
    public List<Row> run(Predicate<String> filter) {
        List<Row> rows = new ArrayList<>();
        for (Check c : checks()) {
            if (filter.test(c.name)) {
                rows.add(runOne(c));
            }
        }
        return rows;
    }

    private Row runOne(Check c) {
        worstAbs = 0;
        worstRatio = 0;
        worstWhat = "";
        long t0 = System.nanoTime();
        String failure = null;
        try {
            c.body.run(this);
            ctx.finish();
        } catch (RuntimeException e) {
            failure = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        } finally {
            for (ClBuffer b : open) {
                b.close();
            }
            open.clear();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean passed = failure == null && worstRatio <= 1;
        return new Row(c.name, passed, worstAbs, worstRatio, seconds, failure != null ? failure : worstWhat);
    }

    // ---- helpers -------------------------------------------------------------------------------

    private double[] uniform(int n, double lo, double hi) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = (float) (lo + (hi - lo) * random.nextDouble()); // representable in float
        }
        return d;
    }

    private ClBuffer buffer(double[] v, int... shape) {
        float[] f = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            f[i] = (float) v[i];
        }
        ClBuffer b = ctx.buffer(shape);
        open.add(b);
        b.write(f);
        return b;
    }

    private ClBuffer zeros(int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        return buffer(new double[n], shape);
    }

    /** Records how far {@code actual} is from {@code expected} (NaN or a length mismatch counts as infinitely far). */
    private void compare(String what, double[] expected, float[] actual, double atol, double rtol) {
        if (expected.length != actual.length) {
            note(what + ": " + actual.length + " elements, expected " + expected.length, Double.POSITIVE_INFINITY,
                    Double.POSITIVE_INFINITY);
            return;
        }
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            double ratio = err == 0 ? 0 : err / (atol + rtol * Math.abs(expected[i]));
            if (Double.isNaN(err)) {
                err = ratio = Double.POSITIVE_INFINITY;
            }
            if (ratio > worstRatio || (worstWhat.isEmpty() && i == 0)) {
                note(String.format("%s: element %d is %.7g, expected %.7g", what, i, actual[i], expected[i]),
                        err, ratio);
            }
        }
    }

    private void compare(String what, double expected, float actual, double atol, double rtol) {
        compare(what, new double[] {expected}, new float[] {actual}, atol, rtol);
    }

    private void note(String what, double err, double ratio) {
        worstAbs = Math.max(worstAbs, err);
        if (ratio >= worstRatio) {
            worstRatio = ratio;
            worstWhat = what;
        }
    }

    private static double[] add(double[] a, double[] b) {
        double[] out = a.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += b[i];
        }
        return out;
    }

    private static double convAtol(int k) {
        return 1e-5 + 1e-6 * k;
    }

    // ---- the checks ----------------------------------------------------------------------------

    private record Check(String name, CheckBody body) {}

    private interface CheckBody {
        void run(KernelSelftest t);
    }

    /** cin, cout, h, w: tiny, a channel count past one 64-wide tile, odd planes. */
    private static final int[][] CONV_SHAPES = {{3, 5, 7, 5}, {17, 67, 5, 9}, {66, 3, 3, 1}};
    /** c, h, w of the Gram checks. */
    private static final int[][] GRAM_SHAPES = {{5, 7, 5}, {67, 3, 11}};
    /** c, h, w of the pooling checks (odd sides drop a row or column). */
    private static final int[][] POOL_SHAPES = {{3, 7, 5}, {2, 2, 3}, {5, 6, 13}};
    /** Elementwise and reduction lengths: 1, a prime, and a prime over two stage-1 groups of 256 x 8 terms. */
    private static final int[] LENGTHS = {1, 7, 4099};
    /** c, h, w of the image and total-variation checks. */
    private static final int[][] IMAGE_SHAPES = {{3, 1, 1}, {3, 7, 5}, {2, 17, 13}};

    private static List<Check> checks() {
        List<Check> out = new ArrayList<>();
        for (Conv3x3.Variant v : Conv3x3.Variant.values()) {
            out.add(new Check("conv3x3 " + v + " forward", t -> t.convForward(v)));
            out.add(new Check("conv3x3 " + v + " backward input", t -> t.convBackwardInput(v)));
        }
        out.add(new Check("conv3x3 backward weights+bias", t -> t.convBackwardWeights()));
        for (GramMatrix.Variant v : GramMatrix.Variant.values()) {
            out.add(new Check("gram " + v + " forward", t -> t.gramForward(v, Map.of())));
            if (v == GramMatrix.Variant.GEMM) {
                out.add(new Check("gram GEMM split-K forward", t -> t.gramForward(v, Map.of("GRAM_CHUNKS", 3))));
            }
            out.add(new Check("gram " + v + " backward", t -> t.gramBackward(v)));
        }
        for (Pool2x2.Variant v : Pool2x2.Variant.values()) {
            out.add(new Check("pool " + v + " max forward+backward", t -> t.pool(v, true)));
            out.add(new Check("pool " + v + " avg forward+backward", t -> t.pool(v, false)));
            out.add(new Check("pool " + v + " masked backward", t -> t.poolMasked(v)));
        }
        for (Relu.Variant v : Relu.Variant.values()) {
            out.add(new Check("relu " + v + " forward+backward", t -> t.relu(v)));
        }
        out.add(new Check("loss mse/l1 forward+backward", KernelSelftest::distance));
        out.add(new Check("tv l2/l1 forward+backward", KernelSelftest::totalVariation));
        out.add(new Check("image affine/scale/clamp", KernelSelftest::image));
        out.add(new Check("optim dot/axpy/scale/fill/adam", KernelSelftest::vector));
        return out;
    }

    private void convForward(Conv3x3.Variant v) {
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), v);
        for (int[] s : CONV_SHAPES) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] x = uniform(cin * h * w, -1, 1), wt = uniform(cout * cin * 9, -1, 1), b = uniform(cout, -1, 1);
            ClBuffer wb = buffer(wt, cout, cin, 3, 3);
            for (boolean relu : new boolean[] {false, true}) {
                ClBuffer y = zeros(cout, h, w);
                conv.forward(buffer(x, cin, h, w), wb, buffer(b, cout), y, relu);
                compare("y " + cin + "->" + cout + " " + h + "x" + w + (relu ? " relu" : ""),
                        Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, relu), y.read(), convAtol(cin * 9), 1e-4);
            }
            conv.forget(wb);
        }
    }

    private void convBackwardInput(Conv3x3.Variant v) {
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), v);
        for (int[] s : CONV_SHAPES) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] dy = uniform(cout * h * w, -1, 1), wt = uniform(cout * cin * 9, -1, 1);
            double[] mask = uniform(cout * h * w, -1, 1);
            for (int i = 0; i < mask.length; i++) {
                mask[i] = Math.max(0, mask[i]); // a ReLU output: about half zeros
            }
            ClBuffer wb = buffer(wt, cout, cin, 3, 3);
            for (boolean masked : new boolean[] {false, true}) {
                ClBuffer dx = zeros(cin, h, w);
                conv.backwardInput(buffer(dy, cout, h, w), wb, masked ? buffer(mask, cout, h, w) : null, dx);
                compare("dx " + cin + "->" + cout + " " + h + "x" + w + (masked ? " masked" : ""),
                        Conv3x3Reference.backwardInput(dy, wt, masked ? mask : null, cin, cout, h, w), dx.read(),
                        convAtol(cout * 9), 1e-4);
            }
            conv.forget(wb);
        }
    }

    private void convBackwardWeights() {
        Conv3x3 conv = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.GEMM);
        for (int[] s : CONV_SHAPES) {
            int cin = s[0], cout = s[1], h = s[2], w = s[3];
            double[] x = uniform(cin * h * w, -1, 1), dy = uniform(cout * h * w, -1, 1);
            double[] mask = uniform(cout * h * w, -1, 1);
            for (int i = 0; i < mask.length; i++) {
                mask[i] = Math.max(0, mask[i]);
            }
            ClBuffer dw = zeros(cout, cin, 3, 3);
            ClBuffer db = zeros(cout);
            conv.backwardWeights(buffer(x, cin, h, w), buffer(dy, cout, h, w), buffer(mask, cout, h, w), dw, db);
            String shape = cin + "->" + cout + " " + h + "x" + w;
            compare("dW " + shape, Conv3x3Reference.backwardWeight(x, dy, mask, cin, cout, h, w), dw.read(),
                    convAtol(h * w), 1e-4);
            compare("db " + shape, Conv3x3Reference.backwardBias(dy, mask, cout, h, w), db.read(), convAtol(h * w), 1e-4);
        }
    }

    private void gramForward(GramMatrix.Variant v, Map<String, ?> defines) {
        GramMatrix gram = new GramMatrix(ctx, defines, v);
        for (int[] s : GRAM_SHAPES) {
            int c = s[0], cols = s[1] * s[2];
            double[] f = uniform(c * cols, -1, 1);
            double n = (double) c * cols;
            ClBuffer g = zeros(c, c);
            gram.forward(buffer(f, c, s[1], s[2]), g, n);
            compare("G " + c + "x" + cols, GramMatrixReference.forward(f, c, cols, n), g.read(), convAtol(cols) / n, 1e-4);
        }
    }

    private void gramBackward(GramMatrix.Variant v) {
        GramMatrix gram = new GramMatrix(ctx, Map.of(), v);
        for (int[] s : GRAM_SHAPES) {
            int c = s[0], cols = s[1] * s[2];
            double[] f = uniform(c * cols, -1, 1), dg = uniform(c * c, -1, 1), prior = uniform(c * cols, -1, 1);
            double n = (double) c * cols;
            double[] ref = GramMatrixReference.backward(dg, f, c, cols, n);
            for (boolean accumulate : new boolean[] {false, true}) {
                ClBuffer df = buffer(prior, c, s[1], s[2]);
                gram.backward(buffer(dg, c, c), buffer(f, c, s[1], s[2]), df, n, accumulate);
                compare("dF " + c + "x" + cols + (accumulate ? " accumulate" : ""), accumulate ? add(prior, ref) : ref,
                        df.read(), 1e-5 + 1e-6 * c, 1e-4);
            }
        }
    }

    private void pool(Pool2x2.Variant v, boolean max) {
        Pool2x2 pool = new Pool2x2(ctx, v, Map.of());
        for (int[] s : POOL_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            int ho = Math.max(1, h / 2), wo = Math.max(1, w / 2);
            if (h < 2 || w < 2) {
                continue; // pooling needs a 2 x 2 window
            }
            double[] x = uniform(c * h * w, -1, 1), dy = uniform(c * ho * wo, -1, 1);
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer y = zeros(c, ho, wo);
            ClBuffer dx = buffer(uniform(c * h * w, -1, 1), c, h, w); // overwritten
            String shape = c + "x" + h + "x" + w;
            if (max) {
                pool.maxForward(xb, y);
                pool.maxBackward(xb, buffer(dy, c, ho, wo), dx);
                compare("max y " + shape, PoolReference.maxForward(x, c, h, w), y.read(), 0, 0);
                compare("max dx " + shape, PoolReference.maxBackward(x, c, h, w, dy), dx.read(), 0, 0);
            } else {
                pool.avgForward(xb, y);
                pool.avgBackward(buffer(dy, c, ho, wo), dx);
                compare("avg y " + shape, PoolReference.avgForward(x, c, h, w), y.read(), 1e-6, 1e-6);
                compare("avg dx " + shape, PoolReference.avgBackward(dy, c, h, w), dx.read(), 1e-6, 1e-6);
            }
        }
    }

    private void poolMasked(Pool2x2.Variant v) {
        Pool2x2 pool = new Pool2x2(ctx, v, Map.of());
        for (int[] s : POOL_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            if (h < 2 || w < 2) {
                continue;
            }
            int ho = h / 2, wo = w / 2;
            double[] x = uniform(c * h * w, -1, 1);
            for (int i = 0; i < x.length; i++) {
                x[i] = Math.max(0, x[i]);
            }
            double[] dy = uniform(c * ho * wo, -1, 1);
            String shape = c + "x" + h + "x" + w;
            ClBuffer xm = buffer(x, c, h, w);
            pool.maxBackwardMaskedInPlace(xm, buffer(dy, c, ho, wo));
            compare("max masked dx " + shape, PoolReference.maxBackwardMasked(x, c, h, w, dy), xm.read(), 0, 0);
            ClBuffer xa = buffer(x, c, h, w);
            pool.avgBackwardMaskedInPlace(xa, buffer(dy, c, ho, wo));
            compare("avg masked dx " + shape, PoolReference.avgBackwardMasked(x, c, h, w, dy), xa.read(), 1e-6, 1e-6);
        }
    }

    private void relu(Relu.Variant v) {
        Relu relu = new Relu(ctx, v, Map.of());
        for (int n : LENGTHS) {
            double[] x = uniform(n, -1, 1), dy = uniform(n, -1, 1);
            ClBuffer y = zeros(n);
            relu.forward(buffer(x, n), y);
            double[] yRef = ReluReference.forward(x);
            compare("y n=" + n, yRef, y.read(), 0, 0);
            ClBuffer dx = zeros(n);
            relu.backward(buffer(yRef, n), buffer(dy, n), dx);
            compare("dx n=" + n, ReluReference.backward(yRef, dy), dx.read(), 0, 0);
        }
    }

    private void distance() {
        Distance d = new Distance(ctx);
        for (int n : LENGTHS) {
            double[] a = uniform(n, -1, 1), b = uniform(n, -1, 1), prior = uniform(n, -1, 1);
            ClBuffer ab = buffer(a, n), bb = buffer(b, n);
            ClBuffer out = zeros(3);
            d.forward(Distance.Kind.MSE, ab, bb, out, 1);
            d.forward(Distance.Kind.L1, ab, bb, out, 2);
            float[] got = out.read();
            compare("mse n=" + n, DistanceReference.mse(a, b), got[1], 1e-7, 1e-5);
            compare("l1 n=" + n, DistanceReference.l1(a, b), got[2], 1e-7, 1e-5);
            ClBuffer g = buffer(prior, n);
            d.backward(Distance.Kind.MSE, ab, bb, 0.5f, g, true);
            compare("mse grad n=" + n, add(prior, DistanceReference.mseBackward(a, b, 0.5)), g.read(), 1e-6, 1e-5);
            d.backward(Distance.Kind.L1, ab, bb, 0.5f, g, false);
            compare("l1 grad n=" + n, DistanceReference.l1Backward(a, b, 0.5), g.read(), 1e-6, 1e-5);
        }
    }

    private void totalVariation() {
        TotalVariation tv = new TotalVariation(ctx);
        for (int[] s : IMAGE_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            double[] x = uniform(c * h * w, 0, 1), prior = uniform(c * h * w, -1, 1);
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer out = zeros(2);
            tv.forward(TotalVariation.Kind.L2, xb, out, 0);
            tv.forward(TotalVariation.Kind.L1, xb, out, 1);
            float[] got = out.read();
            String shape = c + "x" + h + "x" + w;
            compare("tv l2 " + shape, TotalVariationReference.l2(x, c, h, w), got[0], 1e-6, 1e-5);
            compare("tv l1 " + shape, TotalVariationReference.l1(x, c, h, w), got[1], 1e-6, 1e-5);
            ClBuffer g = buffer(prior, c, h, w);
            tv.backward(TotalVariation.Kind.L2, xb, 2f, g, true);
            compare("tv l2 grad " + shape, add(prior, TotalVariationReference.l2Backward(x, c, h, w, 2)), g.read(),
                    1e-6, 1e-5);
            tv.backward(TotalVariation.Kind.L1, xb, 2f, g, false);
            compare("tv l1 grad " + shape, TotalVariationReference.l1Backward(x, c, h, w, 2), g.read(), 1e-6, 1e-5);
        }
    }

    private void image() {
        ImageOps ops = new ImageOps(ctx);
        for (int[] s : IMAGE_SHAPES) {
            int c = s[0], h = s[1], w = s[2];
            String shape = c + "x" + h + "x" + w;
            double[] x = uniform(c * h * w, -2, 2);
            int[] perm = new int[c];
            double[] mul = uniform(c, 0.5, 2), addv = uniform(c, -1, 1);
            float[] mulF = new float[c], addF = new float[c];
            for (int i = 0; i < c; i++) {
                perm[i] = c - 1 - i;
                mulF[i] = (float) mul[i];
                addF[i] = (float) addv[i];
            }
            ClBuffer xb = buffer(x, c, h, w);
            ClBuffer y = zeros(c, h, w);
            ops.channelAffine(xb, y, perm, mulF, addF);
            compare("affine " + shape, ImageReference.channelAffine(x, c, h, w, perm, mul, addv), y.read(), 1e-6, 1e-6);
            ClBuffer dx = zeros(c, h, w);
            ops.channelAffineBackward(xb, dx, perm, mulF);
            compare("affine backward " + shape, ImageReference.channelAffineBackward(x, c, h, w, perm, mul), dx.read(),
                    1e-6, 1e-6);
            ops.scale(xb, y, 0.25f);
            compare("scale " + shape, ImageReference.scale(x, 0.25), y.read(), 0, 0);
            ops.clamp(xb, -0.5f, 1f);
            compare("clamp " + shape, ImageReference.clamp(x, -0.5, 1), xb.read(), 0, 0);
        }
    }

    private void vector() {
        VectorOps ops = new VectorOps(ctx);
        for (int n : LENGTHS) {
            double[] a = uniform(n, -1, 1), b = uniform(n, -1, 1);
            ClBuffer ab = buffer(a, n), bb = buffer(b, n);
            ClBuffer out = zeros(4);
            ops.dot(ab, bb, out, 1);
            ops.sumAbs(ab, out, 3);
            float[] got = out.read();
            compare("dot n=" + n, VectorReference.dot(a, b), got[1], 1e-6, 1e-5);
            compare("sum|a| n=" + n, VectorReference.sumAbs(a), got[3], 1e-6, 1e-5);
            ClBuffer y = buffer(b, n);
            ops.axpy(0.75f, ab, y);
            double[] yRef = VectorReference.axpy(0.75, a, b);
            compare("axpy n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ClBuffer coef = buffer(new double[] {3, -0.5}, 2);
            ops.axpy(coef, 1, 2f, ab, y);
            yRef = VectorReference.axpy(-1.0, a, yRef);
            compare("axpy device coefficient n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ops.axpyDivided(coef, 0, 1f, 2f, ab, y);
            yRef = VectorReference.axpyDivided(3, 1, 2, a, yRef);
            compare("axpy divided n=" + n, yRef, y.read(), 1e-6, 1e-6);
            ops.scale(y, -2f);
            compare("scale n=" + n, VectorReference.scale(yRef, -2), y.read(), 1e-6, 1e-6);
            ops.copy(ab, y);
            compare("copy n=" + n, a, y.read(), 0, 0);
            ops.fill(y, 1.5f);
            double[] ones = new double[n];
            java.util.Arrays.fill(ones, 1.5);
            compare("fill n=" + n, ones, y.read(), 0, 0);
            double[] p = a.clone(), m = uniform(n, -0.1, 0.1), v = uniform(n, 0, 0.1);
            ClBuffer pb = buffer(p, n), mb = buffer(m, n), vb = buffer(v, n);
            ops.adam(pb, bb, mb, vb, 0.01f, 0.9f, 0.999f, 1e-8f, 3);
            VectorReference.adam(p, b, m, v, 0.01, 0.9, 0.999, 1e-8, 3);
            compare("adam p n=" + n, p, pb.read(), 1e-6, 1e-5);
            compare("adam m n=" + n, m, mb.read(), 1e-7, 1e-5);
            compare("adam v n=" + n, v, vb.read(), 1e-7, 1e-5);
        }
    }
}
