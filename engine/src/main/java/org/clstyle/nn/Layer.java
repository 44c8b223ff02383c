package org.clstyle.nn;

/**
 * What one node of a {@link Network} computes, as data: its kind and settings, nothing of the device.
 * Every tensor is [C, H, W] (one image); {@link #outputShape} gives the output for an input shape.
 */
public sealed interface Layer permits Layer.Conv2d, Layer.Relu, Layer.Pool2d {

    /** The output shape [C, H, W] for an input of {@code in} [C, H, W]; throws when the input does not fit. */
    int[] outputShape(int[] in);

    /** Names of this layer's parameters, relative to its node (e.g. weight, bias); empty for none. */
    default java.util.List<String> parameterNames() {
        return java.util.List.of();
    }

    /**
     * Convolution with a {@code kernel} x {@code kernel} filter, {@code stride}, zero padding {@code padding}
     * on every side, and a bias. Parameters: weight [out, in, k, k], bias [out].
     */
    record Conv2d(int inChannels, int outChannels, int kernel, int stride, int padding) implements Layer {
        public Conv2d {
            if (inChannels < 1 || outChannels < 1 || kernel < 1 || stride < 1 || padding < 0) {
                throw new IllegalArgumentException("Conv2d: bad settings in=" + inChannels + " out=" + outChannels
                        + " kernel=" + kernel + " stride=" + stride + " padding=" + padding);
            }
        }

        /** VGG's convolution: 3x3, stride 1, zero padding 1. */
        public static Conv2d vgg(int in, int out) {
            return new Conv2d(in, out, 3, 1, 1);
        }

        @Override
        public int[] outputShape(int[] in) {
            if (in[0] != inChannels) {
                throw new IllegalArgumentException("Conv2d takes " + inChannels + " channels, got " + in[0]);
            }
            int h = (in[1] + 2 * padding - kernel) / stride + 1;
            int w = (in[2] + 2 * padding - kernel) / stride + 1;
            return new int[] {outChannels, h, w};
        }

        @Override
        public java.util.List<String> parameterNames() {
            return java.util.List.of("weight", "bias");
        }

        /** Parameter shape: weight [out, in, k, k], bias [out]. */
        public int[] parameterShape(String parameter) {
            return switch (parameter) {
                case "weight" -> new int[] {outChannels, inChannels, kernel, kernel};
                case "bias" -> new int[] {outChannels};
                default -> throw new IllegalArgumentException("Conv2d has no parameter " + parameter);
            };
        }
    }

    /** max(x, 0) element-wise. */
    record Relu() implements Layer {
        @Override
        public int[] outputShape(int[] in) {
            return in.clone();
        }
    }

    /** Non-overlapping {@code size} x {@code size} pooling (window = stride = size; odd edges dropped). */
    record Pool2d(PoolKind kind, int size) implements Layer {
        public Pool2d {
            if (size < 1 || kind == null) {
                throw new IllegalArgumentException("Pool2d: bad settings " + kind + " " + size);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return new int[] {in[0], in[1] / size, in[2] / size};
        }
    }

    /** How a {@link Pool2d} combines its window. */
    enum PoolKind { MAX, AVG }
}
