package org.clstyle.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.HalfConversion;
import org.clstyle.ops.OpSettings;
import org.clstyle.ops.Pool2x2;
import org.clstyle.ops.Relu;
import org.clstyle.ops.VectorOps;

/**
 * A {@link Network} on the device: forward to the deepest node a caller reads, keeping every node the
 * caller names, and backward from per-node gradients to the network input. It runs chains of the layer
 * kinds the loss networks use (3x3 stride-1 zero-padded {@link Layer.Conv2d}, {@link Layer.Relu}, 2x2
 * {@link Layer.Pool2d}); the constructor refuses any other network with a message naming the node.
 *
 * <p>Which outputs exist is decided per plan (image size, requested nodes), from the table alone:
 * <ul>
 * <li>A requested node always has its own buffer holding exactly its output. A Conv2d whose only reader
 *     is a ReLU runs fused with it (one launch, no buffer for the pre-activation) only when the Conv2d's
 *     own output is not requested; requested, it writes its own buffer and the ReLU reads it.</li>
 * <li>Every ReLU and pool output gets a buffer (ReLU outputs mask the backward, a max pool's input
 *     routes its backward).</li>
 * </ul>
 * The backward writes its gradients over activations it no longer needs (see {@link #walk}), so it adds
 * only about one scratch buffer per level shape; activations are therefore valid only until the next
 * backward. Buffers are allocated once per plan and reused by every forward and backward with that plan:
 * an optimisation loop at one size allocates nothing after its first iteration. Parameters are uploaded
 * once, only as deep as some plan needed.
 *
 * <p>{@link Storage#HALF} stores the activations as IEEE half (half their memory; every op computes in
 * float): the input is converted once per forward, each conv, ReLU and pool reads and writes half
 * (their per-element GPU kernels, on every device), {@link #activation} hands the caller a float copy,
 * and gradients stay float, so the backward never writes into an activation buffer. Not combined with
 * {@link #keepAfter} or {@link #checkpointAfter} (a tiled loss's copies are float only).
 */
public final class DeviceNetwork implements AutoCloseable {
    /** How the activations are stored: float32 (the default, exact) or IEEE half (an option, see the class comment). */
    public enum Storage {
        FLOAT, HALF;

        /** The storage named by {@code text} ("float" or "half", any case). */
        public static Storage parse(String text) {
            for (Storage s : values()) {
                if (s.name().equalsIgnoreCase(text.trim())) {
                    return s;
                }
            }
            throw new IllegalArgumentException("must be float or half, not '" + text + "'");
        }
    }

    private final ClContext ctx;
    private final Network network;
    private final List<Node> nodes;
    private final Parameters parameters;
    private final Conv3x3 conv;
    private final Relu relu;
    private final Pool2x2 pool;
    private final VectorOps vectors;
    private final boolean half;                     // Storage.HALF
    private final HalfConversion halfConversion;    // HALF: the input in, the activations out
    private final Map<List<Integer>, ClBuffer> floatCopy = new HashMap<>(); // HALF: shape -> float copy activation() made when no scratch was free
    private ClBuffer walkGradient;                  // HALF: the walk's gradient while a source writes it (activation() must not hand it out)
    private final Map<String, ClBuffer> weight = new HashMap<>(); // conv node -> [Cout, Cin, 3, 3]
    private final Map<String, ClBuffer> bias = new HashMap<>();   // conv node -> [Cout]

    // The current plan.
    private int planH = -1, planW = -1;
    private int deepest = -1;                       // node index
    private Set<String> requested = Set.of();       // nodes the last plan was made for
    private final Map<String, ClBuffer> act = new LinkedHashMap<>();        // node -> output [C, h, w]
    private final Map<List<Integer>, List<ClBuffer>> scratch = new HashMap<>(); // shape -> gradient buffers [shape] of this plan
    // The memory behind act and scratch. A plan change that keeps the nodes (a tiled loss's tiles of several
    // sizes) keeps these and views them with the new shapes, growing only a buffer that is too small.
    private final Map<String, ClBuffer> backing = new HashMap<>();            // node -> owned buffer
    private final List<ClBuffer> scratchPool = new ArrayList<>();             // owned scratch buffers, [n] each, in the walk's order
    private int scratchUsed;                                                  // slots of scratchPool this plan has taken
    private ClBuffer lastInput;                      // [C, H, W], the caller's, not owned
    private Set<String> lastNodes = Set.of();        // the last forward's requested nodes
    private boolean activationsClobbered;            // a backward ran since the last forward
    // Kept activations (see keepAfter): nodes after keptFrom - 1 get one buffer set per slot.
    private int keptFrom = Integer.MAX_VALUE;        // index of the first node whose output is per slot
    private int slot;                                // the slot this plan's per-slot nodes use
    private int planSlot = -1;                       // the slot the current act views were made for
    private final Map<Integer, Boolean> slotHolds = new HashMap<>(); // slot -> its kept outputs hold a complete forward
    // Checkpoints (see checkpointAfter): the network runs in segments that share their buffers.
    private int[] segEnds;                           // index of each boundary node (a segment's last), ascending; null: off
    private int planSegment = -1;                    // the segment the current act views were made for
    private int segRan = -1, segRanSlot = -1;        // the segment (and slot) whose activations the buffers hold
    private int walkStart;                           // the first node of the range the walk covers (0 without segments)
    private ClBuffer walkInput;                      // [C, h, w] what feeds node walkStart
    private final ClBuffer[] dCheck = new ClBuffer[2]; // owned: d loss / d a segment's input, alternating

    /**
     * {@code network} on {@code ctx} with {@code parameters}; its ops run with {@code tuning} (the device's
     * tuned kernel settings, chosen above this layer: tune.TuningTable, or {@link OpSettings#NONE} for the ops'
     * defaults).
     */
    public DeviceNetwork(ClContext ctx, Network network, Parameters parameters, OpSettings tuning) {
        this(ctx, network, parameters, tuning, Storage.FLOAT);
    }

    /** As {@link #DeviceNetwork(ClContext, Network, Parameters, OpSettings)} with its activations stored as {@code storage}. */
    public DeviceNetwork(ClContext ctx, Network network, Parameters parameters, OpSettings tuning, Storage storage) {
        this.ctx = ctx;
        this.half = storage == Storage.HALF;
        this.network = network;
        this.nodes = network.nodes();
        this.parameters = parameters;
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            String expectedInput = i == 0 ? Network.INPUT : nodes.get(i - 1).name();
            if (!n.input().equals(expectedInput)) {
                throw new IllegalArgumentException(network.name() + ": DeviceNetwork runs chains; " + n.name()
                        + " reads " + n.input() + ", not " + expectedInput);
            }
            Layer l = n.layer();
            boolean supported = l instanceof Layer.Relu
                    || (l instanceof Layer.Conv2d c && c.kernel() == 3 && c.stride() == 1 && c.padding() == 1)
                    || (l instanceof Layer.Pool2d p && p.size() == 2);
            if (!supported) {
                throw new IllegalArgumentException(network.name() + ": DeviceNetwork has no kernel for " + n.name() + " (" + l + ")");
            }
        }
        this.conv = new Conv3x3(ctx, tuning);
        this.relu = new Relu(ctx, tuning);
        this.pool = new Pool2x2(ctx, tuning);
        this.vectors = new VectorOps(ctx);
        this.halfConversion = half ? new HalfConversion(ctx) : null;
    }

    /** How this network stores its activations. */
    public Storage storage() {
        return half ? Storage.HALF : Storage.FLOAT;
    }

    public Network network() {
        return network;
    }

    /**
     * Forward as deep as the deepest of {@code outputs}; each of them keeps its exact output, so
     * {@link #activation} and {@link #backwardFrom} can use them.
     */
    public void forward(ClBuffer input /* [C, H, W] */, Collection<String> outputs) {
        forward(input, outputs, null);
    }

    /**
     * As {@link #forward(ClBuffer, Collection)}, calling {@code ready} with each output node while its
     * activation is readable: at the end, or with checkpoints ({@link #checkpointAfter}) right after the
     * output's segment ran (a later segment overwrites it).
     */
    public void forward(ClBuffer input /* [C, H, W] */, Collection<String> outputs, java.util.function.Consumer<String> ready) {
        checkInput(input, "forward");
        if (outputs.isEmpty()) {
            throw new IllegalArgumentException(network.name() + ".forward: no layer to compute");
        }
        int deep = network.indexOf(network.deepest(outputs));
        if (segEnds == null) {
            run(input, outputs, deep, deep);
            if (ready != null) {
                outputs.stream().sorted((a, b) -> Integer.compare(network.indexOf(a), network.indexOf(b))).forEach(ready);
            }
            return;
        }
        lastInput = input;
        lastNodes = Set.copyOf(outputs);
        activationsClobbered = false;
        slotHolds.put(slot, false); // until the last segment ran
        for (int sg = 0; sg <= segmentOf(deep); sg++) {
            runSegment(sg, deep);
            if (ready != null) {
                for (int i = segStart(sg); i <= segEnd(sg, deep); i++) {
                    if (lastNodes.contains(nodes.get(i).name())) {
                        ready.accept(nodes.get(i).name());
                    }
                }
            }
        }
        slotHolds.put(slot, true);
    }

    /**
     * Runs the network in segments that end at {@code boundaries} (pool nodes, in forward order; empty or
     * null: off, the default), all segments sharing one set of buffers: a forward keeps only each
     * boundary's output (a checkpoint, per slot: {@link #useSlot}) and the last segment's activations,
     * and {@link #backwardFrom(ClBuffer, Collection, Map, ClBuffer)} recomputes every segment from its
     * checkpoint just before walking back through it. Device memory: the largest segment's activations
     * instead of all of them, plus the checkpoints, for one more forward per backward. A tiled loss's
     * second pass recomputes its tiles' forwards anyway, so there it costs only the checkpoint copies.
     * Not combined with {@link #keepAfter}.
     */
    public void checkpointAfter(List<String> boundaries) {
        if (half && boundaries != null && !boundaries.isEmpty()) {
            throw new IllegalStateException(network.name() + ": checkpoints are not supported with half storage");
        }
        int[] ends = null;
        if (boundaries != null && !boundaries.isEmpty()) {
            if (keptFrom != Integer.MAX_VALUE) {
                throw new IllegalStateException(network.name() + ": checkpoints and kept outputs (keepAfter) do not combine");
            }
            ends = new int[boundaries.size()];
            for (int k = 0; k < ends.length; k++) {
                String b = boundaries.get(k);
                int i = network.indexOf(b);
                if (i < 0) {
                    throw new IllegalArgumentException(network.name() + ".checkpointAfter: " + network.unknownNodeMessage(b));
                }
                if (!(nodes.get(i).layer() instanceof Layer.Pool2d)) {
                    throw new IllegalArgumentException(network.name() + ".checkpointAfter: " + b + " is not a pool");
                }
                if (k > 0 && i <= ends[k - 1]) {
                    throw new IllegalArgumentException(network.name() + ".checkpointAfter: boundaries must be in forward order");
                }
                ends[k] = i;
            }
        }
        if (!Arrays.equals(ends, segEnds)) {
            releasePlan();
            segEnds = ends;
        }
    }

    /** Refuses an input that is not [C, H, W] with the network's C, naming the method {@code where}. */
    private void checkInput(ClBuffer input, String where) {
        if (input.shape().length != 3 || input.dim(0) != network.inputChannels()) {
            throw new IllegalArgumentException(network.name() + "." + where + ": input must be [" + network.inputChannels()
                    + ", H, W], got " + input);
        }
    }

    /** The backing key of boundary {@code node}'s output in this slot: its checkpoint (checkpoints on). */
    private String checkpointKey(String node) {
        return "ck:" + node + "#" + slot;
    }

    /** The segment holding node i (checkpoints on). */
    private int segmentOf(int i) {
        int sg = 0;
        while (sg < segEnds.length && segEnds[sg] < i) {
            sg++;
        }
        return sg;
    }

    private int segStart(int sg) {
        return sg == 0 ? 0 : segEnds[sg - 1] + 1;
    }

    private int segEnd(int sg, int deep) {
        return sg < segEnds.length ? Math.min(segEnds[sg], deep) : deep;
    }

    /** The buffer feeding segment sg: the network input, or the previous boundary's checkpoint of this slot. */
    private ClBuffer segmentInput(int sg) {
        if (sg == 0) {
            return lastInput;
        }
        String prev = nodes.get(segEnds[sg - 1]).name();
        return backed(checkpointKey(prev), network.shapes(planH, planW, prev).get(prev));
    }

    /** Forward through segment sg of a plan reaching node deep (lastInput and lastNodes set), views made first. */
    private void runSegment(int sg, int deep) {
        planSegment(lastInput.dim(1), lastInput.dim(2), deep, lastNodes, sg);
        int a = segStart(sg), e = segEnd(sg, deep);
        ClBuffer x = segmentInput(sg);
        forwardNodes(a, e, x);
        segRan = sg;
        segRanSlot = slot;
    }

    /**
     * As {@link #forward(ClBuffer, Collection)} but computing only the nodes up to {@code upTo} (inclusive):
     * the outputs of the later nodes are the current slot's kept ones (see {@link #keepAfter}), which must
     * hold a forward of this same input (the slot's last {@link #forward(ClBuffer, Collection)}, with no
     * backward in the slot since). This is how a tiled loss's second pass recomputes only the shallow
     * part of a tile.
     */
    public void forwardUpTo(ClBuffer input /* [C, H, W] */, Collection<String> outputs, String upTo) {
        checkInput(input, "forwardUpTo");
        int deep = network.indexOf(network.deepest(outputs));
        int stop = network.indexOf(upTo);
        if (stop < 0) {
            throw new IllegalArgumentException(network.name() + ".forwardUpTo: " + network.unknownNodeMessage(upTo));
        }
        if (stop < deep && stop + 1 != keptFrom) {
            throw new IllegalStateException(network.name() + ".forwardUpTo " + upTo + ": the outputs after it are not kept per slot"
                    + (keptFrom == Integer.MAX_VALUE ? "" : " (they are after " + nodes.get(keptFrom - 1).name() + ")"));
        }
        if (stop < deep && !slotHolds.getOrDefault(slot, false)) {
            throw new IllegalStateException(network.name() + ".forwardUpTo: slot " + slot + " holds no complete forward");
        }
        run(input, outputs, deep, Math.min(stop, deep));
    }

    /**
     * Gives every node after {@code node} one set of output buffers per slot (null: none, the default),
     * so that several inputs' deep activations stay on the device at once, each in its slot
     * ({@link #useSlot}); the nodes up to {@code node} share one set. A tiled loss keeps each tile's deep
     * activations from its first pass this way and recomputes only the shallow part in its second
     * ({@link #forwardUpTo}). Memory: the deep outputs once per slot used, each sized for its own input.
     */
    public void keepAfter(String node) {
        int k = node == null ? Integer.MAX_VALUE : network.indexOf(node) + 1;
        if (half && node != null) {
            throw new IllegalStateException(network.name() + ": kept outputs (keepAfter) are not supported with half storage");
        }
        if (node != null && k == 0) {
            throw new IllegalArgumentException(network.name() + ".keepAfter: " + network.unknownNodeMessage(node));
        }
        if (node != null && segEnds != null) {
            throw new IllegalStateException(network.name() + ": kept outputs and checkpoints (checkpointAfter) do not combine");
        }
        if (node != null && network.node(node).layer() instanceof Layer.Conv2d) {
            throw new IllegalArgumentException(network.name() + ".keepAfter: " + node + " is a convolution (it may run fused with"
                    + " the ReLU after it); keep after a ReLU or a pool");
        }
        if (k != keptFrom) {
            releasePlan();
            keptFrom = k;
        }
    }

    /** Selects the slot whose kept outputs the next forward, {@link #forwardUpTo} and backward use (0 at first). */
    public void useSlot(int s) {
        if (s < 0) {
            throw new IllegalArgumentException("slot " + s);
        }
        slot = s;
    }

    /** Computes nodes 0..last of a plan reaching node {@code deep}. */
    private void run(ClBuffer input, Collection<String> outputs, int deep, int last) {
        plan(input.dim(1), input.dim(2), deep, Set.copyOf(outputs));
        lastInput = input;
        lastNodes = Set.copyOf(outputs);
        activationsClobbered = false;
        if (last == deep) {
            slotHolds.put(slot, true);
        }
        forwardNodes(0, last, half ? halfInput(input) : input);
    }

    /** HALF: the input converted to half, in a buffer of this plan. */
    private ClBuffer halfInput(ClBuffer input) {
        ClBuffer b = backed("input#half", input.shape());
        halfConversion.toHalf(input, b);
        return b;
    }

    /** Runs nodes a..e (inclusive) of the current plan, node a reading x. */
    private void forwardNodes(int a, int e, ClBuffer x) {
        for (int i = a; i <= e; i++) {
            Node n = nodes.get(i);
            Layer l = n.layer();
            if (l instanceof Layer.Conv2d) {
                if (fusedWithRelu(i)) {
                    Node r = nodes.get(i + 1); // (a kept boundary is never between a conv and its fused ReLU)
                    conv.forward(x, weight.get(n.name()), bias.get(n.name()), act.get(r.name()), true);
                    x = act.get(r.name());
                    i++; // the ReLU ran with the conv
                } else {
                    conv.forward(x, weight.get(n.name()), bias.get(n.name()), act.get(n.name()), false);
                    x = act.get(n.name());
                }
            } else if (l instanceof Layer.Relu) {
                relu.forward(x, act.get(n.name()));
                x = act.get(n.name());
            } else if (l instanceof Layer.Pool2d p) {
                if (p.kind() == Layer.PoolKind.MAX) {
                    pool.maxForward(x, act.get(n.name()));
                } else {
                    pool.avgForward(x, act.get(n.name()));
                }
                x = act.get(n.name());
            }
        }
    }

    /**
     * Whether node i (a Conv2d) runs fused with the ReLU after it in the current plan: only when that ReLU
     * is computed and the conv's own output is not requested (the fused launch never writes it).
     */
    private boolean fusedWithRelu(int i) {
        return i + 1 <= deepest && nodes.get(i + 1).layer() instanceof Layer.Relu && !requested.contains(nodes.get(i).name());
    }

    /**
     * The output of {@code node} from the last forward, [C, h, w]. A backward reuses the activation
     * buffers for gradients, so they hold the forward's values only between a forward and the next
     * backward (a backward source may read its own node's activation while the walk is at that node).
     * Asked for after a backward, this recomputes the forward from the last forward's input buffer,
     * which must still hold the same values; so does a second backward after one forward.
     * With {@link Storage#HALF} it returns a float copy made by this call, valid until the next call for
     * an activation of the same shape or the next backward: read it right away (the losses do).
     */
    public ClBuffer activation(String node) {
        ClBuffer b = kept(node, "activation");
        if (activationsClobbered) {
            refresh();
            b = kept(node, "activation");
        }
        if (segEnds != null && segmentOf(network.indexOf(node)) != planSegment) {
            throw new IllegalStateException(node + " was overwritten by a later segment: with checkpoints, read it in the forward's"
                    + " callback or while the backward walk is at it");
        }
        if (half) {
            // A float copy of the half activation, made at each call: the loss kernels read float.
            ClBuffer a = act.get(node);
            ClBuffer f = floatCopyBuffer(a.shape());
            halfConversion.toFloat(a, f);
            return f;
        }
        return act.get(node);
    }

    /**
     * HALF: where {@link #activation} puts a float copy of {@code shape}. It is valid until the next call
     * for that shape, or until the walk uses it again: it is a gradient scratch buffer of the shape,
     * which holds nothing between a forward and the backward walk, nor while a source reads its node's
     * activation (other than the gradient it writes, {@link #walkGradient}). Only when the plan has no
     * such buffer (no backward reserved; the deepest source's own node) does it take a buffer of its own.
     */
    private ClBuffer floatCopyBuffer(int[] shape) {
        for (ClBuffer b : scratch.getOrDefault(key(shape), List.of())) {
            if (b != walkGradient) {
                return b;
            }
        }
        ClBuffer f = floatCopy.get(key(shape));
        if (f == null) {
            f = ctx.buffer(shape);
            floatCopy.put(key(shape), f);
        }
        return f;
    }

    /** {@code node}'s activation buffer, checking that the last forward computed and kept it. */
    private ClBuffer kept(String node, String where) {
        int i = network.indexOf(node);
        if (i < 0) {
            throw new IllegalArgumentException(network.name() + "." + where + ": " + network.unknownNodeMessage(node));
        }
        if (i > deepest) {
            throw new IllegalStateException(node + " was not computed: the last forward stopped at "
                    + (deepest < 0 ? "nothing" : nodes.get(deepest).name()));
        }
        if (!requested.contains(node)) {
            throw new IllegalStateException(node + " was not requested by the last forward: name it in the forward's outputs");
        }
        return act.get(node); // null with checkpoints when the node's segment is not the current one
    }

    /** Recomputes the activations a backward overwrote: the last forward again, same input buffer and nodes. */
    private void refresh() {
        forward(lastInput, lastNodes);
    }

    /** The shape of {@code node}'s output for an input of h x w, [C, h', w']. */
    public int[] shape(String node, int h, int w) {
        if (network.indexOf(node) < 0) {
            throw new IllegalArgumentException(network.name() + ".shape: " + network.unknownNodeMessage(node));
        }
        return network.shapes(h, w, node).get(node);
    }

    /**
     * What a loss adds at one node during the backward walk: d loss / d that node's output, written
     * into {@code grad} (shaped like {@link #activation}) or added to it when {@code accumulate}.
     * Producing it straight into the walk's buffer saves a buffer and a copy per loss node.
     */
    @FunctionalInterface
    public interface NodeGradient {
        void writeInto(ClBuffer grad, boolean accumulate);
    }

    /**
     * d loss / d network input from precomputed per-node gradients (node -> d loss / d its output,
     * shaped like {@link #activation}); the buffers are read, not changed.
     */
    public void backward(Map<String, ClBuffer> nodeGradients, ClBuffer dInput /* [C, H, W] */) {
        if (lastInput == null) {
            throw new IllegalStateException(network.name() + ".backward before any forward");
        }
        Map<String, NodeGradient> sources = new LinkedHashMap<>();
        for (Map.Entry<String, ClBuffer> e : nodeGradients.entrySet()) {
            ClBuffer b = e.getValue();
            kept(e.getKey(), "backward");
            int[] want = shape(e.getKey(), lastInput.dim(1), lastInput.dim(2));
            if (!Arrays.equals(want, b.shape())) {
                throw new IllegalArgumentException(network.name() + ".backward: gradient for " + e.getKey() + " is " + b
                        + ", the activation is " + Arrays.toString(want));
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
     * d loss / d network input, walking back from the deepest node in {@code sources} and asking each
     * source for its gradient when the walk reaches its node; the nodes must be among the last
     * forward's outputs. Overwrites {@code dInput}. Clobbers the activations (see {@link #activation}):
     * a source may read its own node's activation, and only while the walk is at that node.
     */
    public void backwardFrom(Map<String, NodeGradient> sources, ClBuffer dInput /* [C, H, W] */) {
        if (lastInput == null) {
            throw new IllegalStateException(network.name() + ".backward before any forward");
        }
        if (!Arrays.equals(dInput.shape(), lastInput.shape())) {
            throw new IllegalArgumentException(network.name() + ".backward: dInput " + dInput + " does not match the input " + lastInput);
        }
        for (String n : sources.keySet()) {
            kept(n, "backward");
        }
        if (sources.isEmpty()) {
            vectors.fill(dInput, 0f);
            return;
        }
        if (activationsClobbered) {
            refresh(); // a second backward after one forward
        }
        if (segEnds != null) {
            segmentedWalk(sources.keySet(), sources, dInput);
        } else {
            walkStart = 0;
            walkInput = lastInput;
            walk(sources.keySet(), sources, dInput);
        }
        activationsClobbered = true;
        slotHolds.put(slot, false);
    }

    /**
     * The backward of this slot's last forward of {@code input} with {@code outputs}: with checkpoints
     * ({@link #checkpointAfter}) from the slot's checkpoints, recomputing each segment just before
     * walking back through it, so other inputs may have run forward in other slots since; otherwise a
     * forward of {@code input} and then {@link #backwardFrom(Map, ClBuffer)}.
     */
    public void backwardFrom(ClBuffer input /* [C, H, W] */, Collection<String> outputs, Map<String, NodeGradient> sources,
            ClBuffer dInput /* [C, H, W] */) {
        if (segEnds == null) {
            forward(input, outputs);
            backwardFrom(sources, dInput);
            return;
        }
        if (!slotHolds.getOrDefault(slot, false)) {
            throw new IllegalStateException(network.name() + ".backwardFrom: slot " + slot + " holds no complete forward");
        }
        if (lastInput != input || !lastNodes.equals(Set.copyOf(outputs))) {
            segRan = -1; // the live segment is another input's
        }
        lastInput = input;
        lastNodes = Set.copyOf(outputs);
        activationsClobbered = false;
        backwardFrom(sources, dInput);
    }

    /**
     * The walk with checkpoints: from the segment of the deepest source down to the first, each segment
     * recomputed from its input (unless its activations are live) and walked back to its input, the
     * gradient at its input carried to the segment before as a source at that segment's last node. With
     * {@code sources} null, a dry run (see {@link #walk}).
     */
    private void segmentedWalk(Set<String> sourceNodes, Map<String, NodeGradient> sources, ClBuffer dInput) {
        boolean dry = sources == null;
        int deep = network.indexOf(network.deepest(lastNodes));
        int top = -1;
        for (String n : sourceNodes) {
            top = Math.max(top, network.indexOf(n));
        }
        ClBuffer carried = null; // d loss / d the input of the segment after this one
        for (int sg = segmentOf(top); sg >= 0; sg--) {
            int a = segStart(sg), e = segEnd(sg, deep);
            boolean live = segRan == sg && segRanSlot == slot && !activationsClobbered;
            if (dry || live) {
                planSegment(lastInput.dim(1), lastInput.dim(2), deep, lastNodes, sg);
            } else {
                runSegment(sg, deep);
            }
            Set<String> srcNodes = new java.util.HashSet<>();
            Map<String, NodeGradient> src = new LinkedHashMap<>();
            for (String n : sourceNodes) {
                int i = network.indexOf(n);
                if (i >= a && i <= e) {
                    srcNodes.add(n);
                    if (!dry) {
                        src.put(n, sources.get(n));
                    }
                }
            }
            if (carried != null) {
                String b = nodes.get(e).name();
                srcNodes.add(b);
                if (!dry) {
                    NodeGradient own = src.get(b);
                    ClBuffer c = carried;
                    src.put(b, (g, accumulate) -> {
                        boolean acc = accumulate;
                        if (own != null) {
                            own.writeInto(g, acc);
                            acc = true;
                        }
                        if (acc) {
                            vectors.axpy(1f, c, g);
                        } else {
                            vectors.copy(c, g);
                        }
                    });
                }
            }
            ClBuffer in = segmentInput(sg);
            ClBuffer dSeg = sg == 0 ? dInput : dCheck(sg % 2, in.shape());
            walkStart = a;
            walkInput = in;
            walk(srcNodes, dry ? null : src, dSeg);
            segRan = -1; // the walk overwrote activations with gradients
            carried = dSeg;
        }
        walkStart = 0;
        walkInput = null;
    }

    /** Owned buffer k (0 or 1) for d loss / d a segment's input, viewed with {@code shape}; grows, never shrinks. */
    private ClBuffer dCheck(int k, int[] shape) {
        long need = elements(shape);
        if (dCheck[k] == null || dCheck[k].elements() < need) {
            if (dCheck[k] != null) {
                dCheck[k].close();
            }
            dCheck[k] = ctx.buffer(Math.toIntExact(need));
        }
        return dCheck[k].view(shape);
    }

    /**
     * The backward walk from the deepest of {@code sourceNodes}. With {@code sources} null it is a dry
     * run: it launches nothing and only allocates the scratch the real walk with the same source nodes
     * will take, which is how {@link #reserveBackward} reserves it.
     *
     * <p>Memory: every gradient goes into a buffer whose content is no longer needed, preferably an
     * activation the walk has passed (or one nothing reads again, like a pool output that is no source:
     * it only fed the next conv, whose input-gradient it then takes), else a scratch buffer. A pool
     * whose input is a ReLU output that no source reads writes its gradient over that ReLU output,
     * already masked by it (Pool2x2's in-place masked backward); the conv below then needs no mask. On
     * the usual path this leaves one scratch buffer per level shape.
     */
    private void walk(Set<String> sourceNodes, Map<String, NodeGradient> sources, ClBuffer dInput) {
        boolean dry = sources == null;
        int start = -1;
        for (String n : sourceNodes) {
            start = Math.max(start, network.indexOf(n));
        }
        ClBuffer g = null;       // d loss / d output of the node being walked
        boolean masked = false;  // g already carries the mask of the ReLU the walk reaches next
        int a = walkStart;
        for (int i = start; i >= a; i--) {
            Node n = nodes.get(i);
            String name = n.name();
            if (sourceNodes.contains(name)) {
                if (g == null) {
                    // Not the activation itself: the source reads it while writing g.
                    g = free(act.get(name).shape(), i, sourceNodes, act.get(name), null);
                    if (!dry) {
                        walkGradient = g;
                        sources.get(name).writeInto(g, false);
                    }
                } else if (!dry) {
                    walkGradient = g;
                    sources.get(name).writeInto(g, true);
                }
                walkGradient = null;
            }
            if (g == null) {
                continue;
            }
            Layer l = n.layer();
            if (l instanceof Layer.Pool2d p) {
                Node inNode = nodes.get(i - 1 >= 0 ? i - 1 : 0);
                ClBuffer in = layerInput(i); // [C, h, w]
                boolean max = p.kind() == Layer.PoolKind.MAX;
                boolean reluBelow = i > a && inNode.layer() instanceof Layer.Relu && !sourceNodes.contains(inNode.name());
                if (reluBelow && !half) {
                    // Nothing reads that ReLU output after this but its own mask: overwrite it with the masked gradient.
                    if (!dry) {
                        if (max) {
                            pool.maxBackwardMaskedInPlace(in, g);
                        } else {
                            pool.avgBackwardMaskedInPlace(in, g);
                        }
                    }
                    g = in;
                    masked = true;
                } else {
                    ClBuffer dx = i == a ? dInput : free(in.shape(), i, sourceNodes, g, in);
                    if (!dry) {
                        if (max) {
                            pool.maxBackward(in, g, dx);
                        } else {
                            pool.avgBackward(g, dx);
                        }
                        if (reluBelow) {
                            // Half storage: the gradient cannot go into the half ReLU output, so its mask follows here.
                            relu.backward(in, dx, dx);
                        }
                    }
                    g = dx;
                    if (reluBelow) {
                        masked = true;
                    }
                }
            } else if (l instanceof Layer.Relu) {
                Node below = nodes.get(i - 1 >= 0 ? i - 1 : 0);
                boolean fused = i > a && below.layer() instanceof Layer.Conv2d && fusedWithRelu(i - 1);
                if (!fused) {
                    if (!masked && !dry) {
                        relu.backward(act.get(name), g, g); // in place; the layer below reads g next
                    }
                    masked = false;
                } else {
                    // Fused conv+ReLU: one masked backward to the conv's input, then skip the conv's slot.
                    ClBuffer mask = masked ? null : act.get(name);
                    ClBuffer dx = i - 1 == a ? dInput : free(layerInput(i - 1).shape(), i - 1, sourceNodes, g, mask);
                    if (!dry) {
                        conv.backwardInput(g, weight.get(below.name()), mask, dx);
                    }
                    masked = false;
                    g = dx;
                    i--;
                }
            } else {
                ClBuffer dx = i == a ? dInput : free(layerInput(i).shape(), i, sourceNodes, g, null);
                if (!dry) {
                    conv.backwardInput(g, weight.get(name), null, dx);
                }
                g = dx;
            }
        }
    }

    /**
     * A buffer of {@code shape} that the walk may overwrite now, while at node {@code at} (the lowest
     * node of the current step), other than {@code busy} and {@code busy2} (what the current launch
     * reads). An activation is still needed if the walk will read it below {@code at}: a ReLU output
     * as its own mask, a max pool's input, a source's activation. Otherwise a scratch buffer, allocated
     * on first need (the dry run of {@link #reserveBackward} does that).
     */
    private ClBuffer free(int[] shape, int at, Set<String> sourceNodes, ClBuffer busy, ClBuffer busy2) {
        for (Map.Entry<String, ClBuffer> e : act.entrySet()) {
            ClBuffer b = e.getValue();
            if (b == busy || b == busy2 || b.isHalf() || !Arrays.equals(b.shape(), shape)) {
                continue; // (a half activation cannot hold a gradient)
            }
            int k = network.indexOf(e.getKey());
            if (k >= at || !stillRead(k, sourceNodes)) {
                return b;
            }
        }
        List<ClBuffer> list = scratch.computeIfAbsent(key(shape), s -> new ArrayList<>());
        for (ClBuffer b : list) {
            if (b != busy && b != busy2) {
                return b;
            }
        }
        // The plan's next scratch slot: the walk asks for its scratch in the same order at every size, so
        // slot k serves the same role each time and grows only when a size needs more than it held.
        long need = elements(shape);
        ClBuffer slot;
        if (scratchUsed < scratchPool.size() && scratchPool.get(scratchUsed).elements() >= need) {
            slot = scratchPool.get(scratchUsed);
        } else {
            if (scratchUsed < scratchPool.size()) {
                scratchPool.get(scratchUsed).close(); // first, so that the old and the new never count together
                slot = ctx.buffer(Math.toIntExact(need));
                scratchPool.set(scratchUsed, slot);
            } else {
                slot = ctx.buffer(Math.toIntExact(need));
                scratchPool.add(slot);
            }
        }
        scratchUsed++;
        ClBuffer b = slot.view(shape);
        list.add(b);
        return b;
    }

    private static long elements(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    /** Whether the walk reads node k's activation when it reaches node k or k + 1 (k below the walk). */
    private boolean stillRead(int k, Set<String> sourceNodes) {
        Node n = nodes.get(k);
        if (sourceNodes.contains(n.name()) || n.layer() instanceof Layer.Relu) {
            return true; // a source reads it; a ReLU output masks its gradient (or takes the pool's in place)
        }
        return k + 1 < nodes.size() && nodes.get(k + 1).layer() instanceof Layer.Pool2d p && p.kind() == Layer.PoolKind.MAX;
    }

    /** The buffer feeding node i (i > 0): the previous node's output (never a fused conv's, which has none). */
    private ClBuffer layerInput(int i) {
        if (i == walkStart && walkInput != null) {
            return walkInput;
        }
        String prev = nodes.get(i - 1).name();
        ClBuffer b = act.get(prev);
        if (b == null) {
            throw new IllegalStateException("no kept output for " + prev); // a fused conv never feeds a node
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
     * Allocates now the scratch a backward from the last forward's outputs needs (a dry run of the
     * walk), so a loop that starts after this allocates nothing. A backward from other source nodes
     * allocates what it lacks on its first run.
     */
    public void reserveBackward() {
        reserveBackward(lastNodes);
    }

    /**
     * As {@link #reserveBackward()}, for a backward whose gradients come from {@code sourceNodes} (some
     * of the last forward's outputs: a loss term with weight 0 adds no gradient).
     */
    public void reserveBackward(Set<String> sourceNodes) {
        if (lastInput == null) {
            throw new IllegalStateException(network.name() + ".reserveBackward before any forward");
        }
        if (sourceNodes.isEmpty()) {
            return;
        }
        if (segEnds != null) {
            segmentedWalk(Set.copyOf(sourceNodes), null, null);
        } else {
            walkStart = 0;
            walkInput = lastInput;
            walk(Set.copyOf(sourceNodes), null, null);
        }
    }

    /**
     * Makes the buffers for this plan, reusing the current ones when nothing changed. When only the size
     * changed (same deepest node and outputs), the buffers stay and are viewed with the new shapes; only
     * one too small for its new shape is replaced by a larger one.
     */
    private void plan(int h, int w, int deep, Set<String> outputs) {
        if (h == planH && w == planW && deep == deepest && outputs.equals(requested) && slot == planSlot) {
            return;
        }
        Map<String, int[]> shapes = network.shapes(h, w, nodes.get(deep).name());
        if (deep == deepest && outputs.equals(requested)) {
            act.clear();      // views of backing
            scratch.clear();  // views of scratchPool
            scratchUsed = 0;
        } else {
            releasePlan();
        }
        deepest = deep;
        requested = Set.copyOf(outputs);
        int c = network.inputChannels();
        for (int i = 0; i <= deep; i++) {
            Node n = nodes.get(i);
            String key = i >= keptFrom ? n.name() + "#" + slot : n.name();
            if (n.layer() instanceof Layer.Conv2d cv) {
                uploadParameters(n, cv, c);
                if (!fusedWithRelu(i)) {
                    act.put(n.name(), backed(key, shapes.get(n.name())));
                }
            } else {
                act.put(n.name(), backed(key, shapes.get(n.name())));
            }
            c = shapes.get(n.name())[0];
        }
        planH = h;
        planW = w;
        planSlot = slot;
        planSegment = -1;
    }

    /**
     * The views for segment sg (checkpoints on) of a plan reaching node deep: the segment's nodes in
     * the shared buffers by their position in the segment, its last node (a boundary, when a segment
     * follows) in this slot's checkpoint. Nothing is released: the buffers only grow.
     */
    private void planSegment(int h, int w, int deep, Set<String> outputs, int sg) {
        if (h == planH && w == planW && deep == deepest && outputs.equals(requested) && slot == planSlot && sg == planSegment) {
            return;
        }
        Map<String, int[]> shapes = network.shapes(h, w, nodes.get(deep).name());
        act.clear();
        scratch.clear();
        scratchUsed = 0;
        deepest = deep;
        requested = Set.copyOf(outputs);
        int c = network.inputChannels();
        for (int i = 0; i <= deep; i++) {
            Node n = nodes.get(i);
            if (n.layer() instanceof Layer.Conv2d cv) {
                uploadParameters(n, cv, c);
            }
            c = shapes.get(n.name())[0];
        }
        int a = segStart(sg), e = segEnd(sg, deep);
        for (int i = a; i <= e; i++) {
            Node n = nodes.get(i);
            if (n.layer() instanceof Layer.Conv2d && fusedWithRelu(i)) {
                continue;
            }
            String key = i == e && e < deep ? checkpointKey(n.name()) : "p" + (i - a);
            act.put(n.name(), backed(key, shapes.get(n.name())));
        }
        planH = h;
        planW = w;
        planSlot = slot;
        planSegment = sg;
    }

    /** The output buffer of {@code shape} under {@code name} (a node, or node#slot): its backing buffer (grown if too small), viewed with the shape. */
    private ClBuffer backed(String name, int[] shape) {
        ClBuffer b = backing.get(name);
        if (b == null || b.elements() < elements(shape)) {
            if (b != null) {
                b.close();
            }
            b = half ? ctx.halfBuffer(shape) : ctx.buffer(shape);
            backing.put(name, b);
        }
        return Arrays.equals(b.shape(), shape) ? b : b.view(shape);
    }

    private void uploadParameters(Node n, Layer.Conv2d cv, int cin) {
        if (weight.containsKey(n.name())) {
            return;
        }
        if (cv.inChannels() != cin) {
            throw new IllegalArgumentException(network.name() + ": " + n.name() + " takes " + cv.inChannels()
                    + " input channels but the layer before gives " + cin);
        }
        int cout = cv.outChannels();
        ClBuffer w = ctx.buffer(parameters.get(n.parameter("weight")), cv.parameterShape("weight")); // [Cout, Cin, 3, 3]
        // Half activations run the implicit-GEMM kernels, which read the raw weights: nothing to pack.
        if (!half) {
            conv.prepare(w);
            if (!conv.readsWeights(cin, cout)) {
                // The CPU kernels read only their packed copies: the raw weights need not stay on the device
                // (49 MiB for VGG19 to conv5_1). The closed buffer stays as the packed copies' key.
                w.close();
            }
        }
        weight.put(n.name(), w);
        bias.put(n.name(), ctx.buffer(parameters.get(n.parameter("bias")), cout));
    }

    private void releasePlan() {
        act.clear();
        floatCopy.values().forEach(ClBuffer::close);
        floatCopy.clear();
        backing.values().forEach(ClBuffer::close);
        backing.clear();
        scratch.clear();
        scratchPool.forEach(ClBuffer::close);
        scratchPool.clear();
        scratchUsed = 0;
        planH = planW = deepest = planSlot = planSegment = segRan = segRanSlot = -1;
        slotHolds.clear();
        for (int k = 0; k < dCheck.length; k++) {
            if (dCheck[k] != null) {
                dCheck[k].close();
                dCheck[k] = null;
            }
        }
        requested = Set.of();
        lastInput = null;
        lastNodes = Set.of();
    }

    /** Releases the activations, scratch and parameters on the device. */
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
        conv.close();     // its workspace and packed weights
        vectors.close();  // its reduction partials
    }
}
