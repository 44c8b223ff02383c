package org.clstyle.ops;

import static org.clstyle.testing.Tensors.assertClose;
import static org.clstyle.testing.Tensors.toDouble;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.reference.PoolReference;
import org.clstyle.reference.ReluReference;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A small network chained from the ops, as the style loss uses them:
 * x -> conv(relu fused) -> pool -> conv -> relu (standalone) -> Gram -> MSE against a target,
 * forward and backward to x on the device, against the same chain of references. The reference
 * chain's gradient is itself checked by finite differences on a tiny shape.
 */
class ChainedOpsTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = new ClContext(ClDevice.select(null), false);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Everything the reference chain computes, kept for the backward. */
    private record Chain(int c0, int c1, int c2, int h, int w, boolean maxPool,
            double[] w1, double[] b1, double[] w2, double[] b2, double[] target) {

        int hp() { return h / 2; }
        int wp() { return w / 2; }
        int n2() { return c2 * hp() * wp(); }

        double loss(double[] x) {
            double[] a1 = Conv3x3Reference.forward(x, c0, h, w, w1, b1, c1, true);
            double[] p1 = maxPool ? PoolReference.maxForward(a1, c1, h, w) : PoolReference.avgForward(a1, c1, h, w);
            double[] z2 = Conv3x3Reference.forward(p1, c1, hp(), wp(), w2, b2, c2, false);
            double[] a2 = ReluReference.forward(z2);
            double[] g = GramMatrixReference.forward(a2, c2, hp() * wp(), n2());
            return DistanceReference.mse(g, target);
        }

        double[] gradient(double[] x) {
            double[] a1 = Conv3x3Reference.forward(x, c0, h, w, w1, b1, c1, true);
            double[] p1 = maxPool ? PoolReference.maxForward(a1, c1, h, w) : PoolReference.avgForward(a1, c1, h, w);
            double[] z2 = Conv3x3Reference.forward(p1, c1, hp(), wp(), w2, b2, c2, false);
            double[] a2 = ReluReference.forward(z2);
            double[] g = GramMatrixReference.forward(a2, c2, hp() * wp(), n2());
            double[] dg = DistanceReference.mseBackward(g, target, 1.0);
            double[] da2 = GramMatrixReference.backward(dg, a2, c2, hp() * wp(), n2());
            double[] dz2 = ReluReference.backward(a2, da2);
            double[] dp1 = Conv3x3Reference.backwardInput(dz2, w2, null, c1, c2, hp(), wp());
            double[] da1 = maxPool ? PoolReference.maxBackward(a1, c1, h, w, dp1) : PoolReference.avgBackward(dp1, c1, h, w);
            return Conv3x3Reference.backwardInput(da1, w1, a1, c0, c1, h, w);
        }
    }

    private static Chain chain(int c0, int c1, int c2, int h, int w, boolean maxPool, long seed) {
        double s1 = Math.sqrt(2.0 / (9 * c0)), s2 = Math.sqrt(2.0 / (9 * c1));
        return new Chain(c0, c1, c2, h, w, maxPool,
                toDouble(Tensors.normal(seed, c1 * c0 * 9, s1)), toDouble(Tensors.uniform(seed + 1, c1, -0.1, 0.1)),
                toDouble(Tensors.normal(seed + 2, c2 * c1 * 9, s2)), toDouble(Tensors.uniform(seed + 3, c2, -0.1, 0.1)),
                toDouble(Tensors.uniform(seed + 4, c2 * c2, 0, 0.05)));
    }

    @ParameterizedTest(name = "{0}->{1}->{2} channels, {3}x{4}, max pool {5}")
    @CsvSource({"3, 8, 5, 7, 5, true", "3, 67, 64, 13, 11, true", "3, 16, 67, 9, 16, false", "3, 5, 3, 2, 3, true"})
    void deviceChainMatchesReferenceChain(int c0, int c1, int c2, int h, int w, boolean maxPool) {
        Chain ref = chain(c0, c1, c2, h, w, maxPool, 42);
        float[] x = Tensors.uniform(7, c0 * h * w, 0, 1);
        double expectedLoss = ref.loss(toDouble(x));
        double[] expectedGrad = ref.gradient(toDouble(x));

        Conv3x3 conv = new Conv3x3(ctx);
        Pool2x2 pool = new Pool2x2(ctx);
        Relu relu = new Relu(ctx);
        GramMatrix gram = new GramMatrix(ctx);
        Distance distance = new Distance(ctx);
        int hp = h / 2, wp = w / 2;
        try (ClBuffer bx = ctx.buffer(x, c0, h, w);                       // [C0, H, W]
             ClBuffer w1 = ctx.buffer(toFloat(ref.w1()), c1, c0, 3, 3);
             ClBuffer b1 = ctx.buffer(toFloat(ref.b1()), c1);
             ClBuffer w2 = ctx.buffer(toFloat(ref.w2()), c2, c1, 3, 3);
             ClBuffer b2 = ctx.buffer(toFloat(ref.b2()), c2);
             ClBuffer a1 = ctx.buffer(c1, h, w);                          // [C1, H, W] relu(conv1)
             ClBuffer p1 = ctx.buffer(c1, hp, wp);                        // [C1, H/2, W/2]
             ClBuffer a2 = ctx.buffer(c2, hp, wp);                        // [C2, H/2, W/2] conv2 then relu in place
             ClBuffer g = ctx.buffer(c2, c2);                             // [C2, C2]
             ClBuffer target = ctx.buffer(toFloat(ref.target()), c2, c2);
             ClBuffer loss = ctx.buffer(1);
             ClBuffer dg = ctx.buffer(c2, c2);
             ClBuffer da2 = ctx.buffer(c2, hp, wp);
             ClBuffer dp1 = ctx.buffer(c1, hp, wp);
             ClBuffer da1 = ctx.buffer(c1, h, w);
             ClBuffer dx = ctx.buffer(c0, h, w)) {
            conv.forward(bx, w1, b1, a1, true);
            if (maxPool) pool.maxForward(a1, p1); else pool.avgForward(a1, p1);
            conv.forward(p1, w2, b2, a2, false);
            relu.forward(a2, a2);
            double n = (double) c2 * hp * wp;
            gram.forward(a2, g, n);
            distance.forward(Distance.Kind.MSE, g, target, loss, 0);

            distance.backward(Distance.Kind.MSE, g, target, 1f, dg, false);
            gram.backward(dg, a2, da2, n, false);
            relu.backward(a2, da2, da2);
            conv.backwardInput(da2, w2, null, dp1);
            if (maxPool) pool.maxBackward(a1, dp1, da1); else pool.avgBackward(dp1, da1);
            conv.backwardInput(da1, w1, a1, dx);

            // float32 through six ops against double: relative 2e-3 on the loss; the gradient's
            // absolute tolerance scales with its largest element.
            assertClose("loss", expectedLoss, loss.read(0), 1e-12, 2e-3);
            double maxAbs = 0;
            for (double v : expectedGrad) maxAbs = Math.max(maxAbs, Math.abs(v));
            assertClose("d loss / d x", toFloat(expectedGrad), dx.read(), 2e-3 * maxAbs + 1e-12, 2e-3);
        }
    }

    @org.junit.jupiter.api.Test
    void referenceChainGradientMatchesFiniteDifferences() {
        for (boolean maxPool : new boolean[] {true, false}) {
            Chain ref = chain(2, 3, 2, 4, 6, maxPool, 11);
            double[] x = toDouble(Tensors.uniform(3, 2 * 4 * 6, 0, 1));
            FiniteDifference.assertMatches("chain (max pool " + maxPool + ")", ref.gradient(x), ref::loss, x,
                    1e-6, 1e-9, 1e-4);
        }
    }

    private static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }
}
