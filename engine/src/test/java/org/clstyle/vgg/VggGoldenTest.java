package org.clstyle.vgg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.clstyle.ops.OpSettings;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.loss.Golden;
import org.clstyle.nn.DeviceNetwork;
import org.clstyle.ops.VectorOps;
import org.clstyle.testing.Tensors;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * DeviceNetwork on the VGG19 table + Preprocess forward against PyTorch's float64 activations of the golden image (tiny random
 * network, Caffe preprocessing, max pooling), at layers from relu1_1 to relu5_4, pre-ReLU convs and
 * pools included. Tolerance per element: 1e-4 * max|golden activation| + 1e-4 * |golden element|.
 * Also: the fused and unfused paths give the same ReLU outputs, and the backward of a linear probe
 * <r, F_l> through the whole graph equals the same probe's backward through a graph that keeps every
 * conv unfused (two routes through different kernels).
 */
class VggGoldenTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @Test
    void activationsMatchPyTorch() throws Exception {
        JsonNode layers = Golden.cases().get("activations").get("layers");
        VggWeights weights = Golden.weights("caffe");
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        List<String> names = new ArrayList<>();
        layers.fieldNames().forEachRemaining(names::add);
        try (DeviceNetwork vgg = new DeviceNetwork(ctx, Vgg.network(weights, Pooling.MAX), Vgg.parameters(weights), OpSettings.NONE);
                ClBuffer x = ctx.buffer(image.data(), image.shape()); ClBuffer net = ctx.buffer(image.shape())) {
            new Preprocess(ctx, weights.preprocessing()).forward(x, net);
            vgg.forward(net, names);
            for (String l : names) {
                Golden.Tensor expected = Golden.npy(layers.get(l).asText());
                ClBuffer a = vgg.activation(l);
                assertArrayEquals(expected.shape(), a.shape(), l + " shape");
                assertArrayEquals(expected.shape(), vgg.shape(l, image.shape()[1], image.shape()[2]), l + " shape()");
                Tensors.assertClose(l, expected.data(), a.read(), 1e-4 * Golden.maxAbs(expected.data()), 1e-4);
            }
        }
    }

    @Test
    void fusedAndUnfusedPathsAgreeForwardAndBackward() throws Exception {
        VggWeights weights = Golden.weights("caffe");
        Golden.Tensor image = Golden.png(Golden.cases().get("image").asText());
        List<String> allConvs = VggLayers.ALL.stream().filter(l -> l.startsWith("conv") && VggLayers.index(l) < VggLayers.index("relu4_1")).toList();
        List<String> unfusedTaps = new ArrayList<>(allConvs);
        unfusedTaps.add("relu4_1");
        int[] shape = new int[] {32, 3, 2};
        float[] probe = Tensors.normal(5, 32 * 3 * 2, 1);
        try (DeviceNetwork fused = new DeviceNetwork(ctx, Vgg.network(weights, Pooling.AVG), Vgg.parameters(weights), OpSettings.NONE);
                DeviceNetwork unfused = new DeviceNetwork(ctx, Vgg.network(weights, Pooling.AVG), Vgg.parameters(weights), OpSettings.NONE);
                ClBuffer x = ctx.buffer(image.data(), image.shape()); ClBuffer net = ctx.buffer(image.shape());
                ClBuffer r = ctx.buffer(probe, shape);
                ClBuffer d1 = ctx.buffer(image.shape()); ClBuffer d2 = ctx.buffer(image.shape())) {
            new Preprocess(ctx, weights.preprocessing()).forward(x, net);
            fused.forward(net, List.of("relu4_1"));
            unfused.forward(net, unfusedTaps);
            float[] a = fused.activation("relu4_1").read();
            Tensors.assertClose("relu4_1 fused vs unfused", a, unfused.activation("relu4_1").read(), 1e-5 * Golden.maxAbs(a), 1e-5);
            fused.backward(Map.of("relu4_1", r), d1);
            unfused.backward(Map.of("relu4_1", r), d2);
            float[] g = d1.read();
            Tensors.assertClose("d <r, relu4_1> / d net, fused vs unfused", g, d2.read(), 1e-5 * Golden.maxAbs(g), 1e-5);
            // A zero gradient at a pre-ReLU conv changes nothing; a nonzero one adds its own backward.
            try (ClBuffer zero = ctx.buffer(unfused.shape("conv2_1", 28, 22))) {
                new VectorOps(ctx).fill(zero, 0f);
                unfused.backward(Map.of("relu4_1", r, "conv2_1", zero), d2);
                Tensors.assertClose("with a zero conv2_1 gradient", g, d2.read(), 1e-5 * Golden.maxAbs(g), 1e-5);
            }
            assertEquals("conv2_1 was not requested by the last forward: name it in the forward's outputs",
                    assertThrows(IllegalStateException.class, () -> fused.activation("conv2_1")).getMessage());
        }
    }
}
