package org.clstyle.nn;

/**
 * How far one output pixel of a node reaches into the network input, from the layer table alone, along
 * one spatial axis (the layers are square, so both axes agree). Output position q of the node (stride
 * J input pixels per output pixel) depends on input pixels [q J - before, q J + J - 1 + after] and on
 * nothing else; for VGG's 3x3 stride-1 padding-1 convolutions and non-overlapping 2x2 pools that is
 * before = after = sum over the convolutions up to the node of the stride J_c at which each runs (a
 * 3x3 convolution widens the reach by one pixel of its own level on each side, a pool by nothing):
 * in VGG19, relu1_1 1, relu2_1 4, relu3_1 10, relu4_1 30, relu4_2 38, relu5_1 70 (VGG16: relu4_1 26,
 * relu5_1 58).
 *
 * <p>Derivation for a chain: start with J = 1, before = after = 0. A Conv2d (kernel k, stride s, zero
 * padding p) maps q to input rows [q s - p, q s - p + k - 1] of the level below, so before += p J, after
 * += (k - p - s) J, J *= s. A Pool2d of size k (window = stride = k, no padding) is that with p = 0,
 * s = k: after += 0, J *= k. Element-wise layers (ReLU) change nothing. Other kinds are refused.
 */
public record ReceptiveField(int before, int after, int stride) {

    /** The reach of {@code node}'s output in {@code network} (a chain from the input). */
    public static ReceptiveField of(Network network, String node) {
        int end = network.indexOf(node);
        if (end < 0) {
            throw new IllegalArgumentException(network.unknownNodeMessage(node));
        }
        long before = 0, after = 0, j = 1;
        for (int i = 0; i <= end; i++) {
            Node n = network.nodes().get(i);
            Layer l = n.layer();
            if (l instanceof Layer.Conv2d c) {
                before += (long) c.padding() * j;
                after += (long) (c.kernel() - c.padding() - c.stride()) * j;
                j *= c.stride();
            } else if (l instanceof Layer.Pool2d p) {
                j *= p.size();
            } else if (!(l instanceof Layer.Relu || l instanceof Layer.LeakyRelu || l instanceof Layer.Tanh)) {
                throw new IllegalArgumentException(network.name() + ": no receptive field through " + n.name() + " (" + l + ")");
            }
        }
        return new ReceptiveField(Math.toIntExact(before), Math.toIntExact(after), Math.toIntExact(j));
    }

    /** The larger of the two reaches: the halo a tile needs on every side before alignment. */
    public int radius() {
        return Math.max(before, after);
    }
}
