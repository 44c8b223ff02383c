package org.clstyle.vgg;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.ImageOps;
import org.clstyle.weights.Preprocessing;

/**
 * The image x ([3, H, W], RGB in [0,1]) to the network's input as the weights' metadata says:
 * net[c] = (x[perm[c]] * input_scale - mean[c]) / std[c], i.e. one channel-affine launch with
 * mul[c] = input_scale / std[c] and add[c] = -mean[c] / std[c]; and its backward,
 * dx[perm[c]] = dnet[c] * mul[c].
 */
public final class Preprocess {
    private final ImageOps image;
    private final int[] perm;
    private final float[] mul;
    private final float[] add;

    public Preprocess(ClContext ctx, Preprocessing p) {
        this.image = new ImageOps(ctx);
        this.perm = p.channelPermutation();
        double[] mean = p.mean(), std = p.std();
        if (perm.length != 3 || mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("preprocessing must describe 3 channels, got " + p);
        }
        this.mul = new float[3];
        this.add = new float[3];
        for (int c = 0; c < 3; c++) {
            mul[c] = (float) (p.inputScale() / std[c]);
            add[c] = (float) (-mean[c] / std[c]);
        }
    }

    /** net = preprocess(rgb); both [3, H, W]. */
    public void forward(ClBuffer rgb /* [3, H, W] */, ClBuffer net /* [3, H, W] */) {
        image.channelAffine(rgb, net, perm, mul, add);
    }

    /** dRgb = d loss / d rgb from dNet = d loss / d net; overwrites dRgb. */
    public void backward(ClBuffer dNet /* [3, H, W] */, ClBuffer dRgb /* [3, H, W] */) {
        image.channelAffineBackward(dNet, dRgb, perm, mul);
    }

    /** The per-channel multiplier (network channel order). */
    public float[] mul() { return mul.clone(); }

    /** The per-channel offset (network channel order). */
    public float[] add() { return add.clone(); }

    /** perm[c] = the RGB channel feeding network channel c. */
    public int[] perm() { return perm.clone(); }
}
