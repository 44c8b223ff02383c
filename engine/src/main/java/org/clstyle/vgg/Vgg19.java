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
 * route the max-pool backward). The backward then writes its gradients over activations it no longer
 * needs, so it adds only about one scratch buffer per level shape (see {@link #walk}); activations are
 * therefore valid only until the next backward. Those buffers and the backward's scratch are allocated
 * once per plan (image size, tapped layers) and reused by every forward and backward with that plan: an
 * optimisation loop at one size allocates nothing after its first iteration. Weights are uploaded once,
 * only as deep as some plan needed.
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
    private final Map<List<Integer>, List<ClBuffer>> scratch = new HashMap<>(); // shape -> gradient buffers [shape]
    private ClBuffer lastInput;                      // [3, H, W], the caller's, not owned
    private Set<String> lastLayers = Set.of();       // the last forward's layers
    private boolean activationsClobbered;            // a backward ran since the last forward

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
        lastLayers = Set.copyOf(layers);
        activationsClobbered = false;
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

    /**
     * The output of {@code layer} from the last forward, [C, h, w]. A backward reuses the activation
     * buffers for gradients, so they hold the forward's values only between a forward and the next
     * backward (a backward source may read its own layer's activation while the walk is at that
     * layer). Asked for after a backward, this recomputes the forward from the last forward's input
     * buffer, which must still hold the same values; so does a second backward after one forward.
     */
    public ClBuffer activation(String layer) {
        ClBuffer b = kept(layer, "Vgg19.activation");
        if (activationsClobbered) {
            refresh();
        }
        return b;
    }

    /** {@code layer}'s activation buffer, checking that the last forward computed and kept it. */
    private ClBuffer kept(String layer, String where) {
        int i = VggLayers.index(layer);
        if (i < 0) {
            throw new IllegalArgumentException(VggLayers.unknownLayerMessage(where, layer));
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

    /** Recomputes the activations a backward overwrote: the last forward again, same input buffer and layers. */
    private void refresh() {
        forward(lastInput, lastLayers);
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
            ClBuffer a = kept(e.getKey(), "Vgg19.backward");
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
     * forward's, conv layers tapped (unfused) there. Overwrites {@code dInput}. Clobbers the
     * activations (see {@link #activation}): a source may read its own layer's activation, and only
     * while the walk is at that layer.
     */
    public void backwardFrom(Map<String, LayerGradient> sources, ClBuffer dInput /* [3, H, W] */) {
        if (lastInput == null) {
            throw new IllegalStateException("Vgg19.backward before any forward");
        }
        if (!Arrays.equals(dInput.shape(), lastInput.shape())) {
            throw new IllegalArgumentException("Vgg19.backward: dInput " + dInput + " does not match the input " + lastInput);
        }
        for (String l : sources.keySet()) {
            kept(l, "Vgg19.backward");
        }
        if (sources.isEmpty()) {
            vectors.fill(dInput, 0f);
            return;
        }
        if (activationsClobbered) {
            refresh(); // a second backward after one forward
        }
        walk(sources.keySet(), sources, dInput);
        activationsClobbered = true;
    }

    /**
     * The backward walk from the deepest of {@code sourceLayers}. With {@code sources} null it is a dry
     * run: it launches nothing and only allocates the scratch the real walk with the same source layers
     * will take, which is how {@link #reserveBackward} reserves it.
     *
     * <p>Memory: every gradient goes into a buffer whose content is no longer needed, preferably an
     * activation the walk has passed (or one nothing reads again, like a pool output that is no loss
     * layer: it only fed the next conv, whose input-gradient it then takes), else a scratch buffer.
     * A pool whose input is a ReLU output that no loss reads writes its gradient over that ReLU
     * output, already masked by it (Pool2x2's in-place masked backward); the conv below then needs no
     * mask. On the usual path this leaves one scratch buffer per level shape.
     */
    private void walk(Set<String> sourceLayers, Map<String, LayerGradient> sources, ClBuffer dInput) {
        boolean dry = sources == null;
        int start = -1;
        for (String l : sourceLayers) {
            start = Math.max(start, VggLayers.index(l));
        }
        ClBuffer g = null;       // d loss / d output of the layer being walked
        boolean masked = false;  // g already carries the mask of the ReLU the walk reaches next
        for (int i = start; i >= 0; i--) {
            String name = VggLayers.ALL.get(i);
            if (sourceLayers.contains(name)) {
                if (g == null) {
                    // Not the activation itself: the source reads it while writing g.
                    g = free(act.get(name).shape(), i, sourceLayers, act.get(name), null);
                    if (!dry) {
                        sources.get(name).writeInto(g, false);
                    }
                } else if (!dry) {
                    sources.get(name).writeInto(g, true);
                }
            }
            if (g == null) {
                continue;
            }
            if (name.startsWith("pool")) {
                String inName = VggLayers.ALL.get(i - 1);
                ClBuffer in = layerInput(i); // the block's last ReLU output, [C, h, w]
                if (inName.startsWith("relu") && !sourceLayers.contains(inName)) {
                    // Nothing reads that ReLU output after this but its own mask: overwrite it with the masked gradient.
                    if (!dry) {
                        if (pooling == Pooling.MAX) {
                            pool.maxBackwardMaskedInPlace(in, g);
                        } else {
                            pool.avgBackwardMaskedInPlace(in, g);
                        }
                    }
                    g = in;
                    masked = true;
                } else {
                    ClBuffer dx = free(in.shape(), i, sourceLayers, g, in);
                    if (!dry) {
                        if (pooling == Pooling.MAX) {
                            pool.maxBackward(in, g, dx);
                        } else {
                            pool.avgBackward(g, dx);
                        }
                    }
                    g = dx;
                }
            } else if (name.startsWith("relu")) {
                String convName = "conv" + name.substring(4);
                if (unfused.contains(convName)) {
                    if (!masked && !dry) {
                        relu.backward(act.get(name), g, g); // in place; the conv step follows
                    }
                    masked = false;
                } else {
                    // Fused conv+ReLU: one masked backward to the conv's input, then skip the conv's slot.
                    ClBuffer mask = masked ? null : act.get(name);
                    ClBuffer dx = i - 1 == 0 ? dInput : free(layerInput(i - 1).shape(), i - 1, sourceLayers, g, mask);
                    if (!dry) {
                        conv.backwardInput(g, weight.get(convName), mask, dx);
                    }
                    masked = false;
                    g = dx;
                    i--;
                }
            } else {
                ClBuffer dx = i == 0 ? dInput : free(layerInput(i).shape(), i, sourceLayers, g, null);
                if (!dry) {
                    conv.backwardInput(g, weight.get(name), null, dx);
                }
                g = dx;
            }
        }
    }

    /**
     * A buffer of {@code shape} that the walk may overwrite now, while at layer {@code at} (the lowest
     * layer of the current step), other than {@code busy} and {@code busy2} (what the current launch
     * reads). An activation is still needed if the walk will read it below {@code at}: a ReLU output
     * as its own mask, a max pool's input, a source's activation. Otherwise a scratch buffer, allocated
     * on first need (the dry run of {@link #reserveBackward} does that).
     */
    private ClBuffer free(int[] shape, int at, Set<String> sourceLayers, ClBuffer busy, ClBuffer busy2) {
        for (Map.Entry<String, ClBuffer> e : act.entrySet()) {
            ClBuffer b = e.getValue();
            if (b == busy || b == busy2 || !Arrays.equals(b.shape(), shape)) {
                continue;
            }
            int k = VggLayers.index(e.getKey());
            if (k >= at || !stillRead(e.getKey(), k, sourceLayers)) {
                return b;
            }
        }
        List<ClBuffer> list = scratch.computeIfAbsent(key(shape), s -> new ArrayList<>());
        for (ClBuffer b : list) {
            if (b != busy && b != busy2) {
                return b;
            }
        }
        ClBuffer b = ctx.buffer(shape);
        list.add(b);
        return b;
    }

    /** Whether the walk reads layer k's activation when it reaches layer k or k + 1 (k below the walk). */
    private boolean stillRead(String layer, int k, Set<String> sourceLayers) {
        if (sourceLayers.contains(layer) || layer.startsWith("relu")) {
            return true; // a source reads it; a ReLU output masks its gradient (or takes the pool's in place)
        }
        boolean feedsMaxPool = k + 1 < VggLayers.ALL.size() && VggLayers.ALL.get(k + 1).startsWith("pool")
                && pooling == Pooling.MAX;
        return feedsMaxPool;
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

    private static List<Integer> key(int[] shape) {
        List<Integer> k = new ArrayList<>(shape.length);
        for (int s : shape) {
            k.add(s);
        }
        return k;
    }

    /**
     * Allocates now the scratch a backward from the last forward's layers needs (a dry run of the
     * walk), so a loop that starts after this allocates nothing. A backward from other source layers
     * allocates what it lacks on its first run.
     */
    public void reserveBackward() {
        reserveBackward(lastLayers);
    }

    /**
     * As {@link #reserveBackward()}, for a backward whose gradients come from {@code sourceLayers}
     * (some of the last forward's layers: a loss term with weight 0 adds no gradient).
     */
    public void reserveBackward(Set<String> sourceLayers) {
        if (lastInput == null) {
            throw new IllegalStateException("Vgg19.reserveBackward before any forward");
        }
        if (!sourceLayers.isEmpty()) {
            walk(Set.copyOf(sourceLayers), null, null);
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
        ClBuffer w = ctx.buffer(weights.weight(name), cout, cin, 3, 3); // [Cout, Cin, 3, 3]
        conv.prepare(w);
        if (!conv.readsWeights(cin, cout)) {
            // The CPU kernels read only their packed copies: the raw weights need not stay on the device
            // (49 MiB for VGG19 to conv5_1). The closed buffer stays as the packed copies' key.
            w.close();
        }
        weight.put(name, w);
        bias.put(name, ctx.buffer(weights.bias(name), cout));
    }

    private void releasePlan() {
        for (ClBuffer b : act.values()) {
            b.close();
        }
        act.clear();
        for (List<ClBuffer> list : scratch.values()) {
            list.forEach(ClBuffer::close);
        }
        scratch.clear();
        planH = planW = deepest = -1;
        unfused = Set.of();
        lastInput = null;
        lastLayers = Set.of();
    }

    /** Releases the activations, scratch and weights on the device. */
    @Override
    public void close() {
        releasePlan();
        for (ClBuffer b : weight.values()) {
            conv.forget(b);
            b.close();
        }
        for (ClBuffer b : bias.values()) {
            b.close();
        }
        weight.clear();
        bias.clear();
    }
}
