package org.clstyle.vgg;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;

/**
 * The names of VGG19's layers in forward order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...
 * relu5_4, pool5. convX_Y is the convolution's output before its ReLU, reluX_Y after it.
 * Kept apart from {@link Vgg19} so that recipes can be validated without touching a device.
 */
public final class VggLayers {
    private VggLayers() {}

    /** Convolutions per block (VGG19: 2, 2, 4, 4, 4). */
    static final int[] CONVS_PER_BLOCK = {2, 2, 4, 4, 4};

    /** All 37 layer names in forward order. */
    public static final List<String> ALL;

    static {
        List<String> names = new ArrayList<>();
        for (int b = 0; b < CONVS_PER_BLOCK.length; b++) {
            for (int k = 1; k <= CONVS_PER_BLOCK[b]; k++) {
                names.add("conv" + (b + 1) + "_" + k);
                names.add("relu" + (b + 1) + "_" + k);
            }
            names.add("pool" + (b + 1));
        }
        ALL = Collections.unmodifiableList(names);
    }

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
