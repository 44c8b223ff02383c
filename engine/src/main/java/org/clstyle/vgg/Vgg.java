package org.clstyle.vgg;

import java.util.ArrayList;
import java.util.List;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;
import org.clstyle.nn.Parameters;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;

/**
 * VGG16 and VGG19 as {@link Network}s, built from their row in {@link VggArchitecture}: per conv a
 * {@link Layer.Conv2d} (3x3, stride 1, zero padding 1) named convX_Y and a {@link Layer.Relu} named
 * reluX_Y, and a 2x2 {@link Layer.Pool2d} named poolX closing each block. The widths come from the
 * weights (reduced-width test networks have the same layout).
 */
public final class Vgg {
    private Vgg() {}

    /** The network the weights belong to, with its pooling. */
    public static Network network(VggWeights weights, Pooling pooling) {
        VggArchitecture a = weights.architecture();
        Layer.PoolKind kind = pooling == Pooling.MAX ? Layer.PoolKind.MAX : Layer.PoolKind.AVG;
        List<Node> nodes = new ArrayList<>();
        String previous = Network.INPUT;
        for (String name : a.layers()) {
            Layer layer;
            if (name.startsWith("conv")) {
                layer = Layer.Conv2d.vgg(weights.inChannels(name), weights.outChannels(name));
            } else if (name.startsWith("relu")) {
                layer = new Layer.Relu();
            } else {
                layer = new Layer.Pool2d(kind, 2);
            }
            nodes.add(new Node(name, layer, List.of(previous)));
            previous = name;
        }
        return new Network(a.id(), VggArchitecture.IMAGE_CHANNELS, nodes);
    }

    /** The weights as the network's parameters: convX_Y.weight [Cout, Cin, 3, 3] and convX_Y.bias [Cout]. */
    public static Parameters parameters(VggWeights weights) {
        return name -> {
            int dot = name.lastIndexOf('.');
            String conv = name.substring(0, dot);
            return switch (name.substring(dot + 1)) {
                case "weight" -> weights.weight(conv);
                case "bias" -> weights.bias(conv);
                default -> throw new IllegalArgumentException("VGG has no parameter " + name);
            };
        };
    }
}
