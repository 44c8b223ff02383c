package org.clstyle.reference;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;
import org.clstyle.nn.Parameters;

/**
 * Plain-Java twin of nn.DeviceNetwork in double precision: every node's output kept (no fusion, no
 * buffer reuse), and the backward from per-node gradients to the input by the chain rule over the
 * node table, summing what each node's readers send back. The point of comparison for the executor's
 * planning: whatever it fuses or overwrites, its outputs and input gradient must equal these.
 */
public final class NetworkReference {
    private final Network network;
    private final Parameters parameters;
    private final Map<String, double[]> out = new LinkedHashMap<>(); // node -> [C, h, w]
    private final Map<String, int[]> shape = new HashMap<>();
    private double[] input;

    /** How each stored value is kept: exactly (double), or rounded as a device's storage rounds it. */
    private final java.util.function.DoubleUnaryOperator store;

    public NetworkReference(Network network, Parameters parameters) {
        this(network, parameters, v -> v);
    }

    /**
     * With every stored activation, and the input, passed through {@code store} (e.g. rounding to half, as
     * a network with half storage keeps its activations; a fused conv+ReLU stores only the ReLU output,
     * which rounding a stored conv output first does not change).
     */
    public NetworkReference(Network network, Parameters parameters, java.util.function.DoubleUnaryOperator store) {
        this.network = network;
        this.parameters = parameters;
        this.store = store;
    }

    private double[] stored(double[] v) {
        double[] o = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            o[i] = store.applyAsDouble(v[i]);
        }
        return o;
    }

    /** Every node's output up to {@code last}, node -> [C, h, w]. */
    public Map<String, double[]> forward(double[] x /* [C, H, W] */, int h, int w, String last) {
        out.clear();
        shape.clear();
        input = stored(x);
        shape.put(Network.INPUT, new int[] {network.inputChannels(), h, w});
        int end = network.indexOf(last);
        for (int i = 0; i <= end; i++) {
            Node n = network.nodes().get(i);
            int[] s = shape.get(n.input());
            double[] in = value(n.input());
            double[] y;
            if (n.layer() instanceof Layer.Conv2d c) {
                requireVggConv(n, c);
                y = Conv3x3Reference.forward(in, s[0], s[1], s[2], doubles(parameters.get(n.parameter("weight"))),
                        doubles(parameters.get(n.parameter("bias"))), c.outChannels(), false);
            } else if (n.layer() instanceof Layer.Relu) {
                y = ReluReference.forward(in);
            } else {
                Layer.Pool2d p = (Layer.Pool2d) n.layer();
                requirePool2(n, p);
                y = p.kind() == Layer.PoolKind.MAX ? PoolReference.maxForward(in, s[0], s[1], s[2])
                        : PoolReference.avgForward(in, s[0], s[1], s[2]);
            }
            shape.put(n.name(), n.layer().outputShape(s));
            out.put(n.name(), stored(y));
        }
        return out;
    }

    /** d loss / d input from node -> d loss / d that node's output, after {@link #forward}. */
    public double[] backward(Map<String, double[]> nodeGradients) {
        Map<String, double[]> grad = new HashMap<>();
        int start = -1;
        for (Map.Entry<String, double[]> e : nodeGradients.entrySet()) {
            start = Math.max(start, network.indexOf(e.getKey()));
            add(grad, e.getKey(), e.getValue());
        }
        for (int i = start; i >= 0; i--) {
            Node n = network.nodes().get(i);
            double[] g = grad.remove(n.name());
            if (g == null) {
                continue;
            }
            int[] s = shape.get(n.input());
            double[] dx;
            if (n.layer() instanceof Layer.Conv2d c) {
                dx = Conv3x3Reference.backwardInput(g, doubles(parameters.get(n.parameter("weight"))), null,
                        s[0], c.outChannels(), s[1], s[2]);
            } else if (n.layer() instanceof Layer.Relu) {
                dx = ReluReference.backward(out.get(n.name()), g);
            } else {
                Layer.Pool2d p = (Layer.Pool2d) n.layer();
                dx = p.kind() == Layer.PoolKind.MAX ? PoolReference.maxBackward(value(n.input()), s[0], s[1], s[2], g)
                        : PoolReference.avgBackward(g, s[0], s[1], s[2]);
            }
            add(grad, n.input(), dx);
        }
        double[] d = grad.get(Network.INPUT);
        return d == null ? new double[input.length] : d;
    }

    private double[] value(String node) {
        return node.equals(Network.INPUT) ? input : out.get(node);
    }

    private static void add(Map<String, double[]> grad, String node, double[] g) {
        double[] acc = grad.get(node);
        if (acc == null) {
            grad.put(node, g.clone());
        } else {
            for (int k = 0; k < acc.length; k++) {
                acc[k] += g[k];
            }
        }
    }

    private static void requireVggConv(Node n, Layer.Conv2d c) {
        if (c.kernel() != 3 || c.stride() != 1 || c.padding() != 1) {
            throw new IllegalArgumentException(n.name() + ": the reference has only the 3x3 stride-1 conv so far");
        }
    }

    private static void requirePool2(Node n, Layer.Pool2d p) {
        if (p.size() != 2) {
            throw new IllegalArgumentException(n.name() + ": the reference has only 2x2 pooling so far");
        }
    }

    private static double[] doubles(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
