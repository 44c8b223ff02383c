package org.clstyle.nn;

import java.util.ArrayList;
import java.util.List;

/**
 * The feed-forward generators of issue 10 as {@link Network}s (data only; parameters are named
 * {@code node.weight} / {@code node.bias} as PyTorch names a module's).
 *
 * <p>{@code pyramid}: Ulyanov et al.'s Texture Networks generator as in the authors' current code.
 * K = 6 scales: the input average-pooled by 32, 16, 8, 4, 2, 1 (nodes s1 .. s6, coarsest first); each
 * scale runs three conv blocks (3x3 c_in -> 8, 3x3 8 -> 8, 1x1 8 -> 8), a block being padding, a
 * convolution without padding, a normalisation and an activation. From coarse to fine (joins j2 .. j6):
 * nearest upsample x2, a normalisation, concatenation with the next scale's branch (8 i channels), three
 * conv blocks at that width (3x3, 3x3, 1x1); finally a 1x1 convolution 48 -> 3 (node out). About 117k
 * parameters. H and W must be multiples of 32 (other sizes do not join: the caller pads and crops).
 * Texture mode feeds each scale uniform noise of its size (UniformNoise of the pooled input, whose
 * values are unused); stylization feeds the pooled image, optionally concatenated with 3 noise planes.
 *
 * <p>{@code johnson}: Johnson et al.'s network (as in pytorch/examples' fast_neural_style, reflection
 * padding before every convolution): c9s1-32, d64, d128, five residual blocks of 128, two upsampling
 * blocks (nearest x2 then a 3x3 convolution), c9s1-3, instance norm, ReLU, output 150 tanh (node out).
 * About 1.7M parameters.
 */
public final class Generators {
    private Generators() {}

    /** Channels of each pyramid branch. */
    public static final int PYRAMID_WIDTH = 8;
    /** The pyramid's pooling ratios, coarsest first. */
    public static final int[] PYRAMID_RATIOS = {32, 16, 8, 4, 2, 1};

    /** Normalisation layers of a generator. */
    public enum Norm { INSTANCE, BATCH }

    /** Activations of a generator. */
    public enum Activation { RELU, LEAKY_RELU }

    /** The pyramid generator's choices. */
    public record PyramidOptions(boolean stylization, boolean noise, Norm norm, Activation activation,
            Layer.PadMode padding) {
        public PyramidOptions {
            if (norm == null || activation == null || padding == null) {
                throw new IllegalArgumentException("PyramidOptions: norm, activation and padding are required");
            }
            if (!stylization && !noise) {
                throw new IllegalArgumentException("PyramidOptions: texture mode (no stylization) takes noise");
            }
        }

        /** The authors' current code: instance norm, ReLU, replicate padding; stylization from RGB alone. */
        public static PyramidOptions current(boolean stylization) {
            return new PyramidOptions(stylization, !stylization, Norm.INSTANCE, Activation.RELU, Layer.PadMode.REPLICATE);
        }

        /** The paper's version: batch norm, LeakyReLU 0.01, circular padding, noise (with the image when stylizing). */
        public static PyramidOptions paper(boolean stylization) {
            return new PyramidOptions(stylization, true, Norm.BATCH, Activation.LEAKY_RELU, Layer.PadMode.CIRCULAR);
        }

        /** Channels of each scale's input: 3 (RGB or noise) or 6 (RGB and noise). */
        public int branchInputChannels() {
            return stylization && noise ? 6 : 3;
        }
    }

    /** Builds nodes in order, each reading the previous one unless told otherwise. */
    private static final class Builder {
        final List<Node> nodes = new ArrayList<>();
        String last = Network.INPUT;

        String add(String name, Layer layer, String... inputs) {
            nodes.add(new Node(name, layer, inputs.length == 0 ? List.of(last) : List.of(inputs)));
            last = name;
            return name;
        }
    }

    /** A Texture Networks pyramid generator (input: RGB [3, H, W], or anything of that size in texture mode). */
    public static Network pyramid(PyramidOptions o) {
        return pyramid(o, PYRAMID_WIDTH);
    }

    /** The pyramid with {@code width} channels per branch instead of 8 (reduced copies for tests). */
    public static Network pyramid(PyramidOptions o, int width) {
        if (width < 1) {
            throw new IllegalArgumentException("pyramid: bad branch width " + width);
        }
        Builder b = new Builder();
        int k = PYRAMID_RATIOS.length;
        String[] branch = new String[k];
        for (int i = 0; i < k; i++) {
            String s = "s" + (i + 1);
            String in = b.add(s + ".pool", new Layer.Pool2d(Layer.PoolKind.AVG, PYRAMID_RATIOS[i]), Network.INPUT);
            if (!o.stylization()) {
                in = b.add(s + ".noise", new Layer.UniformNoise(3), in);
            } else if (o.noise()) {
                String noise = b.add(s + ".noise", new Layer.UniformNoise(3), in);
                in = b.add(s + ".input", new Layer.Concat(), in, noise);
            }
            b.last = in;
            block(b, s + ".b1", o, o.branchInputChannels(), width, 3);
            block(b, s + ".b2", o, width, width, 3);
            branch[i] = block(b, s + ".b3", o, width, width, 1);
        }
        String current = branch[0];
        for (int i = 1; i < k; i++) {
            String j = "j" + (i + 1);
            int below = width * i, joined = width * (i + 1);
            b.add(j + ".up", new Layer.Upsample(2), current);
            String up = b.add(j + ".up_norm", norm(o.norm(), below));
            b.add(j + ".cat", new Layer.Concat(), up, branch[i]);
            block(b, j + ".b1", o, joined, joined, 3);
            block(b, j + ".b2", o, joined, joined, 3);
            current = block(b, j + ".b3", o, joined, joined, 1);
        }
        b.add("out", new Layer.Conv2d(width * k, 3, 1, 1, 0), current);
        String mode = o.stylization() ? (o.noise() ? "stylization+noise" : "stylization") : "texture";
        return new Network("pyramid-" + mode, 3, b.nodes);
    }

    /** pad -> conv k x k (no padding) -> norm -> activation; returns the activation's node name. */
    private static String block(Builder b, String name, PyramidOptions o, int in, int out, int k) {
        if (k > 1) {
            b.add(name + ".pad", new Layer.Pad(o.padding(), (k - 1) / 2));
        }
        b.add(name + ".conv", new Layer.Conv2d(in, out, k, 1, 0));
        b.add(name + ".norm", norm(o.norm(), out));
        return b.add(name + ".act", o.activation() == Activation.RELU ? new Layer.Relu() : new Layer.LeakyRelu(0.01f));
    }

    private static Layer norm(Norm n, int channels) {
        return n == Norm.INSTANCE ? new Layer.InstanceNorm(channels) : new Layer.BatchNorm(channels);
    }

    /** Johnson's output scale: 150 tanh. */
    public static final float JOHNSON_TANH_SCALE = 150f;

    /** Johnson et al.'s transformation network (input RGB [3, H, W]). */
    public static Network johnson() {
        return johnson(32);
    }

    /** Johnson's network with widths base, 2 base, 4 base instead of 32, 64, 128 (reduced copies for tests). */
    public static Network johnson(int base) {
        if (base < 1) {
            throw new IllegalArgumentException("johnson: bad base width " + base);
        }
        int w1 = base, w2 = 2 * base, w3 = 4 * base;
        Builder b = new Builder();
        johnsonConv(b, "c1", 3, w1, 9, 1, true);
        johnsonConv(b, "d1", w1, w2, 3, 2, true);
        String x = johnsonConv(b, "d2", w2, w3, 3, 2, true);
        for (int r = 1; r <= 5; r++) {
            String name = "r" + r;
            johnsonConv(b, name + ".a", w3, w3, 3, 1, true);
            String y = johnsonConv(b, name + ".b", w3, w3, 3, 1, false);
            x = b.add(name + ".add", new Layer.Add(), x, y);
        }
        b.add("u1.up", new Layer.Upsample(2));
        johnsonConv(b, "u1", w3, w2, 3, 1, true);
        b.add("u2.up", new Layer.Upsample(2));
        johnsonConv(b, "u2", w2, w1, 3, 1, true);
        b.add("c2.pad", new Layer.Pad(Layer.PadMode.REFLECT, 4));
        b.add("c2.conv", new Layer.Conv2d(w1, 3, 9, 1, 0));
        b.add("out", new Layer.Tanh(JOHNSON_TANH_SCALE));
        return new Network("johnson", 3, b.nodes);
    }

    /** reflection pad k/2 -> conv (stride s, no padding) -> instance norm [-> ReLU]; returns the last node. */
    private static String johnsonConv(Builder b, String name, int in, int out, int k, int stride, boolean relu) {
        b.add(name + ".pad", new Layer.Pad(Layer.PadMode.REFLECT, k / 2));
        b.add(name + ".conv", new Layer.Conv2d(in, out, k, stride, 0));
        String last = b.add(name + ".norm", new Layer.InstanceNorm(out));
        return relu ? b.add(name + ".relu", new Layer.Relu()) : last;
    }
}
