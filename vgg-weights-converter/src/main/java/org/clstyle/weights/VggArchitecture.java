package org.clstyle.weights;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The convolutional part of a VGG network as data: convolutions per block (each 3x3, stride 1, zero
 * padding 1, followed by a ReLU; a 2x2 pooling closes each block) and the published full widths. The
 * layer names (conv1_1, relu1_1, ..., pool5) and every published file's key names are derived from
 * this table, so VGG16 and VGG19 differ only in their row here.
 */
public enum VggArchitecture {
    /** Simonyan and Zisserman's configuration D: 13 convolutions. */
    VGG16(new int[] {2, 2, 3, 3, 3}),
    /** Configuration E: 16 convolutions. */
    VGG19(new int[] {2, 2, 4, 4, 4});

    /** Input channels of conv1_1: the image. */
    public static final int IMAGE_CHANNELS = 3;

    private final int[] convsPerBlock;
    private final List<String> convLayers;
    private final List<String> layers;
    private final int[] fullChannels;
    private final int[] torchvisionIndex;

    VggArchitecture(int[] convsPerBlock) {
        this.convsPerBlock = convsPerBlock;
        List<String> convs = new ArrayList<>();
        List<String> all = new ArrayList<>();
        List<Integer> widths = new ArrayList<>();
        List<Integer> tv = new ArrayList<>();
        int feature = 0; // torchvision's nn.Sequential index: conv, ReLU per conv, one max-pool per block
        for (int b = 0; b < convsPerBlock.length; b++) {
            for (int k = 1; k <= convsPerBlock[b]; k++) {
                String suffix = (b + 1) + "_" + k;
                convs.add("conv" + suffix);
                all.add("conv" + suffix);
                all.add("relu" + suffix);
                widths.add(Math.min(512, 64 << b)); // published widths per block: 64, 128, 256, 512, 512
                tv.add(feature);
                feature += 2;
            }
            all.add("pool" + (b + 1));
            feature += 1;
        }
        this.convLayers = Collections.unmodifiableList(convs);
        this.layers = Collections.unmodifiableList(all);
        this.fullChannels = widths.stream().mapToInt(Integer::intValue).toArray();
        this.torchvisionIndex = tv.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Lower-case name as written in files and on the command line: vgg16, vgg19. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The architecture named {@code id} (vgg16 or vgg19, any case), or null. */
    public static VggArchitecture byId(String id) {
        for (VggArchitecture a : values()) {
            if (a.id().equalsIgnoreCase(id)) {
                return a;
            }
        }
        return null;
    }

    /** Convolutions per block, e.g. {2, 2, 4, 4, 4} for VGG19. */
    public int[] convsPerBlock() {
        return convsPerBlock.clone();
    }

    /** The conv layer names in network order. */
    public List<String> convLayers() {
        return convLayers;
    }

    /** Every layer name in forward order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, ... pool5. */
    public List<String> layers() {
        return layers;
    }

    /** Index of a conv layer name in {@link #convLayers}; -1 if it is not one. */
    public int convIndex(String conv) {
        return convLayers.indexOf(conv);
    }

    /** Output channels of each conv in the published full-width network. */
    public int[] fullChannels() {
        return fullChannels.clone();
    }

    /** torchvision's key prefix for conv {@code layer} (index in {@link #convLayers}), e.g. features.5 */
    public String torchvisionPrefix(int layer) {
        return "features." + torchvisionIndex[layer];
    }

    /** Keras' layer name for a conv, e.g. conv2_1 -> block2_conv1 */
    public String kerasName(int layer) {
        String n = convLayers.get(layer); // convB_C
        return "block" + n.charAt(4) + "_conv" + n.substring(6);
    }

    @Override
    public String toString() {
        return id() + " (" + convLayers.size() + " convolutions, blocks " + Arrays.toString(convsPerBlock) + ")";
    }
}
