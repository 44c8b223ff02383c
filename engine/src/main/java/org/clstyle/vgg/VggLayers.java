package org.clstyle.vgg;

import java.util.Collection;
import java.util.List;
import org.clstyle.weights.VggArchitecture;

/**
 * The layer names a recipe may use before the weights are known: VGG19's 37 in forward order (conv1_1,
 * relu1_1, conv1_2, relu1_2, pool1, conv2_1, ... relu5_4, pool5), which include every VGG16 name.
 * convX_Y is the convolution's output before its ReLU, reluX_Y after it. Once the weights are loaded,
 * the network's own table ({@link Vgg#network}) decides; VGG16 lacks conv3_4, conv4_4, conv5_4 and
 * their ReLUs. Kept apart from the network so that recipes can be validated without touching a device.
 */
public final class VggLayers {
    private VggLayers() {}

    /** All 37 VGG19 layer names in forward order. */
    public static final List<String> ALL = VggArchitecture.VGG19.layers();

    /** True for a valid layer name. */
    public static boolean isLayer(String name) {
        return ALL.contains(name);
    }

    /** Position in forward order; -1 for an unknown name. */
    public static int index(String name) {
        return ALL.indexOf(name);
    }

    /** The deepest of {@code layers} (all valid), or null when empty. */
    public static String deepest(Collection<String> layers) {
        String best = null;
        for (String l : layers) {
            if (index(l) < 0) {
                throw new IllegalArgumentException(unknownLayerMessage("layer", l));
            }
            if (best == null || index(l) > index(best)) {
                best = l;
            }
        }
        return best;
    }

    /** One line naming the bad layer and listing the valid names. */
    public static String unknownLayerMessage(String where, String name) {
        return where + ": unknown layer '" + name + "'; valid layers: " + String.join(", ", ALL);
    }
}
