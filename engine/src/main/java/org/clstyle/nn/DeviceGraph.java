package org.clstyle.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.AvgPool;
import org.clstyle.ops.BatchNorm;
import org.clstyle.ops.ChannelConcat;
import org.clstyle.ops.Conv2d;
import org.clstyle.ops.InstanceNorm;
import org.clstyle.ops.Pad2d;
import org.clstyle.ops.Pointwise;
import org.clstyle.ops.Pool2x2;
import org.clstyle.ops.Relu;
import org.clstyle.ops.UniformNoise;
import org.clstyle.ops.Upsample;
import org.clstyle.ops.VectorOps;

/**
 * The general executor of a {@link Network} on the device: any DAG of every {@link Layer} kind
 * (multi-input Concat and Add, Conv2d of any kernel and stride, Pool2d max 2 or avg r, ...) over
 * batches [N, C, H, W], forward and backward (parameter gradients and, when asked, the input gradient).
 *
 * <p><b>Plan.</b> The first forward at an (N, H, W) plans every buffer from the node table alone and
 * allocates it; later forwards and backwards at that shape allocate nothing. One plan per mode is held
 * (a forward at another shape frees that mode's plan and plans anew): training ({@link #setTraining}
 * true, the default) plans forward and backward; inference plans the forward alone, keeping nothing for
 * a backward (generation at large sizes), and a backward after it is refused. Every tensor the pass produces is a
 * <i>value</i> with a lifetime on one timeline (forward of node k at step k, backward of node k at step
 * 2K-1-k); values of one shape share physical buffers greedily wherever lifetimes do not overlap, so a
 * buffer is reused as soon as its last reader has run. What a value must outlive:
 * <ul>
 * <li>Activations live until their last forward reader, and further when a backward needs them:
 *     Conv2d keeps its <b>input</b> until its backward (weight gradient), except that a Conv2d reading a
 *     Pad keeps the Pad's input instead and pads it again in its backward (one copy pass; the padded
 *     tensor is the larger, and the Pad's input is mostly kept anyway, as a ReLU output);
 *     InstanceNorm / BatchNorm keep their <b>input</b> and their <b>statistics</b> (mean, 1/std per plane
 *     or channel, small dedicated buffers); Relu, Tanh and LeakyRelu (slope &gt; 0) keep their
 *     <b>output</b> (the mask / derivative; a LeakyRelu of slope &lt;= 0 keeps its input instead); max
 *     pooling keeps a copy of its input in its own [N*C, H, W] buffer (ops.Pool2x2 works on [C, H, W]).
 *     Pad, Upsample, avg pooling, Concat, Add and UniformNoise keep nothing. The last node's output
 *     lives until the next forward.</li>
 * <li>In place: Relu, LeakyRelu, Tanh, the norms and Add run over an input that nothing reads later
 *     (so a norm followed by an activation holds one tensor, not two); in the backward an input gradient may take
 *     the buffer of what the node's backward reads last: its output gradient (elementwise kinds, norms)
 *     or its kept input (norms, whose kernel reads each plane before writing it; Conv2d, whose input
 *     gradient is computed after its weight gradient has read the input).</li>
 * <li>The gradient of a node's output lives from its first contribution (the reader latest in forward
 *     order writes it directly) until that node's backward has consumed it; further readers write a
 *     temporary and add it in, in reverse forward order, so a node read several times gets the same sum
 *     every run (no atomics). Add passes its gradient on by copy / accumulation without a temporary.</li>
 * <li>Backward skips what no result needs: with {@code dInput} null, nodes whose gradient reaches only the
 *     input (the pyramid's pooled inputs, their padding) do not run, nor does the first convolutions'
 *     input gradient.</li>
 * </ul>
 * Buffers are pooled by exact shape (ops check shapes; a buffer cannot be viewed with another), so the
 * held total is the sum over shapes of each shape's most-at-once, somewhat above the most bytes live at
 * once. A backward overwrites kept activations, so each backward needs its own forward before it. The input
 * buffer is the caller's and must hold the forward's input until the backward (Conv2d reads it).
 * BatchNorm in inference mode ({@code setTraining(false)}) normalises with the running statistics. UniformNoise nodes draw [0, 1) from the forward's seed, each node its own
 * counter range (offsets in forward order), the same bits as reference.NoiseReference.
 */
public final class DeviceGraph implements AutoCloseable {
    private final ClContext ctx;
    private final Network network;
    private final List<Node> nodes;
    private final int count;
    private final Map<String, ClBuffer> params = new LinkedHashMap<>();
    private final Map<String, ClBuffer> grads = new LinkedHashMap<>();
    private final Map<String, ClBuffer> state = new LinkedHashMap<>();
    private final int[][] inputIndex;      // node -> index of each input node, -1 for the network input
    private final boolean[] needPlanned;   // node's output gradient is needed when the input gradient is
    private final boolean[] needNoInput;   // ... when it is not
    private final Conv2d conv;
    private final Pad2d pad;
    /**
     * Inference on CPU devices: 3x3, stride 1, unpadded convolutions with at least 64 channels in and out
     * (Johnson's residual blocks, behind their own reflection pad) run as Conv3x3's Winograd, its
     * zero-padded output's interior being exactly the unpadded convolution. Null until first used.
     */
    private org.clstyle.ops.Conv3x3 conv3;
    private ClBuffer wideIn, wideOut, cropOut; // [Cin, H+2, W+2], [Cout, H+2, W+2], [1, Cout, H, W] scratch
    private final InstanceNorm instanceNorm;
    private final BatchNorm batchNorm;
    private final Pointwise pw;
    private final Relu relu;
    private final AvgPool avgPool;
    private final Pool2x2 pool2;
    private final Upsample upsample;
    private final ChannelConcat concat;
    private final UniformNoise noise;
    private final VectorOps vectors;
    private boolean training = true;
    private Function<String, float[]> noiseOverride; // tests: noise values by node, instead of the seed
    private Plan plan;                // the last forward's: trainingPlan or inferencePlan
    private Plan trainingPlan, inferencePlan;
    private ClBuffer lastInput;
    private boolean forwardFresh;   // a forward ran since the last backward
    private boolean lastTraining;

    public DeviceGraph(ClContext ctx, Network network, Parameters initial) {
        this.ctx = ctx;
        this.network = network;
        this.nodes = network.nodes();
        this.count = nodes.size();
        if (count == 0) {
            throw new IllegalArgumentException(network.name() + ": DeviceGraph needs at least one node");
        }
        inputIndex = new int[count][];
        needPlanned = new boolean[count];
        needNoInput = new boolean[count];
        for (int k = 0; k < count; k++) {
            Node n = nodes.get(k);
            Layer l = n.layer();
            if (l instanceof Layer.Pool2d p && p.kind() == Layer.PoolKind.MAX && p.size() != 2) {
                throw new IllegalArgumentException(network.name() + ": DeviceGraph has no kernel for " + n.name()
                        + " (max pooling by " + p.size() + "; only 2)");
            }
            inputIndex[k] = new int[n.inputs().size()];
            boolean withInput = !l.parameterNames().isEmpty(), without = withInput;
            for (int i = 0; i < inputIndex[k].length; i++) {
                String in = n.inputs().get(i);
                int j = in.equals(Network.INPUT) ? -1 : network.indexOf(in);
                inputIndex[k][i] = j;
                withInput |= j < 0 || needPlanned[j];
                without |= j >= 0 && needNoInput[j];
            }
            boolean passes = !(l instanceof Layer.UniformNoise);
            needPlanned[k] = passes && withInput;
            needNoInput[k] = passes && without;
        }
        this.conv = new Conv2d(ctx);
        this.pad = new Pad2d(ctx);
        this.instanceNorm = new InstanceNorm(ctx);
        this.batchNorm = new BatchNorm(ctx);
        this.pw = new Pointwise(ctx);
        this.relu = new Relu(ctx);
        this.avgPool = new AvgPool(ctx);
        this.pool2 = new Pool2x2(ctx);
        this.upsample = new Upsample(ctx);
        this.concat = new ChannelConcat(ctx);
        this.noise = new UniformNoise(ctx);
        this.vectors = new VectorOps(ctx);
        try {
            for (Map.Entry<String, int[]> e : network.parameterShapes().entrySet()) {
                float[] v = initial.get(e.getKey());
                int size = 1;
                for (int d : e.getValue()) size *= d;
                if (v == null || v.length != size) {
                    throw new IllegalArgumentException(network.name() + ": parameter " + e.getKey() + " needs " + size
                            + " values, got " + (v == null ? "none" : v.length));
                }
                params.put(e.getKey(), ctx.buffer(v, e.getValue()));
                grads.put(e.getKey(), ctx.buffer(e.getValue()));
            }
            for (Node n : nodes) {
                if (n.layer() instanceof Layer.BatchNorm b) {
                    float[] ones = new float[b.channels()];
                    Arrays.fill(ones, 1f);
                    state.put(n.parameter("running_mean"), ctx.buffer(new float[b.channels()], b.channels()));
                    state.put(n.parameter("running_var"), ctx.buffer(ones, b.channels()));
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    public Network network() {
        return network;
    }

    /** Device buffers by full name (node.param), in {@link Network#parameterShapes()} order. */
    public Map<String, ClBuffer> parameters() {
        return Collections.unmodifiableMap(params);
    }

    /** The parameter gradients: same names and shapes as {@link #parameters()}; overwritten by every backward. */
    public Map<String, ClBuffer> gradients() {
        return Collections.unmodifiableMap(grads);
    }

    /** BatchNorm running_mean / running_var [C] by full name (node.running_mean). */
    public Map<String, ClBuffer> state() {
        return Collections.unmodifiableMap(state);
    }

    /**
     * Training (default): BatchNorm uses batch statistics and updates its running statistics, and the
     * forward keeps what a backward needs. Inference: running statistics, forward only.
     */
    public void setTraining(boolean training) {
        this.training = training;
        if (training && conv3 != null) {
            // Training changes the weights: the Winograd copies packed for inference would go stale.
            for (Node node : nodes) {
                if (node.layer() instanceof Layer.Conv2d) {
                    conv3.forget(param(node, "weight"));
                }
            }
        }
    }

    /** Tests: UniformNoise nodes take these values (node -> [N, C, h, w]) instead of drawing from the seed. */
    void noiseOverride(Function<String, float[]> values) {
        this.noiseOverride = values;
    }

    /**
     * The last node's output [N, C', H', W'] for {@code input} [N, C, H, W]; valid until the next forward.
     * The input must stay unchanged until the backward that follows.
     */
    public ClBuffer forward(ClBuffer input, long noiseSeed) {
        int[] s = input.shape();
        if (s.length != 4 || s[1] != network.inputChannels()) {
            throw new IllegalArgumentException(network.name() + ": input must be [N, " + network.inputChannels()
                    + ", H, W] but is " + input);
        }
        Plan p = training ? trainingPlan : inferencePlan;
        if (p == null || p.n != s[0] || p.h != s[2] || p.w != s[3]) {
            if (p != null) {
                p.close();
            }
            if (training) {
                trainingPlan = null;
            } else {
                inferencePlan = null;
            }
            plan = null;
            p = new Plan(s[0], s[2], s[3], training);
            if (training) {
                trainingPlan = p;
            } else {
                inferencePlan = p;
            }
        }
        plan = p;
        int noiseOffset = 0;
        for (int k = 0; k < count; k++) {
            Node node = nodes.get(k);
            Layer l = node.layer();
            ClBuffer x = act(p, input, inputIndex[k][0]);
            ClBuffer y = p.out[k].buffer;
            if (l instanceof Layer.Conv2d c) {
                if (!training && winogradInference(c, x, y)) {
                    convWinograd(x, param(node, "weight"), param(node, "bias"), y);
                } else {
                    conv.forward(x, param(node, "weight"), param(node, "bias"), y, c.stride(), c.padding());
                }
            } else if (l instanceof Layer.Relu) {
                relu.forward(x, y);
            } else if (l instanceof Layer.Pool2d pl) {
                if (pl.kind() == Layer.PoolKind.AVG) {
                    avgPool.forward(x, y, pl.size());
                } else {
                    p.poolIn[k].copyFrom(x);
                    pool2.maxForward(p.poolIn[k], p.poolOut[k]);
                    y.copyFrom(p.poolOut[k]);
                }
            } else if (l instanceof Layer.Pad pd) {
                pad.forward(x, y, Pad2d.Mode.valueOf(pd.mode().name()), Pad2d.Amounts.of(pd.amount()));
            } else if (l instanceof Layer.InstanceNorm) {
                instanceNorm.forward(x, param(node, "weight"), param(node, "bias"), y, p.stats[k]);
            } else if (l instanceof Layer.BatchNorm) {
                ClBuffer mean = state.get(node.parameter("running_mean")), var = state.get(node.parameter("running_var"));
                if (training) {
                    batchNorm.forwardTraining(x, param(node, "weight"), param(node, "bias"), y, p.stats[k], mean, var);
                } else {
                    batchNorm.forwardInference(x, param(node, "weight"), param(node, "bias"), mean, var, y, p.stats[k]);
                }
            } else if (l instanceof Layer.LeakyRelu lr) {
                pw.leakyReluForward(x, y, lr.slope());
            } else if (l instanceof Layer.Tanh t) {
                pw.tanhForward(x, y, t.scale());
            } else if (l instanceof Layer.Upsample u) {
                upsample.forward(x, y, u.factor());
            } else if (l instanceof Layer.Concat) {
                List<ClBuffer> parts = new ArrayList<>(inputIndex[k].length);
                for (int j : inputIndex[k]) parts.add(act(p, input, j));
                concat.forward(parts, y);
            } else if (l instanceof Layer.Add) {
                pw.add(x, act(p, input, inputIndex[k][1]), y);
            } else if (l instanceof Layer.UniformNoise) {
                if (noiseOverride != null) {
                    y.write(noiseOverride.apply(node.name()));
                } else {
                    noise.fill(y, noiseSeed, noiseOffset, 0f, 1f);
                }
                noiseOffset += y.size();
            } else {
                throw new IllegalStateException("DeviceGraph: no kernel for " + node.name() + " (" + l + ")");
            }
        }
        lastInput = input;
        forwardFresh = true;
        lastTraining = training;
        return p.out[count - 1].buffer;
    }

    /**
     * Gradients of a loss whose gradient w.r.t. the last forward's output is {@code dOutput}: every
     * parameter's into {@link #gradients()} (overwritten), and the input's into {@code dInput} [N, C, H, W]
     * (overwritten) unless it is null. Needs a forward since the last backward.
     */
    public void backward(ClBuffer dOutput, ClBuffer dInput) {
        if (plan == null || !forwardFresh) {
            throw new IllegalStateException("DeviceGraph.backward needs a forward since the last backward");
        }
        Plan p = plan;
        if (!Arrays.equals(dOutput.shape(), p.out[count - 1].buffer.shape())) {
            throw new IllegalArgumentException("DeviceGraph.backward: dOutput must be shaped like the output "
                    + p.out[count - 1].buffer + " but is " + dOutput);
        }
        if (dInput != null && !Arrays.equals(dInput.shape(), lastInput.shape())) {
            throw new IllegalArgumentException("DeviceGraph.backward: dInput must be shaped like the input " + lastInput
                    + " but is " + dInput);
        }
        if (!lastTraining) {
            throw new IllegalStateException("DeviceGraph.backward: the forward ran in inference mode (setTraining(false)),"
                    + " which keeps nothing for a backward; setTraining(true)");
        }
        forwardFresh = false;
        boolean[] need = dInput != null ? needPlanned : needNoInput;
        for (int k = count - 1; k >= 0; k--) {
            if (!need[k]) {
                continue;
            }
            Node node = nodes.get(k);
            Layer l = node.layer();
            ClBuffer g = k == count - 1 ? dOutput : p.grad[k] == null ? null : p.grad[k].buffer;
            if (g == null) { // nothing reads this node: its parameters get no gradient
                for (String name : l.parameterNames()) vectors.fill(grads.get(node.parameter(name)), 0f);
                continue;
            }
            int j0 = inputIndex[k][0];
            ClBuffer x = act(p, lastInput, j0);
            ClBuffer dx = l instanceof Layer.Add ? null : target(p, k, 0, dInput, need, false);
            if (l instanceof Layer.Conv2d c) {
                if (p.repad[k] != null) {
                    Layer.Pad pd = (Layer.Pad) nodes.get(j0).layer();
                    x = p.repad[k].buffer;
                    pad.forward(act(p, lastInput, inputIndex[j0][0]), x, Pad2d.Mode.valueOf(pd.mode().name()),
                            Pad2d.Amounts.of(pd.amount()));
                }
                conv.backwardWeight(x, g, grads.get(node.parameter("weight")), c.stride(), c.padding());
                conv.backwardBias(g, grads.get(node.parameter("bias")));
                if (dx != null) {
                    conv.backwardInput(g, param(node, "weight"), dx, c.stride(), c.padding());
                }
            } else if (l instanceof Layer.Relu) {
                if (dx != null) {
                    relu.backward(p.out[k].buffer, g, dx);
                }
            } else if (l instanceof Layer.Pool2d pl) {
                if (dx != null) {
                    if (pl.kind() == Layer.PoolKind.AVG) {
                        avgPool.backward(g, dx, pl.size());
                    } else {
                        p.poolOut[k].copyFrom(g);
                        pool2.maxBackward(p.poolIn[k], p.poolOut[k], p.poolGrad[k]);
                        dx.copyFrom(p.poolGrad[k]);
                    }
                }
            } else if (l instanceof Layer.Pad pd) {
                if (dx != null) {
                    pad.backward(g, dx, Pad2d.Mode.valueOf(pd.mode().name()), Pad2d.Amounts.of(pd.amount()));
                }
            } else if (l instanceof Layer.InstanceNorm) {
                instanceNorm.backward(x, g, param(node, "weight"), p.stats[k], dx, grads.get(node.parameter("weight")),
                        grads.get(node.parameter("bias")));
            } else if (l instanceof Layer.BatchNorm) {
                batchNorm.backward(x, g, param(node, "weight"), p.stats[k], dx, grads.get(node.parameter("weight")),
                        grads.get(node.parameter("bias")));
            } else if (l instanceof Layer.LeakyRelu lr) {
                if (dx != null) {
                    pw.leakyReluBackward(lr.slope() > 0 ? p.out[k].buffer : x, g, dx, lr.slope());
                }
            } else if (l instanceof Layer.Tanh t) {
                if (dx != null) {
                    pw.tanhBackward(p.out[k].buffer, g, dx, t.scale());
                }
            } else if (l instanceof Layer.Upsample u) {
                if (dx != null) {
                    upsample.backward(g, dx, u.factor());
                }
            } else if (l instanceof Layer.Concat) {
                List<ClBuffer> parts = new ArrayList<>(inputIndex[k].length);
                parts.add(dx);
                for (int i = 1; i < inputIndex[k].length; i++) parts.add(target(p, k, i, dInput, need, false));
                concat.backward(g, parts);
                for (int i = 0; i < parts.size(); i++) accumulate(p, k, i, dInput, need);
                continue;
            } else if (l instanceof Layer.Add) {
                for (int i = 0; i < 2; i++) {
                    ClBuffer into = target(p, k, i, dInput, need, true);
                    if (into == null) {
                        continue;
                    }
                    if (p.first[k][i]) {
                        into.copyFrom(g);
                    } else {
                        pw.accumulate(g, into);
                    }
                }
                continue;
            }
            if (dx != null) {
                accumulate(p, k, 0, dInput, need);
            }
        }
    }

    /**
     * Where node k's backward writes the gradient of its input i: the input's gradient itself when this
     * is its first contribution, else a temporary (added in by {@link #accumulate}); null where nothing
     * needs it and the kind can skip it. {@code direct}: the accumulated gradient itself (Add).
     */
    private ClBuffer target(Plan p, int k, int i, ClBuffer dInput, boolean[] need, boolean direct) {
        int j = inputIndex[k][i];
        ClBuffer tmp = p.tmp[k][i] == null ? null : p.tmp[k][i].buffer;
        if (j < 0) {
            return dInput == null ? tmp : direct || p.first[k][i] ? dInput : tmp;
        }
        if (!needPlanned[j]) {
            return tmp; // a compulsory output nobody reads (norms, concat), else null
        }
        if (!need[j] && !compulsory(nodes.get(k).layer())) {
            return null;
        }
        return direct || p.first[k][i] ? p.grad[j].buffer : tmp;
    }

    /** Kinds whose backward always writes their input gradient. */
    private static boolean compulsory(Layer l) {
        return l instanceof Layer.InstanceNorm || l instanceof Layer.BatchNorm || l instanceof Layer.Concat;
    }

    /** Adds node k's temporary for input i into that input's gradient, where it was not written directly. */
    private void accumulate(Plan p, int k, int i, ClBuffer dInput, boolean[] need) {
        int j = inputIndex[k][i];
        boolean wanted = j < 0 ? dInput != null : need[j];
        if (wanted && !p.first[k][i]) {
            pw.accumulate(p.tmp[k][i].buffer, j < 0 ? dInput : p.grad[j].buffer);
        }
    }

    /**
     * Tests: node's output after a forward, for nodes whose output the backward keeps (Relu, Tanh,
     * LeakyRelu, the inputs of Conv2d and the norms) and the last; throws for one already reused.
     */
    ClBuffer keptOutput(String node) {
        int k = network.indexOf(node);
        if (plan == null || !forwardFresh || k < 0 || plan.out[k].last < count - 1) {
            throw new IllegalStateException(node + ": no kept output (needs a forward, and a node the backward keeps)");
        }
        return plan.out[k].buffer;
    }

    private ClBuffer act(Plan p, ClBuffer input, int j) {
        return j < 0 ? input : p.out[j].buffer;
    }

    private ClBuffer param(Node node, String name) {
        return params.get(node.parameter(name));
    }

    /** Parameters, gradients, state, every planned buffer and the convolution's scratch, in bytes. */
    public long deviceBytes() {
        long b = conv.scratchBytes();
        for (Map<String, ClBuffer> m : List.of(params, grads, state)) {
            for (ClBuffer x : m.values()) b += x.bytes();
        }
        return b + (trainingPlan == null ? 0 : trainingPlan.bytes()) + (inferencePlan == null ? 0 : inferencePlan.bytes());
    }

    /** Tests: whether an inference forward ran a convolution through Conv3x3's Winograd. */
    boolean usedWinograd() {
        return wideOut != null;
    }

    /** Whether this inference conv runs as Conv3x3's Winograd (see {@link #conv3}). */
    private boolean winogradInference(Layer.Conv2d c, ClBuffer x, ClBuffer y) {
        if (c.kernel() != 3 || c.stride() != 1 || c.padding() != 0 || !ctx.device().isCpu()) {
            return false;
        }
        int cin = x.dim(1), cout = y.dim(1);
        if (cin < 64 || cout < 64) {
            return false;
        }
        if (conv3 == null) {
            conv3 = new org.clstyle.ops.Conv3x3(ctx);
        }
        return conv3.variantFor(cin, cout, x.dim(2), x.dim(3)) != org.clstyle.ops.Conv3x3.Variant.DIRECT;
    }

    /** y [N, Cout, H, W] = the unpadded 3x3 convolution of x [N, Cin, H+2, W+2], image by image, through Conv3x3. */
    private void convWinograd(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y) {
        int n = x.dim(0), cin = x.dim(1), hp = x.dim(2), wp = x.dim(3), cout = y.dim(1), h = y.dim(2), w = y.dim(3);
        long inPlane = (long) cin * hp * wp, outPlane = (long) cout * hp * wp, yPlane = (long) cout * h * w;
        wideOut = grow(wideOut, outPlane);
        if (n > 1) { // views start at a buffer's first element: later images go through scratch copies
            wideIn = grow(wideIn, inPlane);
            cropOut = grow(cropOut, yPlane);
        }
        for (int b = 0; b < n; b++) {
            ClBuffer in = n == 1 ? x.view(cin, hp, wp) : wideIn.view(cin, hp, wp);
            if (n > 1) {
                in.copyFrom(x, b * inPlane, 0, inPlane);
            }
            ClBuffer out = wideOut.view(cout, hp, wp);
            conv3.forward(in, weight, bias, out, false);
            ClBuffer crop = n == 1 ? y : cropOut.view(1, cout, h, w);
            pad.forward(wideOut.view(1, cout, hp, wp), crop, Pad2d.Mode.ZERO, new Pad2d.Amounts(-1, -1, -1, -1));
            if (n > 1) {
                y.copyFrom(crop, 0, b * yPlane, yPlane);
            }
        }
    }

    private ClBuffer grow(ClBuffer b, long floats) {
        if (b != null && b.elements() >= floats) {
            return b;
        }
        if (b != null) {
            b.close();
        }
        return ctx.buffer(Math.toIntExact(floats));
    }

    @Override
    public void close() {
        for (ClBuffer b : new ClBuffer[] {cropOut, wideOut, wideIn}) {
            if (b != null) {
                b.close();
            }
        }
        cropOut = wideOut = wideIn = null;
        for (Plan p : new Plan[] {trainingPlan, inferencePlan}) {
            if (p != null) {
                p.close();
            }
        }
        trainingPlan = inferencePlan = plan = null;
        for (Map<String, ClBuffer> m : List.of(params, grads, state)) {
            m.values().forEach(ClBuffer::close);
        }
        if (conv != null) {
            conv.close();
            instanceNorm.close();
            batchNorm.close();
        }
        if (conv3 != null) {
            conv3.close(); // its Winograd chunk buffers and packed weights
            conv3 = null;
        }
        vectors.close(); // its reduction's partials
    }

    /** A tensor of the pass with its lifetime (steps), and the physical buffer it was given. */
    private static final class Value {
        final int[] shape;
        final int def;
        int last;
        final List<Value> inPlaceOf; // may take one of these buffers when its last use is this one's definition
        final int order;
        ClBuffer buffer;

        Value(int[] shape, int def, int last, List<Value> inPlaceOf, int order) {
            this.shape = shape;
            this.def = def;
            this.last = last;
            this.inPlaceOf = inPlaceOf;
            this.order = order;
        }
    }

    /** Every buffer of one input shape. */
    private final class Plan implements AutoCloseable {
        final int n, h, w;
        final boolean training;   // false: forward only, nothing kept for a backward
        final Value[] out = new Value[count];      // node output [N, C, h, w]
        final Value[] grad = new Value[count];     // gradient of node output (null: last node, or unread)
        final Value[][] tmp = new Value[count][];  // per (node, input): temporary / compulsory gradient
        final Value[] repad = new Value[count];    // conv reading a Pad: its input padded again for the backward
        final boolean[][] first = new boolean[count][];
        final ClBuffer[] stats = new ClBuffer[count];
        final ClBuffer[] poolIn = new ClBuffer[count], poolOut = new ClBuffer[count]; // max pool staging
        final ClBuffer[] poolGrad = new ClBuffer[count];
        final List<ClBuffer> physical = new ArrayList<>();
        final List<ClBuffer> own = new ArrayList<>();

        Plan(int n, int h, int w, boolean training) {
            this.training = training;
            this.n = n;
            this.h = h;
            this.w = w;
            try {
                build();
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        private int[] batch(int[] chw) {
            return new int[] {n, chw[0], chw[1], chw[2]};
        }

        private int back(int k) {
            return 2 * count - 1 - k;
        }

        private void build() {
            Map<String, int[]> shapes = network.shapes(h, w, null);
            int[] inShape = {network.inputChannels(), h, w};
            List<Value> values = new ArrayList<>();
            int end = 2 * count; // after the last backward: until the next forward
            // Forward values.
            for (int k = 0; k < count; k++) {
                Node node = nodes.get(k);
                Layer l = node.layer();
                int[] s = batch(shapes.get(node.name()));
                int j0 = inputIndex[k][0];
                boolean elementwise = l instanceof Layer.Relu || l instanceof Layer.Tanh
                        || (l instanceof Layer.LeakyRelu lr && lr.slope() > 0);
                // Forward in place (each kernel reads an element, or a plane's statistics, before writing it).
                List<Value> inPlace = new ArrayList<>(2);
                if ((elementwise || l instanceof Layer.InstanceNorm || l instanceof Layer.BatchNorm) && j0 >= 0) {
                    inPlace.add(out[j0]);
                } else if (l instanceof Layer.Add) {
                    for (int j : inputIndex[k]) {
                        if (j >= 0) {
                            inPlace.add(out[j]);
                        }
                    }
                }
                out[k] = new Value(s, k, k, inPlace, values.size());
                values.add(out[k]);
                for (int j : inputIndex[k]) {
                    if (j >= 0) {
                        out[j].last = Math.max(out[j].last, k);
                    }
                }
                boolean keepsInput = l instanceof Layer.Conv2d || l instanceof Layer.InstanceNorm
                        || l instanceof Layer.BatchNorm || (l instanceof Layer.LeakyRelu lr && lr.slope() <= 0);
                if (training && keepsInput && j0 >= 0) {
                    if (l instanceof Layer.Conv2d && nodes.get(j0).layer() instanceof Layer.Pad) {
                        // Pad again in the backward rather than keep the padded copy: keep the Pad's input.
                        repad[k] = new Value(out[j0].shape, back(k), back(k), List.of(), -1);
                        int jp = inputIndex[j0][0];
                        if (jp >= 0) {
                            out[jp].last = Math.max(out[jp].last, back(k));
                        }
                    } else {
                        out[j0].last = Math.max(out[j0].last, back(k));
                    }
                }
                if (training && elementwise) {
                    out[k].last = Math.max(out[k].last, back(k));
                }
                int[] xs = batch(j0 < 0 ? inShape : shapes.get(nodes.get(j0).name()));
                if (l instanceof Layer.InstanceNorm) {
                    stats[k] = own(new int[] {n * xs[1], 3});
                } else if (l instanceof Layer.BatchNorm) {
                    stats[k] = own(new int[] {xs[1], 3});
                } else if (l instanceof Layer.Pool2d p && p.kind() == Layer.PoolKind.MAX) {
                    poolIn[k] = own(new int[] {n * xs[1], xs[2], xs[3]});
                    poolOut[k] = own(new int[] {n * s[1], s[2], s[3]});
                    poolGrad[k] = training ? own(new int[] {n * xs[1], xs[2], xs[3]}) : null;
                }
            }
            out[count - 1].last = end;
            for (int k = 0; k < count; k++) {
                if (repad[k] != null) {
                    repad[k] = new Value(repad[k].shape, repad[k].def, repad[k].last, List.of(), values.size());
                    values.add(repad[k]);
                }
            }
            if (!training) {
                assign(values);
                return;
            }
            // Backward values, in backward order.
            boolean[] started = new boolean[count];
            boolean inputStarted = false;
            for (int k = count - 1; k >= 0; k--) {
                Node node = nodes.get(k);
                Layer l = node.layer();
                int t = back(k);
                int arity = inputIndex[k].length;
                tmp[k] = new Value[arity];
                first[k] = new boolean[arity];
                if (!needPlanned[k]) {
                    continue;
                }
                if (k < count - 1 && grad[k] == null) {
                    continue; // unread: no gradient arrives
                }
                if (grad[k] != null) {
                    grad[k].last = t;
                }
                boolean elementwise = l instanceof Layer.Relu || l instanceof Layer.Tanh
                        || (l instanceof Layer.LeakyRelu lr && lr.slope() > 0);
                // Where the input gradient may overwrite what the backward reads: elementwise kinds and the
                // norms read and write each element once (or in a second pass after every read: the norms);
                // a conv writes dx after its weight gradient has read x.
                List<Value> inPlace = new ArrayList<>(2);
                if ((elementwise || l instanceof Layer.InstanceNorm || l instanceof Layer.BatchNorm) && k < count - 1) {
                    inPlace.add(grad[k]);
                }
                if ((l instanceof Layer.InstanceNorm || l instanceof Layer.BatchNorm || l instanceof Layer.Conv2d)
                        && inputIndex[k][0] >= 0) {
                    inPlace.add(repad[k] != null ? repad[k] : out[inputIndex[k][0]]);
                }
                boolean compulsory = compulsory(l);
                boolean add = l instanceof Layer.Add;
                for (int i = 0; i < arity; i++) {
                    int j = inputIndex[k][i];
                    int[] s = j < 0 ? batch(inShape) : out[j].shape;
                    boolean needed = j < 0 || needPlanned[j];
                    boolean isFirst;
                    if (j < 0) {
                        isFirst = !inputStarted;
                        inputStarted = true;
                    } else if (needed) {
                        isFirst = !started[j];
                        if (isFirst) {
                            started[j] = true;
                            grad[j] = new Value(s, t, t, i == 0 ? inPlace : List.of(), values.size());
                            values.add(grad[j]);
                        }
                    } else {
                        isFirst = false;
                    }
                    first[k][i] = isFirst;
                    boolean wantTmp = add ? false
                            : j < 0 ? compulsory || !isFirst
                            : needed ? !isFirst
                            : compulsory;
                    if (wantTmp) {
                        tmp[k][i] = new Value(s, t, t, i == 0 ? inPlace : List.of(), values.size());
                        values.add(tmp[k][i]);
                    }
                }
            }
            assign(values);
        }

        /** Gives each value a buffer of its shape: its in-place source's, a free one, or a new one. */
        private void assign(List<Value> values) {
            List<Value> sorted = new ArrayList<>(values);
            sorted.sort((a, b) -> a.def != b.def ? Integer.compare(a.def, b.def) : Integer.compare(a.order, b.order));
            Map<List<Integer>, List<ClBuffer>> byShape = new HashMap<>();
            Map<ClBuffer, Value> occupant = new HashMap<>();
            for (Value v : sorted) {
                ClBuffer chosen = null;
                for (Value src : v.inPlaceOf) {
                    if (chosen == null && src.buffer != null && src.last == v.def && occupant.get(src.buffer) == src
                            && Arrays.equals(src.shape, v.shape)) {
                        chosen = src.buffer;
                    }
                }
                List<ClBuffer> pool = byShape.computeIfAbsent(key(v.shape), s -> new ArrayList<>());
                if (chosen == null) {
                    for (ClBuffer b : pool) {
                        if (occupant.get(b).last < v.def) {
                            chosen = b;
                            break;
                        }
                    }
                }
                if (chosen == null) {
                    chosen = ctx.buffer(v.shape);
                    physical.add(chosen);
                    pool.add(chosen);
                }
                occupant.put(chosen, v);
                v.buffer = chosen;
            }
        }

        private List<Integer> key(int[] s) {
            List<Integer> k = new ArrayList<>(s.length);
            for (int d : s) k.add(d);
            return k;
        }

        private ClBuffer own(int[] shape) {
            ClBuffer b = ctx.buffer(shape);
            own.add(b);
            return b;
        }

        long bytes() {
            long b = 0;
            for (ClBuffer x : physical) b += x.bytes();
            for (ClBuffer x : own) b += x.bytes();
            return b;
        }

        @Override
        public void close() {
            physical.forEach(ClBuffer::close);
            own.forEach(ClBuffer::close);
            physical.clear();
            own.clear();
        }
    }
}
