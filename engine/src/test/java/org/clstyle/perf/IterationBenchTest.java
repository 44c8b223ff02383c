package org.clstyle.perf;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.reference.DistanceReference;
import org.clstyle.reference.GramMatrixReference;
import org.clstyle.reference.PoolReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The timed iteration computes the Gatys loss and its image gradient: compared with the same
 * iteration composed from the double references, at full VGG19 width on a 16 x 16 image (conv5_1 at 1 x 1).
 * Tolerances: the loss to rtol 1e-3; the gradient to atol 1e-3 * max|gradient| + rtol 1e-2, loose
 * because float forward passes may flip a ReLU or a max-pool choice on near-ties, which moves single
 * elements; a wrong stage order, a missing loss term or a wrong buffer moves everything.
 */
class IterationBenchTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = new ClContext(ClDevice.select(null), true);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @Test
    void lossAndImageGradientMatchTheReferenceIteration() {
        int size = 16;
        try (IterationBench bench = new IterationBench(ctx, size, 42)) {
            IterationBench.Result r = bench.run(0, 2);
            assertEquals(2, r.iterationSeconds().size());
            float[] gotGrad = bench.imageGrad.read();

            List<IterationBench.ConvLayer> layers = IterationBench.LAYERS;
            double[] x = Tensors.toDouble(bench.image.read());
            int n = layers.size();
            double[][] act = new double[n][];
            double[][] inputs = new double[n][];
            int[] hs = new int[n];
            double loss = 0;
            double[] styleLoss = new double[5];
            int h = size;
            for (int l = 0; l < n; l++) {
                IterationBench.ConvLayer c = layers.get(l);
                hs[l] = h;
                inputs[l] = x;
                act[l] = Conv3x3Reference.forward(x, c.cin(), h, h, Tensors.toDouble(bench.weight[l].read()),
                        Tensors.toDouble(bench.bias[l].read()), c.cout(), true);
                int s = IterationBench.STYLE_LAYERS.indexOf(c.relu());
                if (s >= 0) {
                    double[] g = GramMatrixReference.forward(act[l], c.cout(), h * h, act[l].length);
                    styleLoss[s] = DistanceReference.mse(g, Tensors.toDouble(bench.gramTarget.get(c.relu()).read()));
                    loss += styleLoss[s];
                }
                if (c.relu().equals(IterationBench.CONTENT_LAYER)) {
                    loss += DistanceReference.mse(act[l], Tensors.toDouble(bench.contentTarget.read()));
                }
                x = act[l];
                if (c.poolAfter()) {
                    x = PoolReference.maxForward(act[l], c.cout(), h, h);
                    h /= 2;
                }
            }
            Tensors.assertClose("total loss", loss, r.loss(), 0, 1e-3);
            assertTrue(styleLoss[0] > 0, "random targets give a non-zero style loss");

            double[] dAct = null; // gradient of act[l]
            double[] dImage = null;
            for (int l = n - 1; l >= 0; l--) {
                IterationBench.ConvLayer c = layers.get(l);
                int hl = hs[l];
                double[] g = dAct == null ? new double[act[l].length] : dAct;
                if (c.relu().equals(IterationBench.CONTENT_LAYER)) {
                    add(g, DistanceReference.mseBackward(act[l], Tensors.toDouble(bench.contentTarget.read()), 1));
                }
                if (IterationBench.STYLE_LAYERS.contains(c.relu())) {
                    double[] gram = GramMatrixReference.forward(act[l], c.cout(), hl * hl, act[l].length);
                    double[] dg = DistanceReference.mseBackward(gram,
                            Tensors.toDouble(bench.gramTarget.get(c.relu()).read()), 1);
                    add(g, GramMatrixReference.backward(dg, act[l], c.cout(), hl * hl, act[l].length));
                }
                double[] dx = Conv3x3Reference.backwardInput(g, Tensors.toDouble(bench.weight[l].read()), act[l],
                        c.cin(), c.cout(), hl, hl);
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
            for (double v : dImage) max = Math.max(max, Math.abs(v));
            assertTrue(max > 0, "the reference image gradient is not zero");
            float[] exp = new float[dImage.length];
            for (int i = 0; i < exp.length; i++) exp[i] = (float) dImage[i];
            Tensors.assertClose("image gradient", exp, gotGrad, 1e-3 * max, 1e-2);
        }
    }

    @Test
    void workCountsForwardAndBackwardConvolutions() {
        try (IterationBench bench = new IterationBench(ctx, 16, 1)) {
            double convGflop = 0;
            for (IterationBench.ConvLayer c : IterationBench.LAYERS) {
                int h = 16 / c.divisor();
                convGflop += 2 * 2.0 * c.cout() * c.cin() * 9 * h * h / 1e9;
            }
            double rows = bench.work().stream().filter(w -> w.name().startsWith("conv"))
                    .mapToDouble(IterationBench.Row::gflop).sum();
            assertEquals(convGflop, rows, 1e-12);
            assertEquals(13 + 5 + 1 + 4, bench.work().size(), "13 convs, 5 style, 1 content, 4 pools");
        }
    }

    @Test
    void pipelineIterationRunsLossFunctionWithFiniteLoss() {
        try (ClContext own = new ClContext(ClDevice.select(null), true)) {
            IterationBench.PipelineResult r = IterationBench.pipeline(own, 24, 0, 2, 3);
            assertEquals(2, r.iterationSeconds().size());
            assertTrue(Double.isFinite(r.loss()) && r.loss() > 0, "random targets give a positive loss, got " + r.loss());
            // The weights up to conv5_1 (about 61 MB at full width) are on the device; the peak must count them.
            long weightBytes = 0;
            for (IterationBench.ConvLayer c : IterationBench.LAYERS) {
                weightBytes += 4L * c.cout() * (c.cin() * 9 + 1);
            }
            assertTrue(r.peakBytes() > weightBytes, "peak " + r.peakBytes() + " below the weights' " + weightBytes);
        }
    }

    @Test
    void rejectsTooSmallImages() {
        assertThrows(IllegalArgumentException.class, () -> new IterationBench(ctx, 8, 1));
    }

    private static void add(double[] into, double[] v) {
        for (int i = 0; i < into.length; i++) into[i] += v[i];
    }
}
