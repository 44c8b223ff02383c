package org.clstyle.reference;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;

/**
 * Plain-Java, double-precision forward and backward of a generator {@link Network} over a batch
 * [N, C, H, W], composed from the ops' reference twins: the point of comparison for a device executor
 * of the generator layer kinds, and for PyTorch parity of whole generators. Batch norm runs in
 * training mode (batch statistics). UniformNoise nodes take their values from the caller (so a test
 * can give both sides the same noise).
 */
public final class GeneratorReference {
    private static final double EPS = 1e-5;

    private final Network network;
    private final Map<String, double[]> params;             // full name -> values
    private final Function<String, double[]> noise;         // noise node -> [N, C, h, w]
    private final Map<String, double[]> out = new LinkedHashMap<>(); // node -> [N, C, h, w]
    private final Map<String, int[]> shape = new HashMap<>();       // node -> [C, h, w] (one image)
    private int n;

    /**
     * The result of a backward: every parameter's gradient by full name, the input's, and every node's
     * output gradient by node name (for locating where two implementations part).
     */
    public record Gradients(Map<String, double[]> parameters, double[] input, Map<String, double[]> nodes) {}

    public GeneratorReference(Network network, Map<String, double[]> params, Function<String, double[]> noise) {
        this.network = network;
        this.params = params;
        this.noise = noise;
    }

    /** Every node's output, node -> [N, C, h, w], for input x [N, C, H, W]; the last node's is the network's. */
    public Map<String, double[]> forward(double[] x, int batch, int h, int w) {
        this.n = batch;
        out.clear();
        shape.clear();
        shape.put(Network.INPUT, new int[] {network.inputChannels(), h, w});
        Conv2dReference.check(x, batch * network.inputChannels() * h * w, "input");
        out.put(Network.INPUT, x);
        for (Node node : network.nodes()) {
            List<int[]> inShapes = new ArrayList<>();
            for (String i : node.inputs()) inShapes.add(shape.get(i));
            int[] s = inShapes.get(0);
            double[] in = out.get(node.input());
            int c = s[0], hh = s[1], ww = s[2];
            Layer l = node.layer();
            double[] y;
            if (l instanceof Layer.Conv2d cv) {
                y = Conv2dReference.forward(geometry(cv, s), in, param(node, "weight"), param(node, "bias"));
            } else if (l instanceof Layer.Relu) {
                y = ReluReference.forward(in);
            } else if (l instanceof Layer.Pool2d p && p.kind() == Layer.PoolKind.AVG) {
                y = ResampleReference.avgPoolForward(in, n * c, hh, ww, p.size());
            } else if (l instanceof Layer.Pad p) {
                y = Pad2dReference.forward(in, n, c, hh, ww, mode(p), p.amount(), p.amount(), p.amount(), p.amount());
            } else if (l instanceof Layer.InstanceNorm) {
                y = NormReference.instanceForward(in, n, c, hh * ww, param(node, "weight"), param(node, "bias"), EPS);
            } else if (l instanceof Layer.BatchNorm) {
                y = NormReference.batchForward(in, n, c, hh * ww, param(node, "weight"), param(node, "bias"), EPS);
            } else if (l instanceof Layer.LeakyRelu lr) {
                y = PointwiseReference.leakyReluForward(in, decimal(lr.slope()));
            } else if (l instanceof Layer.Tanh t) {
                y = PointwiseReference.tanhForward(in, decimal(t.scale()));
            } else if (l instanceof Layer.Upsample u) {
                y = ResampleReference.upsampleForward(in, n * c, hh, ww, u.factor());
            } else if (l instanceof Layer.Concat) {
                y = PointwiseReference.concat(inputs(node), channels(node), n, hh * ww);
            } else if (l instanceof Layer.Add) {
                y = PointwiseReference.add(in, out.get(node.inputs().get(1)));
            } else if (l instanceof Layer.UniformNoise u) {
                y = noise.apply(node.name());
                Conv2dReference.check(y, n * u.channels() * hh * ww, "noise of " + node.name());
            } else {
                throw new IllegalArgumentException("GeneratorReference: node " + node.name() + " is a " + l
                        + ", which it does not run");
            }
            out.put(node.name(), y);
            shape.put(node.name(), l.outputShape(inShapes));
        }
        Map<String, double[]> result = new LinkedHashMap<>(out);
        result.remove(Network.INPUT);
        return result;
    }

    /** Gradients of a loss whose gradient w.r.t. the last node's output is {@code dOut}, after a forward. */
    public Gradients backward(double[] dOut) {
        List<Node> nodes = network.nodes();
        Map<String, double[]> grad = new HashMap<>();
        grad.put(nodes.get(nodes.size() - 1).name(), dOut);
        Map<String, double[]> pg = new LinkedHashMap<>();
        Map<String, double[]> nodeGrads = new LinkedHashMap<>();
        for (int k = nodes.size() - 1; k >= 0; k--) {
            Node node = nodes.get(k);
            double[] g = grad.remove(node.name());
            if (g != null) nodeGrads.put(node.name(), g);
            Layer l = node.layer();
            int[] s = shape.get(node.input());
            int c = s[0], hh = s[1], ww = s[2];
            double[] in = out.get(node.input());
            if (g == null) {
                g = new double[out.get(node.name()).length]; // nothing reads it
            }
            if (l instanceof Layer.Conv2d cv) {
                Conv2dReference.Geometry geo = geometry(cv, s);
                pg.put(node.parameter("weight"), Conv2dReference.backwardWeight(geo, in, g));
                pg.put(node.parameter("bias"), Conv2dReference.backwardBias(geo, g));
                send(grad, node.input(), Conv2dReference.backwardInput(geo, g, param(node, "weight")));
            } else if (l instanceof Layer.Relu) {
                send(grad, node.input(), ReluReference.backward(out.get(node.name()), g));
            } else if (l instanceof Layer.Pool2d p) {
                send(grad, node.input(), ResampleReference.avgPoolBackward(g, n * c, hh, ww, p.size()));
            } else if (l instanceof Layer.Pad p) {
                send(grad, node.input(), Pad2dReference.backward(g, n, c, hh, ww, mode(p), p.amount(), p.amount(),
                        p.amount(), p.amount()));
            } else if (l instanceof Layer.InstanceNorm || l instanceof Layer.BatchNorm) {
                NormReference.Grads r = l instanceof Layer.InstanceNorm
                        ? NormReference.instanceBackward(in, g, n, c, hh * ww, param(node, "weight"), EPS)
                        : NormReference.batchBackward(in, g, n, c, hh * ww, param(node, "weight"), EPS);
                pg.put(node.parameter("weight"), r.dGamma());
                pg.put(node.parameter("bias"), r.dBeta());
                send(grad, node.input(), r.dx());
            } else if (l instanceof Layer.LeakyRelu lr) {
                send(grad, node.input(), PointwiseReference.leakyReluBackward(in, g, decimal(lr.slope())));
            } else if (l instanceof Layer.Tanh t) {
                send(grad, node.input(), PointwiseReference.tanhBackward(in, g, decimal(t.scale())));
            } else if (l instanceof Layer.Upsample u) {
                send(grad, node.input(), ResampleReference.upsampleBackward(g, n * c, hh, ww, u.factor()));
            } else if (l instanceof Layer.Concat) {
                double[][] parts = PointwiseReference.split(g, channels(node), n, hh * ww);
                for (int i = 0; i < parts.length; i++) send(grad, node.inputs().get(i), parts[i]);
            } else if (l instanceof Layer.Add) {
                send(grad, node.inputs().get(0), g);
                send(grad, node.inputs().get(1), g);
            }
            // UniformNoise: its input gives only the size; no gradient.
        }
        double[] dInput = grad.getOrDefault(Network.INPUT, new double[out.get(Network.INPUT).length]);
        // Parameters in the network's order.
        Map<String, double[]> ordered = new LinkedHashMap<>();
        for (String name : network.parameterShapes().keySet()) ordered.put(name, pg.get(name));
        return new Gradients(ordered, dInput, nodeGrads);
    }

    private static void send(Map<String, double[]> grad, String to, double[] g) {
        double[] acc = grad.get(to);
        if (acc == null) {
            grad.put(to, g.clone());
        } else {
            for (int i = 0; i < acc.length; i++) acc[i] += g[i];
        }
    }

    private Conv2dReference.Geometry geometry(Layer.Conv2d cv, int[] s) {
        return new Conv2dReference.Geometry(n, s[0], s[1], s[2], cv.outChannels(), cv.kernel(), cv.stride(), cv.padding());
    }

    private double[] param(Node node, String p) {
        double[] v = params.get(node.parameter(p));
        if (v == null) {
            throw new IllegalArgumentException("GeneratorReference: no parameter " + node.parameter(p));
        }
        return v;
    }

    private double[][] inputs(Node node) {
        double[][] v = new double[node.inputs().size()][];
        for (int i = 0; i < v.length; i++) v[i] = out.get(node.inputs().get(i));
        return v;
    }

    private int[] channels(Node node) {
        int[] c = new int[node.inputs().size()];
        for (int i = 0; i < c.length; i++) c[i] = shape.get(node.inputs().get(i))[0];
        return c;
    }

    private static Pad2dReference.Mode mode(Layer.Pad p) {
        return Pad2dReference.Mode.valueOf(p.mode().name());
    }

    /** The shortest decimal that rounds to f (0.01f -> 0.01), as PyTorch's float64 modules take it. */
    private static double decimal(float f) {
        return Double.parseDouble(Float.toString(f));
    }
}
