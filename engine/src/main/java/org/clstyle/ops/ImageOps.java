package org.clstyle.ops;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Per-channel maps of images [C, H, W] (kernels/image.cl): one affine op covers the RGB/BGR swap,
 * scaling to 0..255 and mean/std normalisation; plus scale and clamp.
 */
public final class ImageOps {
    /** Distinct (perm, mul, add) parameter sets kept on the device; a pipeline uses a handful. */
    private static final int MAX_CACHED_PARAMS = 16;

    private final ClContext ctx;
    private final ClProgram program;
    // Parameters uploaded once per distinct set, so repeated calls enqueue without a blocking write.
    private final Map<String, ClBuffer> params = new LinkedHashMap<>();

    public ImageOps(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("image");
    }

    /** y[c] = x[perm[c]] * mul[c] + add[c]. y may be x only when perm is the identity. */
    public void channelAffine(ClBuffer x /* [C, H, W] */, ClBuffer y /* [C, H, W] */, int[] perm, float[] mul,
            float[] add) {
        int c = checkAffine("ImageOps.channelAffine", x, "x", y, "y", perm, mul, add);
        if (x == y && !isIdentity(perm)) {
            throw new IllegalArgumentException("ImageOps.channelAffine: in place (y is x) needs the identity perm but perm is "
                    + Arrays.toString(perm));
        }
        int hw = x.size() / c;
        Reduction.launch(program.kernel("channel_affine"), new long[] {hw, c}, local2d(hw),
                x, y, params(perm, mul, add), c, hw);
    }

    /** dx[perm[c]] = dy[c] * mul[c], the adjoint of {@link #channelAffine}; overwrites dx (dx must not be dy). */
    public void channelAffineBackward(ClBuffer dy /* [C, H, W] */, ClBuffer dx /* [C, H, W] */, int[] perm, float[] mul) {
        float[] zeros = new float[perm.length];
        int c = checkAffine("ImageOps.channelAffineBackward", dy, "dy", dx, "dx", perm, mul, zeros);
        if (dx == dy && !isIdentity(perm)) {
            throw new IllegalArgumentException("ImageOps.channelAffineBackward: in place (dx is dy) needs the identity perm but perm is "
                    + Arrays.toString(perm));
        }
        int hw = dy.size() / c;
        Reduction.launch(program.kernel("channel_affine_backward"), new long[] {hw, c}, local2d(hw),
                dy, dx, params(perm, mul, zeros), c, hw);
    }

    /** y = x with channels 0 and 2 exchanged (RGB <-> BGR); x must have 3 channels; y must not be x. */
    public void swapRedBlue(ClBuffer x /* [3, H, W] */, ClBuffer y /* [3, H, W] */) {
        if (x.shape().length != 3 || x.dim(0) != 3) {
            throw new IllegalArgumentException("ImageOps.swapRedBlue: x must be [3, H, W] but is " + x);
        }
        channelAffine(x, y, new int[] {2, 1, 0}, new float[] {1, 1, 1}, new float[] {0, 0, 0});
    }

    /** y = s * x (any shape); y may be x. */
    public void scale(ClBuffer x, ClBuffer y, float s) {
        Reduction.checkSameShape("ImageOps.scale", x, "x", y, "y");
        int n = x.size();
        Reduction.launch(program.kernel("scale_copy"), new long[] {n}, Reduction.local1d(ctx.device(), n), x, y, s, n);
    }

    /** y[c] = (x[c] - mean[c]) / std[c], as x * (1/std) + (-mean/std) with both factors rounded from double. */
    public void normalize(ClBuffer x, ClBuffer y, float[] mean, float[] std) {
        checkMeanStd("ImageOps.normalize", x, mean, std);
        int c = mean.length;
        float[] mul = new float[c], add = new float[c];
        for (int i = 0; i < c; i++) {
            mul[i] = (float) (1.0 / std[i]);
            add[i] = (float) (-(double) mean[i] / std[i]);
        }
        channelAffine(x, y, identity(c), mul, add);
    }

    /** y[c] = x[c] * std[c] + mean[c], the inverse of {@link #normalize}. */
    public void denormalize(ClBuffer x, ClBuffer y, float[] mean, float[] std) {
        checkMeanStd("ImageOps.denormalize", x, mean, std);
        channelAffine(x, y, identity(mean.length), std.clone(), mean.clone());
    }

    /** x = min(max(x, lo), hi) in place. */
    public void clamp(ClBuffer x, float lo, float hi) {
        if (!(lo <= hi)) {
            throw new IllegalArgumentException("ImageOps.clamp: lo " + lo + " is above hi " + hi);
        }
        int n = x.size();
        Reduction.launch(program.kernel("clamp_in_place"), new long[] {n}, Reduction.local1d(ctx.device(), n),
                x, lo, hi, n);
    }

    private long[] local2d(int hw) {
        return new long[] {Math.min(Reduction.workGroupSize(ctx.device(), 64), hw), 1};
    }

    /** The device copy of (perm, mul, add) as [3, C] floats, uploaded on first use. */
    private ClBuffer params(int[] perm, float[] mul, float[] add) {
        String key = Arrays.toString(perm) + Arrays.toString(mul) + Arrays.toString(add);
        ClBuffer b = params.get(key);
        if (b == null) {
            int c = perm.length;
            float[] data = new float[3 * c];
            for (int i = 0; i < c; i++) {
                data[i] = perm[i];
                data[c + i] = mul[i];
                data[2 * c + i] = add[i];
            }
            if (params.size() >= MAX_CACHED_PARAMS) {
                // Releasing is safe with kernels still queued: OpenCL frees it after they finish.
                String oldest = params.keySet().iterator().next();
                params.remove(oldest).close();
            }
            b = ctx.buffer(data, 3, c);
            params.put(key, b);
        }
        return b;
    }

    /** Checks the shapes and that perm is a permutation of 0..C-1; returns C. */
    private static int checkAffine(String what, ClBuffer in, String inName, ClBuffer out, String outName, int[] perm,
            float[] mul, float[] add) {
        if (in.shape().length != 3) {
            throw new IllegalArgumentException(what + ": " + inName + " must be [C, H, W] but is " + in);
        }
        Reduction.checkSameShape(what, in, inName, out, outName);
        int c = in.dim(0);
        if (perm.length != c || mul.length != c || add.length != c) {
            throw new IllegalArgumentException(what + ": " + inName + " " + in + " has " + c + " channels but perm has "
                    + perm.length + ", mul " + mul.length + ", add " + add.length);
        }
        boolean[] seen = new boolean[c];
        for (int p : perm) {
            if (p < 0 || p >= c || seen[p]) {
                throw new IllegalArgumentException(what + ": perm " + Arrays.toString(perm)
                        + " is not a permutation of 0.." + (c - 1));
            }
            seen[p] = true;
        }
        return c;
    }

    private static void checkMeanStd(String what, ClBuffer x, float[] mean, float[] std) {
        if (x.shape().length != 3 || mean.length != x.dim(0) || std.length != x.dim(0)) {
            throw new IllegalArgumentException(what + ": x " + x + " needs one mean and one std per channel but has "
                    + mean.length + " and " + std.length);
        }
        for (float s : std) {
            if (!(s != 0 && Float.isFinite(s))) {
                throw new IllegalArgumentException(what + ": std " + Arrays.toString(std) + " has a zero or non-finite entry");
            }
        }
    }

    private static boolean isIdentity(int[] perm) {
        for (int i = 0; i < perm.length; i++) {
            if (perm[i] != i) return false;
        }
        return true;
    }

    private static int[] identity(int c) {
        int[] p = new int[c];
        for (int i = 0; i < c; i++) p[i] = i;
        return p;
    }
}
