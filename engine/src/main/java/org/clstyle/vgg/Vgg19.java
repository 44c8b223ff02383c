package org.clstyle.vgg;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.Pool2x2;
import org.clstyle.ops.Relu;
import org.clstyle.ops.VectorOps;
import org.clstyle.weights.VggWeights;

/**
 * VGG19's convolutional part on the device, forward to the deepest layer a caller reads and backward
 * from per-layer gradients to the network input. Layer names are {@link VggLayers#ALL}: convX_Y is a
 * convolution's output before its ReLU, reluX_Y after it, poolX the 2x2 pooling.
 *
 * <p>A conv and its ReLU run as one fused launch unless the caller taps the conv's pre-ReLU output, in
 * which case the conv writes its own buffer and a standalone ReLU follows. Every layer's output gets its
 * own buffer, so the backward finds what it needs (ReLU outputs mask the conv backward, pool inputs
 * route the max-pool backward). Those buffers and the backward's scratch are allocated once per plan
 * (image size, tapped layers) and reused by every forward and backward with that plan: an optimisation
 * loop at one size allocates nothing after its first iteration. Weights are uploaded once, only as deep
 * as some plan needed.
 */
public final class Vgg19 implements AutoCloseable {
    private final ClContext ctx;
    private final VggWeights weights;
    private final Pooling pooling;
    private final Conv3x3 conv;
    private final Relu relu;
    private final Pool2x2 pool;
    private final VectorOps vectors;
    private final Map<String, ClBuffer> weight = new HashMap<>(); // conv -> [Cout, Cin, 3, 3]
    private final Map<String, ClBuffer> bias = new HashMap<>();   // conv -> [Cout]

    // The current plan.
    private int planH = -1, planW = -1;
    private int deepest = -1;                       // index in VggLayers.ALL
    private Set<String> unfused = Set.of();         // convs whose pre-ReLU output is tapped
    private final Map<String, ClBuffer> act = new LinkedHashMap<>();        // layer -> output [C, h, w]
    private final Map<List<Integer>, ClBuffer[]> scratch = new HashMap<>(); // shape -> two gradient buffers
    private ClBuffer lastInput;                      // [3, H, W], the caller's, not owned

    public Vgg19(ClContext ctx, VggWeights weights, Pooling pooling) {
        this.ctx = ctx;
        this.weights = weights;
        this.pooling = pooling;
        this.conv = new Conv3x3(ctx);
        this.relu = new Relu(ctx);
        this.pool = new Pool2x2(ctx);
        this.vectors = new VectorOps(ctx);
    }

    public Pooling pooling() { return pooling; }

    /** Forward to {@code deepestLayer} with every conv fused with its ReLU. */
    public void forward(ClBuffer netInput /* [3, H, W] */, String deepestLayer) {
        forward(netInput, List.of(deepestLayer));
    }

    /**
     * Forward as deep as the deepest of {@code layers}; conv layers among them keep their pre-ReLU output
     * (unfused), so {@link #activation} and {@link #backward} can use them.
     */
    public void forward(ClBuffer netInput /* [3, H, W] */, Collection<String> layers) {
        if (netInput.shape().length != 3 || netInput.dim(0) != 3) {
            throw new IllegalArgumentException("Vgg19.forward: input must be [3, H, W], got " + netInput);
        }
        if (layers.isEmpty()) {
            throw new IllegalArgumentException("Vgg19.forward: no layer to compute");
        }
        Set<String> convs = new HashSet<>();
        for (String l : layers) {
            if (VggLayers.index(l) < 0) {
                throw new IllegalArgumentException(VggLayers.unknownLayerMessage("Vgg19.forward", l));
            }
            if (l.startsWith("conv")) {
                convs.add(l);
            }
        }
        int deep = VggLayers.index(VggLayers.deepest(layers));
        plan(netInput.dim(1), netInput.dim(2), deep, convs);
        lastInput = netInput;
        ClBuffer x = netInput;
        for (int i = 0; i <= deep; i++) {
            String name = VggLayers.ALL.get(i);
            if (name.startsWith("conv")) {
                if (unfused.contains(name)) {
                    conv.forward(x, weight.get(name), bias.get(name), act.get(name), false);
                    x = act.get(name);
                } else {
                    String reluName = "relu" + name.substring(4);
                    conv.forward(x, weight.get(name), bias.get(name), act.get(reluName), true);
                    x = act.get(reluName);
                    i++; // the ReLU ran with the conv
                }
            } else if (name.startsWith("relu")) {
                relu.forward(x, act.get(name));
                x = act.get(name);
            } else {
                if (pooling == Pooling.MAX) {
                    pool.maxForward(x, act.get(name));
                } else {
                    pool.avgForward(x, act.get(name));
                }
                x = act.get(name);
            }
        }
    }

    /** The output of {@code layer} from the last forward, [C, h, w]; valid until the next forward. */
    public ClBuffer activation(String layer) {
        int i = VggLayers.index(layer);
        if (i < 0) {
            throw new IllegalArgumentException(VggLayers.unknownLayerMessage("Vgg19.activation", layer));
        }
        if (i > deepest) {
            throw new IllegalStateException(layer + " was not computed: the last forward stopped at "
                    + (deepest < 0 ? "nothing" : VggLayers.ALL.get(deepest)));
        }
        ClBuffer b = act.get(layer);
        if (b == null) {
            throw new IllegalStateException(layer + "'s pre-ReLU output was not kept: name it in the forward's layers");
        }
        return b;
    }

    /** The shape of {@code layer}'s output for an input of h x w, [C, h', w']. */
    public int[] shape(String layer, int h, int w) {
        int target = VggLayers.index(layer);
        if (target < 0) {
            throw new IllegalArgumentException(VggLayers.unknownLayerMessage("Vgg19.shape", layer));
        }
        int c = 3;
        for (int i = 0; i <= target; i++) {
            String name = VggLayers.ALL.get(i);
            if (name.startsWith("conv")) {
                c = weights.outChannels(name);
            } else if (name.startsWith("pool")) {
                h /= 2;
                w /= 2;
            }
        }
        return new int[] {c, h, w};
    }

    /**
     * What a loss adds at one layer during the backward walk: d loss / d that layer's output, written
     * into {@code grad} (shaped like {@link #activation}) or added to it when {@code accumulate}.
     * Producing it straight into the walk's buffer saves a layer-sized buffer and a copy per loss layer.
     */
    @FunctionalInterface
    public interface LayerGradient {
        void writeInto(ClBuffer grad, boolean accumulate);
    }

    /**
     * d loss / d network input from precomputed per-layer gradients (layer -> d loss / d that layer's
     * output, shaped like {@link #activation}); the buffers are read, not changed.
     */
    public void backward(Map<String, ClBuffer> layerGradients, ClBuffer dInput /* [3, H, W] */) {
        Map<String, LayerGradient> sources = new LinkedHashMap<>();
        for (Map.Entry<String, ClBuffer> e : layerGradients.entrySet()) {
            ClBuffer b = e.getValue();
            ClBuffer a = activation(e.getKey()); // checks the layer was computed and kept
            if (!Arrays.equals(a.shape(), b.shape())) {
                throw new IllegalArgumentException("Vgg19.backward: gradient for " + e.getKey() + " is " + b
                        + ", the activation is " + a);
            }
            sources.put(e.getKey(), (g, accumulate) -> {
                if (accumulate) {
                    vectors.axpy(1f, b, g);
                } else {
                    vectors.copy(b, g);
                }
            });
        }
        backwardFrom(sources, dInput);
    }

    /**
     * d loss / d network input, walking back from the deepest layer in {@code sources} and asking each
     * source for its gradient when the walk reaches its layer; the layers must be among the last
     * forward's, conv layers tapped (unfused) there. Overwrites {@code dInput}.
     */
    public void backwardFrom(Map<String, LayerGradient> sources, ClBuffer dInput /* [3, H, W] */) {
        if (lastInput == null) {
            throw new IllegalStateException("Vgg19.backward before any forward");
        }
        if (!Arrays.equals(dInput.shape(), lastInput.shape())) {
            throw new IllegalArgumentException("Vgg19.backward: dInput " + dInput + " does not match the input " + lastInput);
        }
        int start = -1;
        for (String l : sources.keySet()) {
            activation(l); // checks the layer was computed and kept
            start = Math.max(start, VggLayers.index(l));
        }
        if (start < 0) {
            vectors.fill(dInput, 0f);
            return;
        }
        ensureScratch();
        ClBuffer g = null; // d loss / d output of the layer being walked
        for (int i = start; i >= 0; i--) {
            String name = VggLayers.ALL.get(i);
            LayerGradient inject = sources.get(name);
            if (inject != null) {
                if (g == null) {
                    g = scratchFor(act.get(name).shape(), null);
                    inject.writeInto(g, false);
                } else {
                    inject.writeInto(g, true);
                }
            }
            if (g == null) {
                continue;
            }
            if (name.startsWith("pool")) {
                ClBuffer in = layerInput(i); // the block's last ReLU output, [C, h, w]
                ClBuffer dx = scratchFor(in.shape(), g);
                if (pooling == Pooling.MAX) {
                    pool.maxBackward(in, g, dx);
                } else {
                    pool.avgBackward(g, dx);
                }
                g = dx;
            } else if (name.startsWith("relu")) {
                String convName = "conv" + name.substring(4);
                if (unfused.contains(convName)) {
                    relu.backward(act.get(name), g, g); // in place; the conv step follows
                } else {
                    // Fused conv+ReLU: one masked backward to the conv's input, then skip the conv's slot.
                    ClBuffer dx = i - 1 == 0 ? dInput : scratchFor(layerInput(i - 1).shape(), g);
                    conv.backwardInput(g, weight.get(convName), act.get(name), dx);
                    g = dx;
                    i--;
                }
            } else {
                ClBuffer dx = i == 0 ? dInput : scratchFor(layerInput(i).shape(), g);
                conv.backwardInput(g, weight.get(name), null, dx);
                g = dx;
            }
        }
    }

    /** The buffer feeding layer i (i > 0): the previous layer's output (never a fused conv's, which has none). */
    private ClBuffer layerInput(int i) {
        String prev = VggLayers.ALL.get(i - 1);
        ClBuffer b = act.get(prev);
        if (b == null) {
            throw new IllegalStateException("no kept output for " + prev); // a fused conv never feeds a layer
        }
        return b;
    }

    /** A scratch gradient buffer of {@code shape} that is not {@code busy}. */
    private ClBuffer scratchFor(int[] shape, ClBuffer busy) {
        ClBuffer[] pair = scratch.get(key(shape));
        if (pair == null) {
            throw new IllegalStateException("no scratch buffer of shape " + Arrays.toString(shape));
        }
        return pair[0] != busy ? pair[0] : pair[1];
    }

    private static List<Integer> key(int[] shape) {
        List<Integer> k = new ArrayList<>(shape.length);
        for (int s : shape) {
            k.add(s);
        }
        return k;
    }

    /**
     * Allocates now what the backward needs for the current plan (else the first backward does), so a
     * loop that starts after this allocates nothing.
     */
    public void reserveBackward() {
        ensureScratch();
    }

    /** Allocates (once per plan) two gradient buffers per distinct layer shape, for the backward. */
    private void ensureScratch() {
        if (!scratch.isEmpty()) {
            return;
        }
        for (ClBuffer a : act.values()) {
            scratch.computeIfAbsent(key(a.shape()), k -> new ClBuffer[] {ctx.buffer(a.shape()), ctx.buffer(a.shape())});
        }
    }

    /** Makes the buffers for this plan, reusing the current ones when nothing changed. */
    private void plan(int h, int w, int deep, Set<String> tappedConvs) {
        if (h == planH && w == planW && deep == deepest && tappedConvs.equals(unfused)) {
            return;
        }
        releasePlan();
        int c = 3, hh = h, ww = w;
        for (int i = 0; i <= deep; i++) {
            String name = VggLayers.ALL.get(i);
            if (name.startsWith("conv")) {
                uploadWeights(name, c);
                c = weights.outChannels(name);
                if (tappedConvs.contains(name)) {
                    act.put(name, ctx.buffer(c, hh, ww));
                }
            } else if (name.startsWith("relu")) {
                act.put(name, ctx.buffer(c, hh, ww));
            } else {
                hh /= 2;
                ww /= 2;
                if (hh == 0 || ww == 0) {
                    throw new IllegalArgumentException("image " + h + "x" + w + " is too small for " + name
                            + ": each pooling halves it, and " + name + " would be empty");
                }
                act.put(name, ctx.buffer(c, hh, ww));
            }
        }
        planH = h;
        planW = w;
        deepest = deep;
        unfused = Set.copyOf(tappedConvs);
    }

    private void uploadWeights(String name, int cin) {
        if (weight.containsKey(name)) {
            return;
        }
        int cout = weights.outChannels(name);
        if (weights.inChannels(name) != cin) {
            throw new IllegalArgumentException("weights: " + name + " takes " + weights.inChannels(name)
                    + " input channels but the layer before gives " + cin);
        }
        weight.put(name, ctx.buffer(weights.weight(name), cout, cin, 3, 3));
        bias.put(name, ctx.buffer(weights.bias(name), cout));
    }

    private void releasePlan() {
        for (ClBuffer b : act.values()) {
            b.close();
        }
        act.clear();
        for (ClBuffer[] pair : scratch.values()) {
            pair[0].close();
            pair[1].close();
        }
        scratch.clear();
        planH = planW = deepest = -1;
        unfused = Set.of();
        lastInput = null;
    }

    /** Releases the activations, scratch and weights on the device. */
    @Override
    public void close() {
        releasePlan();
        for (ClBuffer b : weight.values()) {
            b.close();
        }
        for (ClBuffer b : bias.values()) {
            b.close();
        }
        weight.clear();
        bias.clear();
    }
}
