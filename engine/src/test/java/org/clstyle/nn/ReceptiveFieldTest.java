package org.clstyle.nn;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.ops.OpSettings;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.vgg.Pooling;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.Test;

/**
 * {@link ReceptiveField}: the closed-form values for VGG16 and VGG19, and a brute-force check on the
 * device that exactly the input columns it names change an output column (positive weights, zero
 * biases and average pooling, so every dependency is strict and none is hidden by a ReLU or a max).
 */
class ReceptiveFieldTest {
    private static VggWeights positive(VggArchitecture a, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        int cin = 3;
        for (String conv : a.convLayers()) {
            int cout = 2 + rnd.nextInt(2);
            float[] wv = new float[cout * cin * 9];
            for (int i = 0; i < wv.length; i++) {
                wv[i] = (float) (0.05 + rnd.nextDouble() / (9 * cin));
            }
            w.put(conv, wv);
            b.put(conv, new float[cout]);
            cin = cout;
        }
        return VggWeights.of(a, w, b, Preprocessing.CAFFE);
    }

    @Test
    void vggValues() {
        Network n19 = Vgg.network(positive(VggArchitecture.VGG19, 1), Pooling.MAX);
        Map<String, int[]> want19 = Map.of("conv1_1", new int[] {1, 1}, "relu1_2", new int[] {2, 1}, "pool1", new int[] {2, 2},
                "relu2_1", new int[] {4, 2}, "relu3_1", new int[] {10, 4}, "relu4_1", new int[] {30, 8},
                "relu4_2", new int[] {38, 8}, "relu5_1", new int[] {70, 16}, "pool5", new int[] {118, 32});
        for (Map.Entry<String, int[]> e : want19.entrySet()) {
            ReceptiveField rf = ReceptiveField.of(n19, e.getKey());
            assertEquals(new ReceptiveField(e.getValue()[0], e.getValue()[0], e.getValue()[1]), rf, e.getKey());
        }
        Network n16 = Vgg.network(positive(VggArchitecture.VGG16, 1), Pooling.AVG);
        assertEquals(new ReceptiveField(26, 26, 8), ReceptiveField.of(n16, "relu4_1"));
        assertEquals(new ReceptiveField(58, 58, 16), ReceptiveField.of(n16, "relu5_1"));
        assertEquals(70, ReceptiveField.of(n19, "relu5_1").radius());
        assertThrows(IllegalArgumentException.class, () -> ReceptiveField.of(n16, "relu5_4"));
    }

    @Test
    void generalConvolutionsAndUnsupportedKinds() {
        // 5x5 stride 2 padding 1: before += 1, after += 5 - 1 - 2 = 2, stride 2; then 3x3 pad 0: before += 0, after += 2*2.
        Network n = new Network("t", 1, List.of(
                new Node("a", new Layer.Conv2d(1, 1, 5, 2, 1), List.of(Network.INPUT)),
                new Node("b", new Layer.Conv2d(1, 1, 3, 1, 0), List.of("a")),
                new Node("c", new Layer.UniformNoise(1), List.of("b"))));
        assertEquals(new ReceptiveField(1, 2, 2), ReceptiveField.of(n, "a"));
        assertEquals(new ReceptiveField(1, 6, 2), ReceptiveField.of(n, "b"));
        assertThrows(IllegalArgumentException.class, () -> ReceptiveField.of(n, "c"));
    }

    /** Input columns whose change changes column q of {@code node}'s output, by perturbing each column in turn. */
    @Test
    void exactlyTheNamedColumnsReachAnOutput() {
        VggWeights weights = positive(VggArchitecture.VGG19, 3);
        Network net = Vgg.network(weights, Pooling.AVG);
        try (ClContext ctx = ClContext.createDefault(); DeviceNetwork dn = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE)) {
            for (String node : List.of("relu1_2", "relu2_1", "relu3_1", "pool3", "relu4_1")) {
                ReceptiveField rf = ReceptiveField.of(net, node);
                int j = rf.stride(), h = j, w = 2 * rf.radius() + 5 * j + 3;
                float[] x = new float[3 * h * w];
                java.util.Arrays.fill(x, 0.5f);
                try (ClBuffer in = ctx.buffer(x, 3, h, w)) {
                    dn.forward(in, List.of(node));
                    float[] base = dn.activation(node).read();
                    int[] s = dn.activation(node).shape();
                    for (int q : new int[] {0, s[2] / 2}) {
                        int lo = -1, hi = -1;
                        for (int col = 0; col < w; col++) {
                            float[] xp = x.clone();
                            for (int c = 0; c < 3; c++) {
                                for (int y = 0; y < h; y++) {
                                    xp[(c * h + y) * w + col] += 1f;
                                }
                            }
                            in.write(xp);
                            dn.forward(in, List.of(node));
                            float[] out = dn.activation(node).read();
                            boolean changed = false;
                            for (int c = 0; c < s[0]; c++) {
                                for (int y = 0; y < s[1]; y++) {
                                    int i = (c * s[1] + y) * s[2] + q;
                                    changed |= Math.abs(out[i] - base[i]) > 1e-6 * Math.abs(base[i]);
                                }
                            }
                            if (changed) {
                                lo = lo < 0 ? col : lo;
                                hi = col;
                            }
                        }
                        int wantLo = Math.max(0, q * j - rf.before()), wantHi = Math.min(w - 1, q * j + j - 1 + rf.after());
                        assertEquals(wantLo + ".." + wantHi, lo + ".." + hi, node + " column " + q);
                    }
                }
            }
        }
    }
}
