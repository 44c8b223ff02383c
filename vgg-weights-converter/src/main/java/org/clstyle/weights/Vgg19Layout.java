package org.clstyle.weights;

import java.util.List;

/** The 16 convolutions of VGG19 and how each published file names them. */
public final class Vgg19Layout {
    /** VGG19 conv layer names in network order. */
    public static final List<String> CONV_LAYERS = List.of(
            "conv1_1", "conv1_2",
            "conv2_1", "conv2_2",
            "conv3_1", "conv3_2", "conv3_3", "conv3_4",
            "conv4_1", "conv4_2", "conv4_3", "conv4_4",
            "conv5_1", "conv5_2", "conv5_3", "conv5_4");

    /** Output channels of each conv in the published full-width network. */
    public static final int[] FULL_CHANNELS = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512};

    /** Input channels of conv1_1: the image. */
    public static final int IMAGE_CHANNELS = 3;

    /** torchvision's index of each conv in {@code features} (ReLUs and max-pools fill the gaps). */
    static final int[] TORCHVISION_INDEX = {0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34};

    private Vgg19Layout() {
    }

    /** Index of a conv layer name in {@link #CONV_LAYERS}; -1 if it is not one. */
    public static int indexOf(String conv) {
        return CONV_LAYERS.indexOf(conv);
    }

    /** torchvision's key prefix for a conv, e.g. conv2_1 -> features.5 */
    static String torchvisionPrefix(int layer) {
        return "features." + TORCHVISION_INDEX[layer];
    }

    /** Keras' layer name for a conv, e.g. conv2_1 -> block2_conv1 */
    static String kerasName(int layer) {
        String n = CONV_LAYERS.get(layer); // convB_C
        return "block" + n.charAt(4) + "_conv" + n.substring(6);
    }
}
