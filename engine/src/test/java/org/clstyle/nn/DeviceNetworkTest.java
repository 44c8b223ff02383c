package org.clstyle.nn;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.clstyle.ops.OpSettings;
import org.clstyle.ops.VectorOps;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.Half;
import org.clstyle.reference.NetworkReference;
import org.clstyle.testing.Tensors;
import org.clstyle.vgg.Pooling;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * The executor's planning (fused conv+ReLU, kept outputs, gradients written over dead activations)
 * against {@link NetworkReference}, which keeps every output and fuses nothing: for random sets of
 * requested nodes in any mix of conv (pre-ReLU), relu and pool nodes and any depth, on VGG16 and
 * VGG19 tables with small random widths, every requested output and the input gradient from random
 * per-node gradients must match. One DeviceNetwork serves all draws, so plan changes are covered too.
 * Tolerances: outputs 2e-5 * max|reference| + 1e-4 * |element| (float32 accumulation over <= 9*8 terms
 * per layer, 16 layers); input gradient 1e-4 * max|reference| + 1e-3 * |element|.
 */
class DeviceNetworkTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    static VggWeights randomWeights(VggArchitecture a, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        int cin = 3;
        for (String conv : a.convLayers()) {
            int cout = 3 + rnd.nextInt(6); // 3..8 channels: awkward, small
            float[] wv = new float[cout * cin * 9];
            double std = Math.sqrt(2.0 / (9 * cin));
            for (int i = 0; i < wv.length; i++) {
                wv[i] = (float) (rnd.nextGaussian() * std);
            }
            float[] bv = new float[cout];
            for (int i = 0; i < cout; i++) {
                bv[i] = (float) (rnd.nextGaussian() * 0.1);
            }
            w.put(conv, wv);
            b.put(conv, bv);
            cin = cout;
        }
        return VggWeights.of(a, w, b, Preprocessing.CAFFE);
    }

    static List<Arguments> networks() {
        List<Arguments> args = new ArrayList<>();
        for (VggArchitecture a : VggArchitecture.values()) {
            for (Pooling p : Pooling.values()) {
                args.add(Arguments.of(a, p));
            }
        }
        return args;
    }

    @ParameterizedTest
    @MethodSource("networks")
    void anyMixOfRequestedNodesMatchesTheReference(VggArchitecture arch, Pooling pooling) {
        VggWeights weights = randomWeights(arch, 7 + arch.ordinal() * 31L + pooling.ordinal());
        Network net = Vgg.network(weights, pooling);
        assertEquals(arch.layers(), net.names());
        int h = 37, w = 45; // odd: every pooling drops an edge; 1x1 after pool5
        SplittableRandom rnd = new SplittableRandom(11 + arch.ordinal() * 7L + pooling.ordinal());
        float[] x = Tensors.normal(3, 3 * h * w, 1);
        NetworkReference ref = new NetworkReference(net, Vgg.parameters(weights));
        try (DeviceNetwork dev = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE);
                ClBuffer in = ctx.buffer(x, 3, h, w); ClBuffer dIn = ctx.buffer(3, h, w)) {
            for (int draw = 0; draw < 12; draw++) {
                List<String> outputs = drawOutputs(rnd, net.names(), 1 + rnd.nextInt(5));
                if (draw % 3 == 0 && !outputs.contains("conv1_1")) {
                    outputs.add("conv1_1"); // a shallow pre-ReLU node beside deeper ones, every third draw
                }
                String what = arch.id() + " " + pooling.key() + " draw " + draw + " " + outputs;
                dev.forward(in, outputs);
                Map<String, double[]> expected = ref.forward(Tensors.toDouble(x), h, w, net.deepest(outputs));
                for (String n : outputs) {
                    float[] e = floats(expected.get(n));
                    float[] a = dev.activation(n).read();
                    Tensors.assertClose(what + ": " + n, e, a, 2e-5 * maxAbs(e) + 1e-30, 1e-4);
                }
                // Backward from a random nonempty subset of the outputs.
                Map<String, double[]> grads = new LinkedHashMap<>();
                Map<String, ClBuffer> devGrads = new LinkedHashMap<>();
                try {
                    for (String n : outputs) {
                        if (grads.isEmpty() || rnd.nextBoolean()) {
                            float[] g = Tensors.normal(rnd.nextLong(), expected.get(n).length, 1);
                            grads.put(n, Tensors.toDouble(g));
                            devGrads.put(n, ctx.buffer(g, dev.shape(n, h, w)));
                        }
                    }
                    dev.backward(devGrads, dIn);
                    float[] e = floats(ref.backward(grads));
                    Tensors.assertClose(what + ": d/d input from " + grads.keySet(), e, dIn.read(), 1e-4 * maxAbs(e) + 1e-30, 1e-3);
                    // After the backward the activations are recomputed on request and still exact.
                    String n0 = outputs.get(0);
                    float[] e0 = floats(expected.get(n0));
                    Tensors.assertClose(what + ": " + n0 + " after backward", e0, dev.activation(n0).read(), 2e-5 * maxAbs(e0) + 1e-30, 1e-4);
                } finally {
                    devGrads.values().forEach(ClBuffer::close);
                }
            }
        }
    }

    /**
     * Storage.HALF: random draws as above on a network whose activations are stored as half, against the
     * reference keeping what the device keeps (the input and every activation rounded to half, computed in
     * double from those). Tolerances: outputs within two half ulps (2e-3 * max|reference| + 2e-3 * |element|:
     * the device computes each layer in float, so a value near a rounding boundary may round to the
     * neighbouring half, and that carries into later layers); the input gradient within 1e-3 in relative L2.
     * Each source reads its node's float copy while the walk is at it (as a loss does), and the tiled-loss
     * modes are refused.
     */
    @ParameterizedTest
    @MethodSource("networks")
    void halfStorageMatchesTheReferenceWithinHalfPrecision(VggArchitecture arch, Pooling pooling) {
        VggWeights weights = randomWeights(arch, 5 + arch.ordinal() * 31L + pooling.ordinal());
        Network net = Vgg.network(weights, pooling);
        int h = 37, w = 45;
        SplittableRandom rnd = new SplittableRandom(13 + arch.ordinal() * 7L + pooling.ordinal());
        float[] x = Tensors.normal(5, 3 * h * w, 1);
        // The reference keeps what the device keeps: every activation (and the input) rounded to half.
        NetworkReference ref = new NetworkReference(net, Vgg.parameters(weights), v -> Half.round((float) v));
        try (DeviceNetwork dev = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE, DeviceNetwork.Storage.HALF);
                ClBuffer in = ctx.buffer(x, 3, h, w); ClBuffer dIn = ctx.buffer(3, h, w)) {
            assertEquals(DeviceNetwork.Storage.HALF, dev.storage());
            for (int draw = 0; draw < 6; draw++) {
                List<String> outputs = drawOutputs(rnd, net.names(), 1 + rnd.nextInt(4));
                String what = "half " + arch.id() + " " + pooling.key() + " draw " + draw + " " + outputs;
                dev.forward(in, outputs);
                Map<String, double[]> expected = ref.forward(Tensors.toDouble(x), h, w, net.deepest(outputs));
                for (String n : outputs) {
                    float[] e = floats(expected.get(n));
                    ClBuffer a = dev.activation(n);
                    assertFalse(a.isHalf(), what + ": activation() hands out float");
                    Tensors.assertClose(what + ": " + n, e, a.read(), 2e-3 * maxAbs(e) + 1e-30, 2e-3);
                }
                Map<String, double[]> grads = new LinkedHashMap<>();
                Map<String, DeviceNetwork.NodeGradient> sources = new LinkedHashMap<>();
                List<ClBuffer> made = new ArrayList<>();
                try {
                    for (String n : outputs) {
                        float[] g = Tensors.normal(rnd.nextLong(), expected.get(n).length, 1);
                        grads.put(n, Tensors.toDouble(g));
                        ClBuffer gb = ctx.buffer(g, dev.shape(n, h, w));
                        made.add(gb);
                        float[] e = floats(expected.get(n));
                        // Each source reads its node's activation while the walk is at it, as a loss does.
                        sources.put(n, (into, accumulate) -> {
                            Tensors.assertClose(what + ": " + n + " read by its source", e, dev.activation(n).read(),
                                    2e-3 * maxAbs(e) + 1e-30, 2e-3);
                            try (VectorOps v = new VectorOps(ctx)) {
                                if (accumulate) {
                                    v.axpy(1f, gb, into);
                                } else {
                                    v.copy(gb, into);
                                }
                            }
                        });
                    }
                    dev.backwardFrom(sources, dIn);
                    double[] e = ref.backward(grads);
                    float[] got = dIn.read();
                    double num = 0, den = 0;
                    for (int i = 0; i < e.length; i++) {
                        num += (got[i] - e[i]) * (got[i] - e[i]);
                        den += e[i] * e[i];
                    }
                    double relL2 = Math.sqrt(num / Math.max(den, 1e-300));
                    assertTrue(relL2 < 1e-3, what + ": d/d input relative L2 error " + relL2);
                } finally {
                    made.forEach(ClBuffer::close);
                }
            }
            assertThrows(IllegalStateException.class, () -> dev.keepAfter("pool2"));
            assertThrows(IllegalStateException.class, () -> dev.checkpointAfter(List.of("pool2")));
        }
    }

    /** {@code k} distinct nodes of {@code names}, drawn from {@code rnd}. */
    private static List<String> drawOutputs(SplittableRandom rnd, List<String> names, int k) {
        List<String> outputs = new ArrayList<>();
        while (outputs.size() < k) {
            String n = names.get(rnd.nextInt(names.size()));
            if (!outputs.contains(n)) {
                outputs.add(n);
            }
        }
        return outputs;
    }

    @Test
    void unknownAndUnrequestedNodesAreClearErrors() {
        VggWeights weights = randomWeights(VggArchitecture.VGG16, 3);
        Network net = Vgg.network(weights, Pooling.MAX);
        try (DeviceNetwork dev = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE);
                ClBuffer in = ctx.buffer(Tensors.normal(1, 3 * 32 * 32, 1), 3, 32, 32)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dev.forward(in, List.of("conv3_4")));
            assertTrue(e.getMessage().startsWith("unknown layer 'conv3_4' for vgg16; valid layers: conv1_1, relu1_1"), e.getMessage());
            dev.forward(in, List.of("relu3_3"));
            IllegalStateException s = assertThrows(IllegalStateException.class, () -> dev.activation("conv3_3"));
            assertEquals("conv3_3 was not requested by the last forward: name it in the forward's outputs", s.getMessage());
        }
    }

    @Test
    void networksAreTablesOfNamedNodes() {
        assertEquals(31, VggArchitecture.VGG16.layers().size());
        assertEquals(37, VggArchitecture.VGG19.layers().size());
        Network n16 = Vgg.network(randomWeights(VggArchitecture.VGG16, 1), Pooling.AVG);
        assertEquals(List.of("conv5_3", "relu5_3", "pool5"), n16.names().subList(28, 31));
        assertTrue(n16.node("pool5").layer() instanceof Layer.Pool2d p && p.kind() == Layer.PoolKind.AVG);
        assertEquals("features.28", VggArchitecture.VGG16.torchvisionPrefix(12));
        assertEquals("features.34", VggArchitecture.VGG19.torchvisionPrefix(15));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> n16.shapes(15, 40, "pool5"));
        assertTrue(e.getMessage().startsWith("image 15x40 is too small for pool4"), e.getMessage());
    }

    private static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    private static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    /**
     * Size changes with the same outputs (a tiled loss's tiles): the buffers are kept and viewed with the
     * new shapes, so every size gives what a fresh network gives, and returning to sizes seen before
     * allocates nothing more.
     */
    @Test
    void sizeChangesReuseTheBuffers() {
        VggWeights weights = randomWeights(VggArchitecture.VGG19, 5);
        Network net = Vgg.network(weights, Pooling.MAX);
        List<String> outputs = List.of("relu1_1", "conv2_1", "relu3_1", "pool3", "relu4_2");
        int[][] sizes = {{40, 37}, {24, 20}, {33, 45}, {40, 37}, {17, 16}, {24, 20}, {33, 45}};
        long afterFirstRound = -1;
        // The fresh networks run in their own context: closing one leaves its convolution's workspace
        // allocated until its context closes, which would count against dev here.
        try (ClContext other = ClContext.createDefault(); DeviceNetwork dev = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE)) {
            for (int k = 0; k < sizes.length; k++) {
                int h = sizes[k][0], w = sizes[k][1];
                float[] x = Tensors.normal(40 + k, 3 * h * w, 1);
                try (ClBuffer in = ctx.buffer(x, 3, h, w); ClBuffer dIn = ctx.buffer(3, h, w);
                        ClBuffer inFresh = other.buffer(x, 3, h, w); ClBuffer dFresh = other.buffer(3, h, w);
                        DeviceNetwork fresh = new DeviceNetwork(other, net, Vgg.parameters(weights), OpSettings.NONE)) {
                    dev.forward(in, outputs);
                    fresh.forward(inFresh, outputs);
                    assertSameAsFresh(h + "x" + w, dev, dIn, fresh, dFresh, outputs, List.of("relu1_1", "relu3_1", "relu4_2"), 50 + k,
                            h, w);
                }
                if (k == 2) {
                    afterFirstRound = ctx.allocatedBytes();
                }
                if (k > 2) {
                    assertEquals(afterFirstRound, ctx.allocatedBytes(), "sizes no larger than before allocate nothing (" + h + "x" + w + ")");
                }
            }
        }
    }
    /**
     * After both ran forward on the same h x w input: dev's activations of {@code outputs} are fresh's, and its
     * backward (into dIn) from the same random gradients (seed) at {@code gradAt} gives fresh's (into dFresh),
     * bit for bit. Each network's gradients live in its own network's context (that of dIn, dFresh).
     */
    private static void assertSameAsFresh(String what, DeviceNetwork dev, ClBuffer dIn, DeviceNetwork fresh, ClBuffer dFresh,
            List<String> outputs, List<String> gradAt, long seed, int h, int w) {
        for (String n : outputs) {
            assertArrayEquals(fresh.activation(n).read(), dev.activation(n).read(), what + " " + n);
        }
        Map<String, ClBuffer> grads = new LinkedHashMap<>(), gradsFresh = new LinkedHashMap<>();
        for (String n : gradAt) {
            float[] g = Tensors.normal(seed, dev.activation(n).size(), 1);
            grads.put(n, dIn.context().buffer(g, dev.shape(n, h, w)));
            gradsFresh.put(n, dFresh.context().buffer(g, dev.shape(n, h, w)));
        }
        dev.backward(grads, dIn);
        fresh.backward(gradsFresh, dFresh);
        assertArrayEquals(dFresh.read(), dIn.read(), what + " d/d input");
        grads.values().forEach(ClBuffer::close);
        gradsFresh.values().forEach(ClBuffer::close);
    }

    /**
     * Kept activations (a tiled loss's two passes): every input forward in its own slot, then, in reverse,
     * only the shallow part recomputed and the backward run from the slot's kept deep outputs. Activations
     * and gradients equal a fresh network's bit for bit; a second round allocates nothing; misuse is refused.
     */
    @Test
    void keptSlotsGiveWhatAFreshNetworkGives() {
        VggWeights weights = randomWeights(VggArchitecture.VGG19, 9);
        Network net = Vgg.network(weights, Pooling.MAX);
        List<String> outputs = List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1");
        int[][] sizes = {{40, 37}, {33, 45}, {17, 16}};
        try (ClContext other = ClContext.createDefault(); DeviceNetwork dev = new DeviceNetwork(ctx, net, Vgg.parameters(weights), OpSettings.NONE)) {
            dev.keepAfter("pool2");
            ClBuffer[] in = new ClBuffer[sizes.length];
            try {
                for (int k = 0; k < sizes.length; k++) {
                    in[k] = ctx.buffer(Tensors.normal(60 + k, 3 * sizes[k][0] * sizes[k][1], 1), 3, sizes[k][0], sizes[k][1]);
                }
                long afterFirstRound = -1;
                for (int round = 0; round < 2; round++) {
                    for (int k = 0; k < sizes.length; k++) {
                        dev.useSlot(k);
                        dev.forward(in[k], outputs);
                    }
                    for (int k = sizes.length - 1; k >= 0; k--) {
                        int h = sizes[k][0], w = sizes[k][1];
                        dev.useSlot(k);
                        dev.forwardUpTo(in[k], outputs, "pool2");
                        try (ClBuffer inFresh = other.buffer(in[k].read(), 3, h, w); ClBuffer dFresh = other.buffer(3, h, w);
                                ClBuffer dIn = ctx.buffer(3, h, w);
                                DeviceNetwork fresh = new DeviceNetwork(other, net, Vgg.parameters(weights), OpSettings.NONE)) {
                            fresh.forward(inFresh, outputs);
                            assertSameAsFresh("slot " + k, dev, dIn, fresh, dFresh, outputs, List.of("relu1_1", "relu3_1", "relu5_1"),
                                    70 + k, h, w);
                            if (round == 1) {
                                assertEquals(afterFirstRound, ctx.allocatedBytes() - 4L * 3 * h * w, "round 2 allocates nothing");
                            }
                        }
                    }
                    afterFirstRound = ctx.allocatedBytes();
                }
                // The slot's deep outputs were clobbered by its backward: recomputing only the shallow part is refused.
                dev.useSlot(0);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> dev.forwardUpTo(in[0], outputs, "pool2"));
                assertEquals("vgg19.forwardUpTo: slot 0 holds no complete forward", e.getMessage());
                IllegalStateException notKept = assertThrows(IllegalStateException.class, () -> dev.forwardUpTo(in[0], outputs, "pool1"));
                assertTrue(notKept.getMessage().contains("not kept per slot"), notKept.getMessage());
                assertThrows(IllegalArgumentException.class, () -> dev.keepAfter("conv2_1"));
            } finally {
                for (ClBuffer b : in) {
                    if (b != null) {
                        b.close();
                    }
                }
            }
        }
    }

    /** Closing the network releases everything it allocated: its buffers, weights and its ops' workspaces. */
    @Test
    void closeReturnsTheContextToItsStartingBytes() {
        VggWeights weights = randomWeights(VggArchitecture.VGG19, 5);
        Network net = Vgg.network(weights, Pooling.MAX);
        int h = 37, w = 45;
        try (ClContext c = ClContext.createDefault();
                ClBuffer in = c.buffer(Tensors.normal(3, 3 * h * w, 1), 3, h, w); ClBuffer dIn = c.buffer(3, h, w)) {
            long start = c.allocatedBytes();
            try (DeviceNetwork dev = new DeviceNetwork(c, net, Vgg.parameters(weights), OpSettings.NONE)) {
                dev.keepAfter("pool2");
                dev.forward(in, List.of("relu1_1", "relu2_1", "relu3_1"));
                try (ClBuffer g = c.buffer(Tensors.normal(4, dev.activation("relu3_1").size(), 1), dev.shape("relu3_1", h, w))) {
                    dev.backward(Map.of("relu3_1", g), dIn);
                }
                c.finish();
                assertTrue(c.allocatedBytes() > start);
            }
            assertEquals(start, c.allocatedBytes(), "device bytes left after DeviceNetwork.close()");
        }
    }

    /**
     * Checkpoints: the network in segments sharing one set of buffers. Every output read in the forward's
     * callback and every input gradient equal a fresh network's bit for bit, for inputs forwarded in their
     * own slots and walked back later (each segment recomputed from the slot's checkpoint), in two rounds;
     * an earlier segment's activation is a clear error after the forward; and the buffers take less than
     * without segments.
     */
    @Test
    void checkpointedSegmentsGiveWhatAFreshNetworkGives() {
        VggWeights weights = randomWeights(VggArchitecture.VGG19, 10);
        Network net = Vgg.network(weights, Pooling.MAX);
        List<String> outputs = List.of("relu1_1", "relu2_1", "pool2", "relu3_1", "relu4_1", "relu4_2", "relu5_1");
        List<String> sourcesAt = List.of("relu1_1", "pool2", "relu3_1", "relu5_1");
        int[][] sizes = {{48, 40}, {33, 45}, {17, 16}};
        try (ClContext other = ClContext.createDefault(); ClContext own = ClContext.createDefault();
                DeviceNetwork dev = new DeviceNetwork(own, net, Vgg.parameters(weights), OpSettings.NONE)) {
            dev.checkpointAfter(List.of("pool1", "pool2", "pool3", "pool4"));
            ClBuffer[] in = new ClBuffer[sizes.length];
            try {
                for (int k = 0; k < sizes.length; k++) {
                    in[k] = own.buffer(Tensors.normal(80 + k, 3 * sizes[k][0] * sizes[k][1], 1), 3, sizes[k][0], sizes[k][1]);
                }
                for (int round = 0; round < 2; round++) {
                    List<Map<String, float[]>> seen = new ArrayList<>();
                    for (int k = 0; k < sizes.length; k++) {
                        dev.useSlot(k);
                        Map<String, float[]> got = new LinkedHashMap<>();
                        dev.forward(in[k], outputs, n -> got.put(n, dev.activation(n).read()));
                        seen.add(got);
                    }
                    for (int k = sizes.length - 1; k >= 0; k--) {
                        int h = sizes[k][0], w = sizes[k][1];
                        dev.useSlot(k);
                        try (ClBuffer inFresh = other.buffer(in[k].read(), 3, h, w); ClBuffer dFresh = other.buffer(3, h, w);
                                ClBuffer dIn = own.buffer(3, h, w);
                                DeviceNetwork fresh = new DeviceNetwork(other, net, Vgg.parameters(weights), OpSettings.NONE)) {
                            fresh.forward(inFresh, outputs);
                            assertEquals(outputs, List.copyOf(seen.get(k).keySet()), "callback order");
                            Map<String, float[]> want = new LinkedHashMap<>();
                            for (String n : outputs) {
                                want.put(n, fresh.activation(n).read());
                                assertArrayEquals(want.get(n), seen.get(k).get(n), "slot " + k + " " + n);
                            }
                            Map<String, DeviceNetwork.NodeGradient> sources = new LinkedHashMap<>();
                            Map<String, ClBuffer> gradsFresh = new LinkedHashMap<>();
                            List<ClBuffer> made = new ArrayList<>();
                            for (String n : sourcesAt) {
                                float[] g = Tensors.normal(90 + k, want.get(n).length, 1);
                                ClBuffer gb = own.buffer(g, dev.shape(n, h, w));
                                made.add(gb);
                                int kk = k;
                                sources.put(n, (dst, acc) -> {
                                    // The walk is at n: its activation is readable and is the forward's.
                                    assertArrayEquals(want.get(n), dev.activation(n).read(), "slot " + kk + " at the walk: " + n);
                                    if (acc) { // a deeper source's gradient is already there
                                        float[] cur = dst.read();
                                        for (int i = 0; i < cur.length; i++) {
                                            cur[i] += g[i];
                                        }
                                        dst.write(cur);
                                    } else {
                                        dst.copyFrom(gb);
                                    }
                                });
                                gradsFresh.put(n, other.buffer(g, dev.shape(n, h, w)));
                            }
                            dev.backwardFrom(in[k], outputs, sources, dIn);
                            fresh.backward(gradsFresh, dFresh);
                            assertArrayEquals(dFresh.read(), dIn.read(), "round " + round + " slot " + k + " d/d input");
                            made.forEach(ClBuffer::close);
                            gradsFresh.values().forEach(ClBuffer::close);
                        }
                    }
                }
                // An activation of an earlier segment is gone after the forward: a clear error.
                dev.useSlot(0);
                dev.forward(in[0], outputs);
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> dev.activation("relu1_1"));
                assertTrue(e.getMessage().startsWith("relu1_1 was overwritten by a later segment"), e.getMessage());
                assertThrows(IllegalStateException.class, () -> dev.keepAfter("pool2"));
                // Memory: against the same network without segments on the 48x40 input alone.
                long withSegments = own.allocatedBytes() - 4L * 3 * (48 * 40 + 33 * 45 + 17 * 16); // less the three inputs
                try (ClContext c = ClContext.createDefault(); ClBuffer x = c.buffer(in[0].read(), 3, 48, 40);
                        ClBuffer dx = c.buffer(3, 48, 40); DeviceNetwork plain = new DeviceNetwork(c, net, Vgg.parameters(weights), OpSettings.NONE)) {
                    plain.forward(x, outputs);
                    plain.reserveBackward(Set.copyOf(sourcesAt));
                    long without = c.allocatedBytes() - 4L * 3 * 48 * 40 * 2;
                    assertTrue(withSegments < without, "segments " + withSegments + " bytes (3 slots of checkpoints), without " + without);
                }
            } finally {
                for (ClBuffer b : in) {
                    if (b != null) {
                        b.close();
                    }
                }
            }
        }
    }
}
