package org.clstyle.reference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.clstyle.loss.Golden;
import org.clstyle.nn.Generators;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.testing.FiniteDifference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Whole generators: the networks {@link Generators} describes, run by GeneratorReference, against the
 * same generators written the PyTorch way (src/test/python/golden_generators.py: texture_nets' conv
 * blocks and joins, pytorch/examples' TransformerNet with 150 tanh), reduced widths, batches of 1 and 2.
 * Same parameter names and shapes, the same output, and every parameter gradient and the input gradient
 * of L = sum(y^2) / 2 for one training step. Both sides compute in double from the same float32 values;
 * the goldens are stored as float32, so each element must match within 1e-6 * max|golden tensor| + 1e-5 *
 * |golden element| (a wrong layer, order or mode gives errors of order 1e-1), plus for parameter
 * gradients a floor of 1e-8 * the largest parameter gradient (biases before a norm: exactly 0, rounded).
 */
class GeneratorReferenceTest {
    static final double ATOL = 1e-6, RTOL = 1e-5;

    @ParameterizedTest
    @ValueSource(strings = {"pyramid_current", "pyramid_paper_noise", "pyramid_texture", "johnson"})
    void matchesPyTorch(String name) throws IOException {
        String dir = "genops/generators/";
        JsonNode c = new ObjectMapper().readTree(Golden.dir().resolve(dir + name + ".json").toFile());
        Network net = network(c);
        int n = c.get("n").asInt(), h = c.get("h").asInt(), w = c.get("w").asInt();

        // Parameters: the same names and shapes, in the same order.
        Map<String, int[]> shapes = net.parameterShapes();
        assertEquals(c.get("parameters").size(), shapes.size(), "parameter tensors");
        float[] all = Golden.npy(dir + name + "_params.npy").data();
        float[] allGrads = Golden.npy(dir + name + "_grads.npy").data();
        Map<String, double[]> params = new HashMap<>();
        int k = 0;
        for (String pname : shapes.keySet()) {
            JsonNode p = c.get("parameters").get(k++);
            assertEquals(p.get("name").asText(), pname, "parameter " + k);
            int[] s = new int[p.get("shape").size()];
            for (int i = 0; i < s.length; i++) s[i] = p.get("shape").get(i).asInt();
            assertTrue(Arrays.equals(s, shapes.get(pname)), pname + " shape " + Arrays.toString(shapes.get(pname))
                    + ", PyTorch " + Arrays.toString(s));
            int off = p.get("offset").asInt(), len = Arrays.stream(s).reduce(1, (a, b) -> a * b);
            params.put(pname, Tensors.toDouble(Arrays.copyOfRange(all, off, off + len)));
        }
        assertEquals(all.length, net.parameterCount());

        Map<String, double[]> noise = new HashMap<>();
        if (c.get("noise_nodes").size() > 0) {
            float[] z = Golden.npy(dir + name + "_noise.npy").data();
            for (JsonNode m : c.get("noise_nodes")) {
                int len = 1;
                for (JsonNode d : m.get("shape")) len *= d.asInt();
                int off = m.get("offset").asInt();
                noise.put(m.get("node").asText(), Tensors.toDouble(Arrays.copyOfRange(z, off, off + len)));
            }
        }
        GeneratorReference ref = new GeneratorReference(net, params, noise::get);
        double[] x = Tensors.toDouble(Golden.npy(dir + name + "_input.npy").data());
        double[] y = ref.forward(x, n, h, w).get("out");
        check(name + " y", Golden.npy(dir + name + "_y.npy").data(), y, 0);
        GeneratorReference.Gradients g = ref.backward(y); // L = sum(y^2) / 2
        check(name + " d/dinput", Golden.npy(dir + name + "_dinput.npy").data(), g.input(), 0);
        // Biases just before a normalisation have a gradient of exactly 0 that both sides round to
        // noise (~1e-10 of the largest gradient): a floor of 1e-8 of the case's largest parameter gradient.
        double floor = 0;
        for (float v : allGrads) floor = Math.max(floor, 1e-8 * Math.abs(v));
        k = 0;
        for (String pname : shapes.keySet()) {
            JsonNode p = c.get("parameters").get(k++);
            int off = p.get("offset").asInt();
            double[] got = g.parameters().get(pname);
            check(name + " d/d" + pname, Arrays.copyOfRange(allGrads, off, off + got.length), got, floor);
        }
    }

    /** The composition's own gradients by finite differences, on a tiny paper-style pyramid (every kind but Tanh, Add, reflect). */
    @Test
    void pyramidGradientsMatchFiniteDifferences() {
        Network net = Generators.pyramid(Generators.PyramidOptions.paper(true), 1);
        int n = 2, h = 32, w = 32;
        Map<String, double[]> params = new HashMap<>();
        long seed = 1;
        for (Map.Entry<String, int[]> e : net.parameterShapes().entrySet()) {
            int len = Arrays.stream(e.getValue()).reduce(1, (a, b) -> a * b);
            params.put(e.getKey(), Tensors.toDouble(Tensors.uniform(seed++, len, e.getKey().contains("norm.weight") ? 0.5 : -0.5,
                    e.getKey().contains("norm.weight") ? 1.5 : 0.5)));
        }
        Map<String, double[]> noise = new HashMap<>();
        for (var node : net.nodes()) {
            if (node.layer() instanceof Layer.UniformNoise) {
                int[] s = net.shapes(h, w, node.name()).get(node.name());
                noise.put(node.name(), Tensors.toDouble(Tensors.uniform(seed++, n * s[0] * s[1] * s[2], 0, 1)));
            }
        }
        double[] x = Tensors.toDouble(Tensors.uniform(99, n * 3 * h * w, 0, 1));
        double[] r = Tensors.toDouble(Tensors.uniform(98, n * 3 * h * w, -1, 1));
        GeneratorReference ref = new GeneratorReference(net, params, noise::get);
        ref.forward(x, n, h, w);
        GeneratorReference.Gradients g = ref.backward(r);
        // A few parameter tensors across the network (each checked whole), then loss = sum(r * y).
        for (String pname : new String[] {"s1.b1.conv.weight", "s6.b2.norm.weight", "j3.up_norm.bias", "j6.b3.conv.bias",
                "out.weight"}) {
            double[] p = params.get(pname);
            FiniteDifference.assertMatches(pname, g.parameters().get(pname), v -> {
                params.put(pname, v);
                return Conv2dReferenceTest.dot(r, new GeneratorReference(net, params, noise::get).forward(x, n, h, w).get("out"));
            }, p.clone(), 1e-5, 1e-6, 1e-4);
            params.put(pname, p);
        }
    }

    private static Network network(JsonNode c) {
        if (c.get("arch").asText().equals("johnson")) {
            return Generators.johnson(c.get("width").asInt());
        }
        Generators.PyramidOptions o = new Generators.PyramidOptions(c.get("stylization").asBoolean(),
                c.get("noise").asBoolean(),
                c.get("norm").asText().equals("instance") ? Generators.Norm.INSTANCE : Generators.Norm.BATCH,
                c.get("activation").asText().equals("relu") ? Generators.Activation.RELU : Generators.Activation.LEAKY_RELU,
                Layer.PadMode.valueOf(c.get("padding").asText().toUpperCase()));
        return Generators.pyramid(o, c.get("width").asInt());
    }

    private static void check(String what, float[] golden, double[] got, double floor) {
        assertEquals(golden.length, got.length, what + " length");
        double max = 0;
        for (float v : golden) max = Math.max(max, Math.abs(v));
        for (int i = 0; i < got.length; i++) {
            double err = Math.abs(got[i] - golden[i]);
            assertTrue(err <= floor + ATOL * max + RTOL * Math.abs(golden[i]), String.format("%s: element %d is %.9g, PyTorch %.9g"
                    + " (max|golden| %.3g)", what, i, got[i], golden[i], max));
        }
    }
}
