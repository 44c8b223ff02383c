package org.clstyle.nn;

/**
 * What one node of a {@link Network} computes, as data: its kind and settings, nothing of the device.
 * Every tensor is [C, H, W] (one image); {@link #outputShape} gives the output for an input shape.
 */
public sealed interface Layer permits Layer.Conv2d, Layer.Relu, Layer.Pool2d, Layer.Pad, Layer.InstanceNorm,
        Layer.BatchNorm, Layer.LeakyRelu, Layer.Tanh, Layer.Upsample, Layer.Concat, Layer.Add, Layer.UniformNoise {

    /** The output shape [C, H, W] for an input of {@code in} [C, H, W]; throws when the input does not fit. */
    int[] outputShape(int[] in);

    /** How many inputs a node of this kind reads: 1 for most kinds, -1 for two or more. */
    default int arity() {
        return 1;
    }

    /** The output shape for the shapes of all the node's inputs, in order (one-input kinds: the first). */
    default int[] outputShape(java.util.List<int[]> in) {
        return outputShape(in.get(0));
    }

    /** Names of this layer's parameters, relative to its node (e.g. weight, bias); empty for none. */
    default java.util.List<String> parameterNames() {
        return java.util.List.of();
    }

    /** The shape of one of {@link #parameterNames()}. */
    default int[] parameterShape(String parameter) {
        throw new IllegalArgumentException(getClass().getSimpleName() + " has no parameter " + parameter);
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
        @Override
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

    /** How a {@link Pad} fills the border (PyTorch's F.pad modes constant 0, replicate, circular, reflect). */
    enum PadMode { ZERO, REPLICATE, CIRCULAR, REFLECT }

    /** Spatial padding by {@code amount} on every side (ops.Pad2d); reflect needs amount < H and W. */
    record Pad(PadMode mode, int amount) implements Layer {
        public Pad {
            if (mode == null || amount < 0) {
                throw new IllegalArgumentException("Pad: bad settings " + mode + " " + amount);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            if (mode == PadMode.REFLECT && (amount >= in[1] || amount >= in[2])) {
                throw new IllegalArgumentException("reflect padding " + amount + " needs an input larger than "
                        + in[1] + "x" + in[2]);
            }
            if (mode == PadMode.CIRCULAR && (amount > in[1] || amount > in[2])) {
                throw new IllegalArgumentException("circular padding " + amount + " needs an input of at least "
                        + in[1] + "x" + in[2]);
            }
            return new int[] {in[0], in[1] + 2 * amount, in[2] + 2 * amount};
        }
    }

    /**
     * Instance normalisation with affine parameters (nn.InstanceNorm2d(C, affine=True), eps 1e-5;
     * ops.InstanceNorm). Parameters: weight [C] (gamma), bias [C] (beta).
     */
    record InstanceNorm(int channels) implements Layer {
        public InstanceNorm {
            if (channels < 1) {
                throw new IllegalArgumentException("InstanceNorm: bad channel count " + channels);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return Layer.sameChannels("InstanceNorm", channels, in);
        }

        @Override
        public java.util.List<String> parameterNames() {
            return java.util.List.of("weight", "bias");
        }

        @Override
        public int[] parameterShape(String parameter) {
            return Layer.perChannel("InstanceNorm", channels, parameter);
        }
    }

    /**
     * Batch normalisation with affine parameters (nn.BatchNorm2d(C), eps 1e-5, momentum 0.1;
     * ops.BatchNorm): batch statistics in training, running statistics (state, not trained) for
     * inference. Parameters: weight [C], bias [C]; state: running_mean [C], running_var [C].
     */
    record BatchNorm(int channels) implements Layer {
        public BatchNorm {
            if (channels < 1) {
                throw new IllegalArgumentException("BatchNorm: bad channel count " + channels);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return Layer.sameChannels("BatchNorm", channels, in);
        }

        @Override
        public java.util.List<String> parameterNames() {
            return java.util.List.of("weight", "bias");
        }

        @Override
        public int[] parameterShape(String parameter) {
            return Layer.perChannel("BatchNorm", channels, parameter);
        }

        /** The running statistics, each [C], saved with a model but not trained. */
        public java.util.List<String> stateNames() {
            return java.util.List.of("running_mean", "running_var");
        }
    }

    /** x > 0 ? x : slope x (nn.LeakyReLU; the paper's generators use 0.01). */
    record LeakyRelu(float slope) implements Layer {
        @Override
        public int[] outputShape(int[] in) {
            return in.clone();
        }
    }

    /** scale * tanh(x) (Johnson's output: 150 tanh). */
    record Tanh(float scale) implements Layer {
        public Tanh {
            if (!(scale != 0 && Float.isFinite(scale))) {
                throw new IllegalArgumentException("Tanh: bad scale " + scale);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return in.clone();
        }
    }

    /** Nearest-neighbour upsampling by an integer factor (nn.Upsample(scale_factor, mode="nearest")). */
    record Upsample(int factor) implements Layer {
        public Upsample {
            if (factor < 1) {
                throw new IllegalArgumentException("Upsample: bad factor " + factor);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return new int[] {in[0], in[1] * factor, in[2] * factor};
        }
    }

    /** Concatenation of two or more inputs of one size along channels, in input order (torch.cat(dim=1)). */
    record Concat() implements Layer {
        @Override
        public int arity() {
            return -1;
        }

        @Override
        public int[] outputShape(int[] in) {
            return in.clone();
        }

        @Override
        public int[] outputShape(java.util.List<int[]> in) {
            int c = 0;
            for (int[] s : in) {
                if (s[1] != in.get(0)[1] || s[2] != in.get(0)[2]) {
                    throw new IllegalArgumentException("Concat: inputs of different sizes " + in.get(0)[1] + "x"
                            + in.get(0)[2] + " and " + s[1] + "x" + s[2]);
                }
                c += s[0];
            }
            return new int[] {c, in.get(0)[1], in.get(0)[2]};
        }
    }

    /** The sum of two inputs of one shape (a residual connection). */
    record Add() implements Layer {
        @Override
        public int arity() {
            return 2;
        }

        @Override
        public int[] outputShape(int[] in) {
            return in.clone();
        }

        @Override
        public int[] outputShape(java.util.List<int[]> in) {
            if (!java.util.Arrays.equals(in.get(0), in.get(1))) {
                throw new IllegalArgumentException("Add: inputs of different shapes " + java.util.Arrays.toString(in.get(0))
                        + " and " + java.util.Arrays.toString(in.get(1)));
            }
            return in.get(0).clone();
        }
    }

    /**
     * {@code channels} planes of uniform noise in [0, 1) the size of its input (whose values it does not
     * read), drawn on the device (ops.UniformNoise) afresh for every forward; no gradient.
     */
    record UniformNoise(int channels) implements Layer {
        public UniformNoise {
            if (channels < 1) {
                throw new IllegalArgumentException("UniformNoise: bad channel count " + channels);
            }
        }

        @Override
        public int[] outputShape(int[] in) {
            return new int[] {channels, in[1], in[2]};
        }
    }

    private static int[] sameChannels(String kind, int channels, int[] in) {
        if (in[0] != channels) {
            throw new IllegalArgumentException(kind + " takes " + channels + " channels, got " + in[0]);
        }
        return in.clone();
    }

    private static int[] perChannel(String kind, int channels, String parameter) {
        if (parameter.equals("weight") || parameter.equals("bias")) {
            return new int[] {channels};
        }
        throw new IllegalArgumentException(kind + " has no parameter " + parameter);
    }
}
