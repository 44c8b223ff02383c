package org.clstyle.perf;

import java.util.List;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.reference.PoolReference;

/**
 * One Gatys iteration on the device ({@link IterationBench}: VGG19 to relu5_1 at full width with random
 * weights, Gram MSE at relu1_1..relu5_1, content MSE at relu4_2) against the same iteration composed
 * from the plain-Java references in double: the loss and d loss / d image. Used by {@code clstyle
 * selftest}; the tolerances are IterationBenchTest's: the loss to rtol 1e-3, the gradient to
 * atol 1e-3 max|gradient| + rtol 1e-2 (float forward passes may flip a ReLU or a max-pool choice on a
 * near-tie, which moves single elements; a wrong or missing stage moves everything).
 */
public final class IterationCheck {
    private IterationCheck() {}

    /**
     * The comparison: expected and device loss, the worst gradient error as a fraction of its
     * tolerance, the worst absolute gradient error and the largest reference gradient element.
     */
    public record Result(double expectedLoss, double loss, double gradientToTolerance, double gradientWorstAbs,
                         double gradientMax) {
        public double lossToTolerance() {
            return Math.abs(loss - expectedLoss) / (1e-3 * Math.abs(expectedLoss));
        }

        public boolean passed() {
            return lossToTolerance() <= 1 && gradientToTolerance <= 1 && gradientMax > 0;
        }
    }

    /** Runs one iteration of {@code size} x {@code size} (at least 16) with weights from {@code seed}. */
    public static Result run(ClContext ctx, int size, long seed) {
        try (IterationBench bench = new IterationBench(ctx, size, seed)) {
            double gotLoss = bench.run(0, 1).loss();
            float[] gotGrad = bench.imageGrad.read();
            List<IterationBench.ConvLayer> layers = IterationBench.LAYERS;
            double[] x = toDouble(bench.image.read());
            int n = layers.size();
            double[][] act = new double[n][];
            double[][] weights = new double[n][];
            int[] hs = new int[n];
            double loss = 0;
            int h = size;
            for (int l = 0; l < n; l++) {
                IterationBench.ConvLayer c = layers.get(l);
                hs[l] = h;
                weights[l] = toDouble(bench.weight[l].read());
                act[l] = Conv3x3Reference.forward(x, c.cin(), h, h, weights[l], toDouble(bench.bias[l].read()),
                        c.cout(), true);
                if (IterationBench.STYLE_LAYERS.contains(c.relu())) {
                    double[] g = GramMatrixReference.forward(act[l], c.cout(), h * h, act[l].length);
                    loss += DistanceReference.mse(g, toDouble(bench.gramTarget.get(c.relu()).read()));
                }
                if (c.relu().equals(IterationBench.CONTENT_LAYER)) {
                    loss += DistanceReference.mse(act[l], toDouble(bench.contentTarget.read()));
                }
                x = act[l];
                if (c.poolAfter()) {
                    x = PoolReference.maxForward(act[l], c.cout(), h, h);
                    h /= 2;
                }
            }
            double[] dAct = null;
            double[] dImage = null;
            for (int l = n - 1; l >= 0; l--) {
                IterationBench.ConvLayer c = layers.get(l);
                int hl = hs[l];
                double[] g = dAct == null ? new double[act[l].length] : dAct;
                if (c.relu().equals(IterationBench.CONTENT_LAYER)) {
                    add(g, DistanceReference.mseBackward(act[l], toDouble(bench.contentTarget.read()), 1));
                }
                if (IterationBench.STYLE_LAYERS.contains(c.relu())) {
                    double[] gram = GramMatrixReference.forward(act[l], c.cout(), hl * hl, act[l].length);
                    double[] dg = DistanceReference.mseBackward(gram, toDouble(bench.gramTarget.get(c.relu()).read()), 1);
                    add(g, GramMatrixReference.backward(dg, act[l], c.cout(), hl * hl, act[l].length));
                }
                double[] dx = Conv3x3Reference.backwardInput(g, weights[l], act[l], c.cin(), c.cout(), hl, hl);
                if (l == 0) {
                    dImage = dx;
                } else if (layers.get(l - 1).poolAfter()) {
                    IterationBench.ConvLayer p = layers.get(l - 1);
                    dAct = PoolReference.maxBackward(act[l - 1], p.cout(), hs[l - 1], hs[l - 1], dx);
                } else {
                    dAct = dx;
                }
            }
            double max = 0;
            for (double v : dImage) {
                max = Math.max(max, Math.abs(v));
            }
            double worstRatio = 0, worstAbs = 0;
            for (int i = 0; i < dImage.length; i++) {
                double err = Math.abs(gotGrad[i] - dImage[i]);
                double ratio = err / (1e-3 * max + 1e-2 * Math.abs(dImage[i]));
                if (Double.isNaN(err) || (max == 0 && err > 0)) {
                    ratio = Double.POSITIVE_INFINITY;
                }
                worstRatio = Math.max(worstRatio, err == 0 ? 0 : ratio);
                worstAbs = Math.max(worstAbs, Double.isNaN(err) ? Double.POSITIVE_INFINITY : err);
            }
            return new Result(loss, gotLoss, worstRatio, worstAbs, max);
        }
    }

    private static void add(double[] a, double[] b) {
        for (int i = 0; i < a.length; i++) {
            a[i] += b[i];
        }
    }

    private static double[] toDouble(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }
}
