package org.clstyle.loss;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clstyle.vgg.Pooling;
import org.clstyle.weights.Preprocessing;

/**
 * Named recipes that the peers and the literature publish ({@code --preset NAME}, or {@code "preset"} in a
 * recipe file). A preset fixes the network it needs, the loss (applied over the weights' defaults, so
 * what it does not name keeps them), and the optimiser and start image it implies; explicit flags and
 * recipe keys override all of it. The README's preset table states each one's source.
 */
public enum Preset {
    /** The official PyTorch tutorial ("Neural Transfer Using PyTorch"). */
    TUTORIAL("vgg19", "lbfgs", "content",
            "the PyTorch tutorial (pytorch.org/tutorials/advanced/neural_style_tutorial): VGG19, content conv2_2, "
                    + "style conv1_1 conv1_2 conv2_1 conv2_2 conv3_1 (pre-ReLU), MSE, Gram / (C*H*W), style weight 1e6, "
                    + "content 1, no TV, max pooling, L-BFGS from the content image") {
        @Override
        Recipe.Builder apply(Recipe.Builder b) {
            return b.contentWeight(1).contentLoss(Recipe.LossKind.MSE).contentLayers(equal("conv2_2"))
                    .styleWeight(1e6).styleLoss(Recipe.LossKind.MSE).gram(Recipe.GramNorm.CHW)
                    .styleLayers(equal("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1"))
                    .tvWeight(0).pooling(Pooling.MAX);
        }
    },
    /**
     * Gatys, Ecker and Bethge, "Image Style Transfer Using Convolutional Neural Networks" (CVPR 2016). The
     * paper names its layers conv4_2 and conv1_1..conv5_1; its Caffe network applies each ReLU in place,
     * so those responses are the ReLU outputs (the authors' PyTorch code reads r42, r11..r51): relu here.
     */
    GATYS("vgg19", "lbfgs", "noise",
            "Gatys et al. 2016 (CVPR): content relu4_2 with 1/2 sum of squares, style relu1_1 relu2_1 relu3_1 relu4_1 "
                    + "relu5_1 with w_l = 1/5 and E_l = sum (G - A)^2 / (4 N^2 M^2), alpha/beta = 1e-3 (content 1, "
                    + "style 1e3), no TV, average pooling, L-BFGS from white noise") {
        @Override
        Recipe.Builder apply(Recipe.Builder b) {
            Map<String, Double> style = new LinkedHashMap<>();
            for (String l : List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")) {
                style.put(l, 0.2);
            }
            return b.contentWeight(1).contentLoss(Recipe.LossKind.SSE_HALF).contentLayers(equal("relu4_2"))
                    .styleWeight(1e3).styleLoss(Recipe.LossKind.MSE).gram(Recipe.GramNorm.GATYS).styleLayers(style)
                    .tvWeight(0).pooling(Pooling.AVG);
        }
    },
    /** clstyle's own defaults (jcjohnson/neural-style's balance), unchanged. */
    JCJOHNSON("vgg19", "lbfgs", "content",
            "jcjohnson/neural-style's defaults, clstyle's own: content relu4_2 weight 5, style relu1_1..relu5_1 weight 100 "
                    + "(rescaled for torchvision weights), MSE, Gram / (C*H*W), TV 1e-3 on the 0-255 input, max pooling, "
                    + "L-BFGS from the content image") {
        @Override
        Recipe.Builder apply(Recipe.Builder b) {
            return b;
        }
    },
    /**
     * The practitioner's article on doing better than the tutorial: the Gatys layers as the tutorial's
     * code taps them (pre-ReLU), Adam, L1 for both terms; transfer.Stylizer adds its augmentation (--augment medium).
     */
    PRACTICAL("vgg19", "adam", "content",
            "the practical-improvements article: Gatys layers (content conv4_2; style conv1_1 conv2_1 conv3_1 conv4_1 "
                    + "conv5_1, pre-ReLU as in the tutorial's code), L1 for content and style, Gram / (C*H*W), content 1, "
                    + "style 1e3 (clstyle's estimate for L1, not the article's number), no TV, max pooling, Adam from the "
                    + "content image, --augment medium (the article's scaled-down augmentation) unless --augment says otherwise") {
        @Override
        Recipe.Builder apply(Recipe.Builder b) {
            return b.contentWeight(1).contentLoss(Recipe.LossKind.L1).contentLayers(equal("conv4_2"))
                    .styleWeight(1e3).styleLoss(Recipe.LossKind.L1).gram(Recipe.GramNorm.CHW)
                    .styleLayers(equal("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1"))
                    .tvWeight(0).pooling(Pooling.MAX);
        }
    },
    /** VGG16 perceptual loss layers (Johnson et al. 2016's style layers; content one block deeper). */
    VGG16("vgg16", "lbfgs", "content",
            "VGG16 (Johnson et al. 2016's loss network; pytorch/examples fast_neural_style's weights): content relu3_3 "
                    + "weight 1e5, style relu1_2 relu2_2 relu3_3 relu4_3 weight 1e10, MSE, Gram / (C*H*W), no TV, max "
                    + "pooling, L-BFGS from the content image; needs VGG16 weights") {
        @Override
        Recipe.Builder apply(Recipe.Builder b) {
            return b.contentWeight(1e5).contentLoss(Recipe.LossKind.MSE).contentLayers(equal("relu3_3"))
                    .styleWeight(1e10).styleLoss(Recipe.LossKind.MSE).gram(Recipe.GramNorm.CHW)
                    .styleLayers(equal("relu1_2", "relu2_2", "relu3_3", "relu4_3"))
                    .tvWeight(0).pooling(Pooling.MAX);
        }
    };

    private final String network;
    private final String optimizer;
    private final String init;
    private final String description;

    Preset(String network, String optimizer, String init, String description) {
        this.network = network;
        this.optimizer = optimizer;
        this.init = init;
        this.description = description;
    }

    /** Sets this preset's loss fields on {@code b}. */
    abstract Recipe.Builder apply(Recipe.Builder b);

    /** The name on the command line and in recipes: tutorial, gatys, jcjohnson, practical, vgg16. */
    public String key() { return name().toLowerCase(Locale.ROOT); }

    /** The network the preset's layers belong to: "vgg19" or "vgg16". */
    public String network() { return network; }

    /** The optimiser it implies: "lbfgs" or "adam". */
    public String optimizer() { return optimizer; }

    /** The start image it implies for stylize: "content" or "noise" (texture always starts from noise). */
    public String init() { return init; }

    /** One paragraph: the source and what the preset sets. */
    public String description() { return description; }

    /** The preset's recipe over {@code base} (the weights' defaults): the fields it names replace the base's. */
    public Recipe recipe(Recipe base) {
        return apply(base.toBuilder()).build();
    }

    /** The preset's recipe over the defaults for this preprocessing. */
    public Recipe recipe(Preprocessing p) {
        return recipe(Recipe.defaultsFor(p));
    }

    /** Parses a preset name; the message names {@code field} and lists the presets. */
    public static Preset parse(String field, String name) {
        String k = name == null ? "" : name.trim().toLowerCase(Locale.ROOT);
        for (Preset p : values()) {
            if (p.key().equals(k)) {
                return p;
            }
        }
        throw new IllegalArgumentException(field + ": unknown preset '" + name + "' (use " + names() + ")");
    }

    /** Every preset name, comma separated. */
    public static String names() {
        StringBuilder s = new StringBuilder();
        for (Preset p : values()) {
            s.append(s.length() == 0 ? "" : ", ").append(p.key());
        }
        return s.toString();
    }

    /**
     * One line when weights of {@code network} ("vgg16", "vgg19") cannot run this preset, else null.
     */
    public String networkMismatch(String weightsNetwork, Object weightsFile) {
        if (network.equals(weightsNetwork)) {
            return null;
        }
        return "preset " + key() + " needs " + network.toUpperCase(Locale.ROOT) + " weights, but " + weightsFile + " holds "
                + weightsNetwork.toUpperCase(Locale.ROOT) + (network.equals("vgg16")
                ? " (convert torchvision's vgg16 .pth or the Caffe VGG16 with `clstyle weights convert`, then pass --weights)"
                : " (pass VGG19 weights with --weights, or run `clstyle weights fetch`)");
    }

    private static Map<String, Double> equal(String... layers) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (String l : layers) {
            m.put(l, 1.0);
        }
        return m;
    }
}
