package org.clstyle.train;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;
import org.clstyle.weights.Safetensors;
import org.clstyle.weights.WeightsException;

/**
 * A trained (or training) generator as one safetensors file: every parameter ({@code node.weight},
 * {@code node.bias}) and BatchNorm state ({@code node.running_mean}, {@code node.running_var}) as F32
 * tensors; metadata {@code format}, the {@code generator.*} keys of {@link GeneratorSpec} (enough to
 * rebuild the exact network) and the {@code train.*} keys the trainer records (loss network, recipe,
 * style images, step, image size, options). A checkpoint adds the optimiser: {@code adam.m.<param>},
 * {@code adam.v.<param>} and metadata {@code adam.steps}, so that {@code --resume} continues exactly.
 */
public record GeneratorModel(GeneratorSpec spec, Map<String, float[]> parameters, Map<String, float[]> state,
        Map<String, String> training, Optimizer optimizer) {

    /** The file format's name and version, metadata key {@code format}. */
    public static final String FORMAT = "clstyle-generator-1";

    /** Adam's state for a resume: its step count and both moments per parameter. */
    public record Optimizer(int steps, Map<String, float[]> m, Map<String, float[]> v) {}

    public GeneratorModel {
        parameters = Map.copyOf(parameters);
        state = Map.copyOf(state);
        training = Map.copyOf(training);
        Network net = spec.network();
        Map<String, int[]> shapes = net.parameterShapes();
        for (Map.Entry<String, int[]> e : shapes.entrySet()) {
            check("parameter", e.getKey(), parameters.get(e.getKey()), e.getValue());
            if (optimizer != null) {
                check("Adam first moment of", e.getKey(), optimizer.m().get(e.getKey()), e.getValue());
                check("Adam second moment of", e.getKey(), optimizer.v().get(e.getKey()), e.getValue());
            }
        }
        if (parameters.size() != shapes.size()) {
            throw new IllegalArgumentException("model has " + parameters.size() + " parameters, its network " + shapes.size());
        }
        Map<String, int[]> states = stateShapes(net);
        for (Map.Entry<String, int[]> e : states.entrySet()) {
            check("state", e.getKey(), state.get(e.getKey()), e.getValue());
        }
        if (state.size() != states.size()) {
            throw new IllegalArgumentException("model has " + state.size() + " state tensors, its network " + states.size());
        }
    }

    private static void check(String what, String name, float[] v, int[] shape) {
        long n = 1;
        for (int d : shape) n *= d;
        if (v == null) {
            throw new IllegalArgumentException("model lacks " + what + " " + name);
        }
        if (v.length != n) {
            throw new IllegalArgumentException(what + " " + name + " has " + v.length + " values, its shape "
                    + Arrays.toString(shape) + " holds " + n);
        }
    }

    /** BatchNorm running statistics of {@code net} by full name, each [C]. */
    public static Map<String, int[]> stateShapes(Network net) {
        Map<String, int[]> s = new LinkedHashMap<>();
        for (Node n : net.nodes()) {
            if (n.layer() instanceof Layer.BatchNorm b) {
                for (String st : b.stateNames()) {
                    s.put(n.parameter(st), new int[] {b.channels()});
                }
            }
        }
        return s;
    }

    /** The network this model's parameters belong to. */
    public Network network() {
        return spec.network();
    }

    /** The training step the parameters are from (metadata train.step; 0 when absent). */
    public int step() {
        String s = training.get("train.step");
        return s == null ? 0 : Integer.parseInt(s);
    }

    /** The same model without optimiser state (the final model a user ships). */
    public GeneratorModel withoutOptimizer() {
        return new GeneratorModel(spec, parameters, state, training, null);
    }

    /** Writes the model to {@code file} atomically (temporary name, then rename). */
    public void save(Path file) throws WeightsException {
        Network net = spec.network();
        Map<String, String> meta = new LinkedHashMap<>();
        meta.put("format", FORMAT);
        meta.putAll(spec.toMetadata());
        meta.put("generator.parameters", Long.toString(net.parameterCount()));
        meta.putAll(new java.util.TreeMap<>(training));
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        net.parameterShapes().forEach((k, s) -> t.put(k, new Safetensors.Tensor(s, parameters.get(k))));
        stateShapes(net).forEach((k, s) -> t.put(k, new Safetensors.Tensor(s, state.get(k))));
        if (optimizer != null) {
            meta.put("adam.steps", Integer.toString(optimizer.steps()));
            net.parameterShapes().forEach((k, s) -> t.put("adam.m." + k, new Safetensors.Tensor(s, optimizer.m().get(k))));
            net.parameterShapes().forEach((k, s) -> t.put("adam.v." + k, new Safetensors.Tensor(s, optimizer.v().get(k))));
        }
        Safetensors.write(file, meta, t);
    }

    /**
     * Reads a model; anything that is not a clstyle generator file (another safetensors file, a missing
     * tensor, a wrong shape) is a one-line WeightsException naming the file.
     */
    public static GeneratorModel load(Path file) throws WeightsException {
        Safetensors.Contents c = Safetensors.read(file);
        Map<String, String> meta = c.metadata();
        if (!FORMAT.equals(meta.get("format"))) {
            throw new WeightsException(file + ": not a clstyle generator model (metadata format is "
                    + (meta.get("format") == null ? "missing" : "'" + meta.get("format") + "'") + ", expected " + FORMAT + ")");
        }
        try {
            GeneratorSpec spec = GeneratorSpec.fromMetadata(meta);
            Network net = spec.network();
            Map<String, float[]> params = new LinkedHashMap<>(), state = new LinkedHashMap<>();
            for (String k : net.parameterShapes().keySet()) {
                params.put(k, tensor(c, k, net.parameterShapes().get(k)));
            }
            for (Map.Entry<String, int[]> e : stateShapes(net).entrySet()) {
                state.put(e.getKey(), tensor(c, e.getKey(), e.getValue()));
            }
            Optimizer opt = null;
            if (meta.containsKey("adam.steps")) {
                Map<String, float[]> m = new LinkedHashMap<>(), v = new LinkedHashMap<>();
                for (Map.Entry<String, int[]> e : net.parameterShapes().entrySet()) {
                    m.put(e.getKey(), tensor(c, "adam.m." + e.getKey(), e.getValue()));
                    v.put(e.getKey(), tensor(c, "adam.v." + e.getKey(), e.getValue()));
                }
                opt = new Optimizer(Integer.parseInt(meta.get("adam.steps")), m, v);
            }
            Map<String, String> training = new LinkedHashMap<>();
            meta.forEach((k, v) -> {
                if (k.startsWith("train.")) training.put(k, v);
            });
            if (training.containsKey("train.step")) {
                Integer.parseInt(training.get("train.step"));
            }
            return new GeneratorModel(spec, params, state, training, opt);
        } catch (IllegalArgumentException e) { // includes NumberFormatException
            throw new WeightsException(file + ": " + e.getMessage());
        }
    }

    private static float[] tensor(Safetensors.Contents c, String name, int[] shape) {
        Safetensors.Tensor t = c.tensors().get(name);
        if (t == null) {
            throw new IllegalArgumentException("tensor " + name + " is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", the network's is "
                    + Arrays.toString(shape));
        }
        return t.data();
    }
}
