package org.clstyle.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Conv2dReference;
import org.clstyle.reference.GeneratorReference;
import org.clstyle.reference.NoiseReference;
import org.clstyle.reference.PoolReference;
import org.clstyle.reference.ReluReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link DeviceGraph} against {@link GeneratorReference} (double precision) on whole reduced-width
 * generators and on small DAGs, batch 2, awkward sizes: the forward output, every parameter gradient
 * and the input gradient of L = sum(y * r) for a random r.
 *
 * <p>Tolerances: the criteria of the PyTorch generator goldens ({@link GeneratorOpsTest}): max|error| /
 * max|reference| for the output and the input gradient, max over parameters of max|error| / (the largest
 * parameter gradient of the network) for the parameter gradients, each at most {@value #FLOOR}. On the
 * goldens PyTorch's own float32 run of such generators is 2.5e-6 .. 1.4e-4 off by these metrics, so
 * GeneratorOpsTest's bound (4x that, or 2e-3) is the 2e-3 floor everywhere: float32 through 20-70 layers
 * with normalisations, where a pre-activation within rounding of a ReLU kink may take the other branch.
 * A wrong layer, mode, wiring or a lost gradient contribution gives errors of order 1e-1 and more.
 */
class DeviceGraphTest {
    static final double FLOOR = 2e-3;

    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Random parameters: He-uniform conv weights, small biases, norm scales near 1. */
    static Map<String, float[]> randomParameters(Network net, long seed) {
        Random rnd = new Random(seed);
        Map<String, float[]> p = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : net.parameterShapes().entrySet()) {
            int[] s = e.getValue();
            int size = 1;
            for (int d : s) size *= d;
            float[] v = new float[size];
            boolean conv = s.length == 4;
            boolean weight = e.getKey().endsWith(".weight");
            double bound = conv ? Math.sqrt(6.0 / (s[1] * s[2] * s[3])) : weight ? 0.2 : 0.1;
            for (int i = 0; i < size; i++) {
                v[i] = (float) ((!conv && weight ? 1 : 0) + bound * (2 * rnd.nextDouble() - 1));
            }
            p.put(e.getKey(), v);
        }
        return p;
    }

    static float[] random(Random rnd, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rnd.nextDouble());
        return v;
    }

    static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** max|got - ref| / (scale, or max|ref| when scale is 0). */
    static double relError(double[] ref, float[] got, double scale) {
        assertEquals(ref.length, got.length, "length");
        double max = scale;
        if (max == 0) {
            for (double r : ref) max = Math.max(max, Math.abs(r));
        }
        double err = 0;
        for (int i = 0; i < got.length; i++) {
            err = Math.max(err, Math.abs(got[i] - ref[i]));
            if (!Float.isFinite(got[i])) return Double.POSITIVE_INFINITY;
        }
        return max == 0 ? err : err / max;
    }

    /** The errors of one forward/backward of DeviceGraph against GeneratorReference. */
    record Errors(double y, double params, double input) {}

    /**
     * One step on both sides: noise from the seed on the device, the same bits (NoiseReference, counters
     * in forward order) for the reference. {@code wantInput}: ask for the input gradient.
     */
    static Errors compare(Network net, int n, int h, int w, long seed, boolean wantInput) {
        Random rnd = new Random(seed);
        Map<String, float[]> params = randomParameters(net, seed + 1);
        float[] x = random(rnd, n * net.inputChannels() * h * w, 0, 1);
        Map<String, double[]> dparams = new HashMap<>();
        params.forEach((k, v) -> dparams.put(k, toDouble(v)));
        long noiseSeed = seed + 2;
        Map<String, double[]> noise = new HashMap<>();
        int offset = 0;
        Map<String, int[]> shapes = net.shapes(h, w, null);
        for (Node node : net.nodes()) {
            if (node.layer() instanceof Layer.UniformNoise) {
                int[] s = shapes.get(node.name());
                int size = n * s[0] * s[1] * s[2];
                noise.put(node.name(), toDouble(NoiseReference.uniform(noiseSeed, offset, size, 0f, 1f)));
                offset += size;
            }
        }
        GeneratorReference ref = new GeneratorReference(net, dparams, noise::get);
        Map<String, double[]> outs = ref.forward(toDouble(x), n, h, w);
        double[] yRef = outs.get(net.nodes().get(net.nodes().size() - 1).name());
        float[] r = random(rnd, yRef.length, -1, 1);
        try (DeviceGraph graph = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, n, net.inputChannels(), h, w);
                ClBuffer dx = ctx.buffer(n, net.inputChannels(), h, w)) {
            ClBuffer y = graph.forward(xb, noiseSeed);
            double yErr = relError(yRef, y.read(), 0);
            int aligned = alignKinks(graph, net, outs);
            GeneratorReference.Gradients g = ref.backward(toDouble(r));
            try (ClBuffer rb = ctx.buffer(r, y.shape())) {
                graph.backward(rb, wantInput ? dx : null);
            }
            double largest = 0;
            for (double[] v : g.parameters().values()) for (double d : v) largest = Math.max(largest, Math.abs(d));
            double pErr = 0;
            String worst = null;
            for (Map.Entry<String, double[]> e : g.parameters().entrySet()) {
                double err = relError(e.getValue(), graph.gradients().get(e.getKey()).read(), largest);
                if (err > pErr) {
                    pErr = err;
                    worst = e.getKey();
                }
            }
            double xErr = wantInput ? relError(g.input(), dx.read(), 0) : 0;
            checkRunningStats(graph, net, outs, toDouble(x), n);
            System.out.printf("DeviceGraphTest %s %dx%dx%d: y %.3g, parameter gradients %.3g (worst %s), input gradient %.3g;"
                    + " %d kink elements aligned%n", net.name(), n, h, w, yErr, pErr, worst, xErr, aligned);
            return new Errors(yErr, pErr, xErr);
        }
    }

    /**
     * Gives the reference the device's side of every ReLU / LeakyReLU kink: where float32 and float64
     * put a pre-activation within rounding of 0 on different sides, the derivative differs by the whole
     * upstream gradient (seen here: 3.3e-7 in float64, 0 in float32, moving a width-2 pyramid's parameter
     * gradients by 1e-2 of their max), which says nothing about the executor. Each disagreeing element
     * must lie within {@value #KINK} of 0 relative to its node's largest value (the device's forward
     * errors are below 1e-5 of that), so a wrong mask cannot hide here; the reference's stored value (the
     * one its backward reads for the mask) is set to the device's. Returns how many were aligned.
     */
    static int alignKinks(DeviceGraph graph, Network net, Map<String, double[]> outs) {
        int aligned = 0;
        for (Node node : net.nodes()) {
            boolean relu = node.layer() instanceof Layer.Relu;
            if (!relu && !(node.layer() instanceof Layer.LeakyRelu)) continue;
            float[] dev = graph.keptOutput(node.name()).read();
            // The reference's Relu backward masks with its output, LeakyRelu's with its input.
            double[] ref = outs.get(relu ? node.name() : node.input());
            double scale = 0;
            for (double v : ref) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < dev.length; i++) {
                if ((dev[i] > 0) != (ref[i] > 0)) {
                    assertTrue(Math.abs(ref[i]) <= KINK * scale, node.name() + "[" + i + "]: device " + dev[i]
                            + ", reference " + ref[i] + " on the other side of the kink, beyond rounding");
                    ref[i] = dev[i] > 0 ? Math.max(dev[i], Double.MIN_VALUE) : relu ? 0 : -Double.MIN_VALUE;
                    aligned++;
                }
            }
        }
        return aligned;
    }

    static final double KINK = 1e-4;

    /** After one training forward from mean 0 / var 1: running = 0.1 batch mean, 0.9 + 0.1 unbiased var. */
    private static void checkRunningStats(DeviceGraph graph, Network net, Map<String, double[]> outs, double[] x, int n) {
        for (Node node : net.nodes()) {
            if (!(node.layer() instanceof Layer.BatchNorm b)) continue;
            double[] in = node.input().equals(Network.INPUT) ? x : outs.get(node.input());
            int c = b.channels(), plane = in.length / (n * c);
            float[] mean = graph.state().get(node.parameter("running_mean")).read();
            float[] var = graph.state().get(node.parameter("running_var")).read();
            for (int ch = 0; ch < c; ch++) {
                double s = 0, s2 = 0;
                for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) s += in[(i * c + ch) * plane + p];
                double m = s / (n * plane);
                for (int i = 0; i < n; i++) for (int p = 0; p < plane; p++) {
                    double d = in[(i * c + ch) * plane + p] - m;
                    s2 += d * d;
                }
                double unbiased = s2 / (n * plane - 1);
                assertEquals(0.1 * m, mean[ch], 1e-4 * (1 + Math.abs(m)), node.name() + " running_mean[" + ch + "]");
                assertEquals(0.9 + 0.1 * unbiased, var[ch], 1e-4 * (1 + unbiased), node.name() + " running_var[" + ch + "]");
            }
        }
    }

    static void assertWithin(Errors e, String what) {
        assertTrue(e.y() <= FLOOR, what + ": output error " + e.y());
        assertTrue(e.params() <= FLOOR, what + ": parameter-gradient error " + e.params());
        assertTrue(e.input() <= FLOOR, what + ": input-gradient error " + e.input());
    }

    /** The pyramid at width 2, batch 2, 64x96 (coarsest scale 2x3): the authors' defaults, the paper's options, texture. */
    @ParameterizedTest
    @ValueSource(strings = {"current", "paper", "texture"})
    void pyramidMatchesReference(String mode) {
        Generators.PyramidOptions o = switch (mode) {
            case "current" -> Generators.PyramidOptions.current(true);
            case "paper" -> Generators.PyramidOptions.paper(true);
            default -> Generators.PyramidOptions.current(false);
        };
        Network net = Generators.pyramid(o, 2);
        assertWithin(compare(net, 2, 64, 96, 11, !mode.equals("texture")), "pyramid " + mode);
    }

    /** Johnson's network at base width 2, batch 2, 22x26 (odd sizes after the stride-2 convolutions). */
    @Test
    void johnsonMatchesReference() {
        assertWithin(compare(Generators.johnson(2), 2, 22, 26, 12, true), "johnson");
    }

    /** Without the input gradient the parameter gradients are the same (the input path is skipped). */
    @Test
    void pyramidWithoutInputGradient() {
        assertWithin(compare(Generators.pyramid(Generators.PyramidOptions.paper(true), 2), 2, 32, 64, 13, false),
                "pyramid paper, no input gradient");
    }

    /**
     * A DAG whose nodes are read several times (r three times, a and s twice, the input by a conv and a
     * concat), with a stride-2 conv, upsampling, LeakyReLU, tanh: gradients must be summed over readers.
     */
    static Network dag() {
        List<Node> nodes = new ArrayList<>();
        nodes.add(new Node("a", new Layer.Conv2d(3, 4, 3, 1, 1), List.of(Network.INPUT)));
        nodes.add(new Node("r", new Layer.Relu(), List.of("a")));
        nodes.add(new Node("b", new Layer.Conv2d(4, 4, 1, 1, 0), List.of("r")));
        nodes.add(new Node("s", new Layer.Add(), List.of("r", "b")));
        nodes.add(new Node("c", new Layer.Concat(), List.of("s", "a", "r", Network.INPUT)));
        nodes.add(new Node("t", new Layer.Conv2d(15, 4, 3, 2, 1), List.of("c")));
        nodes.add(new Node("u", new Layer.Upsample(2), List.of("t")));
        nodes.add(new Node("k", new Layer.LeakyRelu(0.2f), List.of("u")));
        nodes.add(new Node("n", new Layer.InstanceNorm(4), List.of("k")));
        nodes.add(new Node("d", new Layer.Add(), List.of("n", "n")));
        nodes.add(new Node("q", new Layer.Pool2d(Layer.PoolKind.AVG, 3), List.of("d")));
        nodes.add(new Node("o", new Layer.Tanh(2f), List.of("q")));
        return new Network("dag", 3, nodes);
    }

    @Test
    void dagWithSharedNodesMatchesReference() {
        assertWithin(compare(dag(), 2, 7, 9, 14, true), "dag");
    }

    /** conv -> 2x2 max pool -> relu on a batch, against the reference ops image by image. */
    @Test
    void maxPoolMatchesReference() {
        Network net = new Network("maxpool", 3, List.of(
                new Node("a", new Layer.Conv2d(3, 5, 3, 1, 1), List.of(Network.INPUT)),
                new Node("p", new Layer.Pool2d(Layer.PoolKind.MAX, 2), List.of("a")),
                new Node("r", new Layer.Relu(), List.of("p"))));
        int n = 2, h = 9, w = 7, c = 5;
        Random rnd = new Random(15);
        Map<String, float[]> params = randomParameters(net, 16);
        float[] x = random(rnd, n * 3 * h * w, -1, 1);
        Conv2dReference.Geometry geo = new Conv2dReference.Geometry(n, 3, h, w, c, 3, 1, 1);
        double[] a = Conv2dReference.forward(geo, toDouble(x), toDouble(params.get("a.weight")), toDouble(params.get("a.bias")));
        double[] p = PoolReference.maxForward(a, n * c, h, w);
        double[] y = ReluReference.forward(p);
        float[] r = random(rnd, y.length, -1, 1);
        double[] dp = ReluReference.backward(y, toDouble(r));
        double[] da = PoolReference.maxBackward(a, n * c, h, w, dp);
        double[] dw = Conv2dReference.backwardWeight(geo, toDouble(x), da);
        double[] dx = Conv2dReference.backwardInput(geo, da, toDouble(params.get("a.weight")));
        try (DeviceGraph graph = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, n, 3, h, w);
                ClBuffer dxb = ctx.buffer(n, 3, h, w)) {
            ClBuffer yb = graph.forward(xb, 0);
            assertTrue(relError(y, yb.read(), 0) <= 1e-5, "max pool forward");
            try (ClBuffer rb = ctx.buffer(r, yb.shape())) {
                graph.backward(rb, dxb);
            }
            assertTrue(relError(dw, graph.gradients().get("a.weight").read(), 0) <= 1e-5, "max pool weight gradient");
            assertTrue(relError(dx, dxb.read(), 0) <= 1e-5, "max pool input gradient");
        }
    }

    /**
     * Repeated forward/backward at one shape allocates nothing after the first, with and without the
     * input gradient, and gives the same bits every time (buffers shared by lifetime do not clobber).
     */
    @Test
    void repeatedStepsAllocateNothingAndRepeat() {
        Network net = Generators.pyramid(Generators.PyramidOptions.paper(true), 2);
        int n = 2, h = 64, w = 32;
        Random rnd = new Random(17);
        Map<String, float[]> params = randomParameters(net, 18);
        float[] x = random(rnd, n * 3 * h * w, 0, 1);
        try (DeviceGraph graph = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, n, 3, h, w);
                ClBuffer dx = ctx.buffer(n, 3, h, w)) {
            float[] y0 = null, g0 = null, dx0 = null;
            long allocated = -1, held = -1;
            for (int step = 0; step < 4; step++) {
                // The batch-norm running statistics change between steps; the output in training mode does not.
                ClBuffer y = graph.forward(xb, 5);
                float[] yv = y.read();
                graph.backward(y, step % 2 == 0 ? dx : null); // L = sum(y^2) / 2
                float[] gv = graph.gradients().get("s1.b1.conv.weight").read();
                if (step == 0) {
                    y0 = yv;
                    g0 = gv;
                    dx0 = dx.read();
                    allocated = ctx.allocatedBytes();
                    held = graph.deviceBytes();
                } else {
                    assertArrayEquals(y0, yv, "output at step " + step);
                    assertArrayEquals(g0, gv, "weight gradient at step " + step);
                    if (step % 2 == 0) {
                        assertArrayEquals(dx0, dx.read(), "input gradient at step " + step);
                    }
                    assertEquals(allocated, ctx.allocatedBytes(), "device bytes allocated at step " + step);
                    assertEquals(held, graph.deviceBytes(), "deviceBytes at step " + step);
                }
            }
            // A different seed draws different noise.
            float[] other = graph.forward(xb, 6).read();
            assertTrue(!java.util.Arrays.equals(other, y0), "noise seed has no effect");
        }
    }

    /**
     * Inference mode plans a forward-only pass: the same output bits as a training forward (instance
     * norm: no mode difference), fewer bytes held, nothing allocated on repeat.
     */
    @Test
    void inferenceRunsWideUnpaddedConvolutionsAsWinogradOnCpus() {
        // Johnson at width 16: its residual convolutions are 64 -> 64 (3x3, unpadded behind a reflection pad),
        // which inference on CPU devices runs through Conv3x3's Winograd; training keeps Conv2d.
        Network net = Generators.johnson(16);
        Map<String, float[]> params = randomParameters(net, 31);
        float[] x = random(new Random(32), 2 * 3 * 20 * 28, 0, 1);
        long start = ctx.allocatedBytes();
        try (DeviceGraph train = new DeviceGraph(ctx, net, params::get);
                DeviceGraph infer = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, 2, 3, 20, 28)) {
            float[] expected = train.forward(xb, 0).read();
            infer.setTraining(false);
            float[] got = infer.forward(xb, 0).read();
            assertEquals(ctx.device().isCpu(), infer.usedWinograd());
            double max = 0, err = 0;
            for (int i = 0; i < got.length; i++) {
                max = Math.max(max, Math.abs(expected[i]));
                err = Math.max(err, Math.abs(got[i] - expected[i]));
            }
            System.out.printf("DeviceGraphTest johnson(16) 2x20x28 inference through Winograd: %.3g of max|y|%n", err / max);
            // Winograd F(4x4,3x3) rounds 2.5-4x worse than direct (Conv3x3Test), through 10 convolutions and norms.
            assertTrue(err / max <= 1e-4, "inference differs from training by " + err / max + " of max|y|");
        }
        // One image: the convolutions read the input and write the output in place, without scratch copies.
        float[] one = java.util.Arrays.copyOf(x, 3 * 20 * 28);
        try (DeviceGraph train = new DeviceGraph(ctx, net, params::get);
                DeviceGraph infer = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(one, 1, 3, 20, 28)) {
            float[] expected = train.forward(xb, 0).read();
            infer.setTraining(false);
            float[] got = infer.forward(xb, 0).read();
            double max = 0, err = 0;
            for (int i = 0; i < got.length; i++) {
                max = Math.max(max, Math.abs(expected[i]));
                err = Math.max(err, Math.abs(got[i] - expected[i]));
            }
            assertTrue(err / max <= 1e-4, "one image: inference differs from training by " + err / max + " of max|y|");
        }
        // Closed graphs leave nothing on the device (Conv3x3's Winograd workspace and packed weights included).
        assertEquals(start, ctx.allocatedBytes(), "device bytes still allocated after the graphs were closed");
    }

    @Test
    void inferenceForwardHoldsLess() {
        Network net = Generators.johnson(2);
        Map<String, float[]> params = randomParameters(net, 23);
        float[] x = random(new Random(24), 2 * 3 * 22 * 26, 0, 1);
        try (DeviceGraph train = new DeviceGraph(ctx, net, params::get);
                DeviceGraph infer = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, 2, 3, 22, 26)) {
            ClBuffer yt = train.forward(xb, 0);
            float[] expected = yt.read();
            train.backward(yt, null);
            infer.setTraining(false);
            assertArrayEquals(expected, infer.forward(xb, 0).read());
            long allocated = ctx.allocatedBytes();
            assertArrayEquals(expected, infer.forward(xb, 0).read());
            assertEquals(allocated, ctx.allocatedBytes(), "inference forward allocated on repeat");
            System.out.printf("DeviceGraphTest johnson(2) 2x22x26: training %d bytes, inference %d bytes%n",
                    train.deviceBytes(), infer.deviceBytes());
            assertTrue(infer.deviceBytes() < train.deviceBytes(), "inference holds " + infer.deviceBytes()
                    + " bytes, training " + train.deviceBytes());
        }
    }

    /** A forward at another shape plans anew; back at the first shape, the same results. */
    @Test
    void replansPerShape() {
        Network net = dag();
        Random rnd = new Random(19);
        try (DeviceGraph graph = new DeviceGraph(ctx, net, randomParameters(net, 20)::get);
                ClBuffer a = ctx.buffer(random(rnd, 2 * 3 * 7 * 9, 0, 1), 2, 3, 7, 9);
                ClBuffer b = ctx.buffer(random(rnd, 3 * 3 * 12 * 10, 0, 1), 3, 3, 12, 10)) {
            float[] ya = graph.forward(a, 0).read();
            graph.backward(graph.forward(a, 0), null);
            float[] ga = graph.gradients().get("a.weight").read();
            ClBuffer yb = graph.forward(b, 0);
            assertArrayEquals(new int[] {3, 4, 4, 3}, yb.shape());
            graph.backward(yb, null);
            assertArrayEquals(ya, graph.forward(a, 0).read());
            graph.backward(graph.forward(a, 0), null);
            assertArrayEquals(ga, graph.gradients().get("a.weight").read());
        }
    }

    /**
     * BatchNorm: training forwards update the running statistics (checked in {@link #compare}); in
     * inference mode the forward normalises with them and leaves them alone, and a backward is refused.
     */
    @Test
    void batchNormInferenceUsesRunningStatistics() {
        Network net = new Network("bn", 3, List.of(
                new Node("a", new Layer.Conv2d(3, 4, 3, 1, 1), List.of(Network.INPUT)),
                new Node("n", new Layer.BatchNorm(4), List.of("a"))));
        int n = 2, h = 5, w = 6;
        Random rnd = new Random(21);
        Map<String, float[]> params = randomParameters(net, 22);
        float[] x = random(rnd, n * 3 * h * w, 0, 1);
        try (DeviceGraph graph = new DeviceGraph(ctx, net, params::get);
                ClBuffer xb = ctx.buffer(x, n, 3, h, w)) {
            graph.forward(xb, 0);
            graph.forward(xb, 0);
            float[] mean = graph.state().get("n.running_mean").read(), var = graph.state().get("n.running_var").read();
            graph.setTraining(false);
            ClBuffer y = graph.forward(xb, 0);
            assertArrayEquals(mean, graph.state().get("n.running_mean").read(), "running mean changed in inference");
            Conv2dReference.Geometry geo = new Conv2dReference.Geometry(n, 3, h, w, 4, 3, 1, 1);
            double[] a = Conv2dReference.forward(geo, toDouble(x), toDouble(params.get("a.weight")), toDouble(params.get("a.bias")));
            double[] expect = new double[a.length];
            float[] gamma = params.get("n.weight"), beta = params.get("n.bias");
            for (int i = 0; i < a.length; i++) {
                int c = (i / (h * w)) % 4;
                expect[i] = gamma[c] * (a[i] - mean[c]) / Math.sqrt(var[c] + 1e-5) + beta[c];
            }
            assertTrue(relError(expect, y.read(), 0) <= 1e-5, "inference-mode output");
            assertThrows(IllegalStateException.class, () -> graph.backward(y, null));
            graph.setTraining(true);
            graph.backward(graph.forward(xb, 0), null);
        }
    }

    @Test
    void backwardNeedsItsOwnForward() {
        Network net = dag();
        try (DeviceGraph graph = new DeviceGraph(ctx, net, randomParameters(net, 3)::get);
                ClBuffer xb = ctx.buffer(random(new Random(1), 2 * 3 * 7 * 9, 0, 1), 2, 3, 7, 9)) {
            ClBuffer y = graph.forward(xb, 0);
            graph.backward(y, null);
            assertThrows(IllegalStateException.class, () -> graph.backward(y, null));
        }
    }
}
