package org.clstyle.ops;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * General KxK convolution over a batch (kernels/conv2d.cl), as PyTorch's nn.Conv2d with a square
 * kernel: stride s, symmetric zero padding p (0 where the network pads explicitly with Pad2d), bias
 * optional. x [N, Cin, H, W], weight [Cout, Cin, K, K], bias [Cout], y [N, Cout, Ho, Wo] with
 * Ho = (H + 2p - K) / s + 1. Every pass is an implicit GEMM on the shared tiled core (gemm.cl: local
 * memory tiles and register blocking, float8 columns on CPU devices), one program per kernel size.
 * CPU devices get {@link Variant#DIRECT} instead (kernels/conv2d_direct.cl): register-blocked direct
 * convolutions without local memory or barriers, as {@link Conv3x3}'s direct variant, for any kernel
 * size and stride, with their input and weight gradients.
 * The weight gradient splits its long pixel dimension into fixed chunks summed in a fixed order, so
 * every result is deterministic (no atomics) and large images still fill the device.
 */
public final class Conv2d implements AutoCloseable {
    private static final String FAMILY = "conv2d";
    private static final String DIRECT_FAMILY = "conv2d_direct";

    /** How the convolutions run. */
    public enum Variant {
        /** Implicit GEMM on gemm.cl's local-memory tiles: for GPUs. */
        GEMM,
        /** Register-blocked direct convolution, no local memory, no barriers: for CPU devices. */
        DIRECT;

        /** The variant for this device: DIRECT on CPUs, GEMM elsewhere. */
        public static Variant forDevice(org.clstyle.cl.ClDevice d) {
            return d.isCpu() ? DIRECT : GEMM;
        }
    }
    /** Output pixels (times batch) per chunk of the weight gradient's split pixel sum, at least. */
    static final int SPLIT_CHUNK = 4096;
    /** Most chunks of the split sum. */
    static final int MAX_SPLITS = 64;
    /** Most floats of the split sum's scratch buffer (the split count is lowered to fit). */
    static final long MAX_SCRATCH = 1L << 24;

    /** The geometry of one call: batch, channels, sizes, kernel, stride, padding. */
    public record Geometry(int n, int cin, int h, int w, int cout, int k, int stride, int pad) {
        public int outH() { return (h + 2 * pad - k) / stride + 1; }

        public int outW() { return (w + 2 * pad - k) / stride + 1; }
    }

    private final ClContext ctx;
    private final Map<String, ?> overrides;
    private final int biasGroup;
    /**
     * Row-tile heights for GEMMs with few rows (output channels; input channels for the input
     * gradient): the generators' 3-, 8-, 16- .. 48-channel layers would multiply up to 87% zeros in the
     * default 64-row tiles. A GEMM of r rows takes the smallest of these at least r (above 48: the defaults).
     */
    static final int[] ROW_TILES = {8, 16, 24, 32, 48};
    private final Map<String, GemmTiles> tilesByKey = new HashMap<>();
    private ClBuffer scratch; // [splits * Cout * Cin * K * K], the weight gradient's partial sums
    private final Variant variant;
    private final DirectConv2d direct;

    /** The variant for this device ({@link Variant#forDevice}) with its default tiles. */
    public Conv2d(ClContext ctx) {
        this(ctx, Map.of(), Variant.forDevice(ctx.device()));
    }

    /** The given variant, with its default tiles. */
    public Conv2d(ClContext ctx, Variant variant) {
        this(ctx, Map.of(), variant);
    }

    /** The GEMM variant with gemm.cl tile overrides (TS_M, TS_N, TS_K, WPT_M, WPT_N, VW) pinned for every kernel size. */
    public Conv2d(ClContext ctx, Map<String, ?> overrides) {
        this(ctx, overrides, Variant.GEMM);
    }

    private Conv2d(ClContext ctx, Map<String, ?> overrides, Variant variant) {
        this.ctx = ctx;
        this.variant = variant;
        this.direct = variant == Variant.DIRECT ? new DirectConv2d(ctx) : null;
        this.overrides = Map.copyOf(overrides);
        int bg = 64;
        while (bg > ctx.device().maxWorkGroupSize()) {
            bg /= 2;
        }
        this.biasGroup = bg;
    }

    /** Default tiles for kernel size k (or the caller's pinned ones). */
    private GemmTiles tiles(int k) {
        return tilesByKey.computeIfAbsent("wide" + k, key -> new GemmTiles(ctx, FAMILY, overrides,
                Map.of("CONV_K", k, "BIAS_WG", biasGroup)));
    }

    /**
     * The tile sizes for a GEMM of {@code rows} x {@code cols}, or null for the defaults: rows rounded
     * up to one of ROW_TILES; 256, 128 or 64 columns (32 to 64 work-items, a warp or two on GPUs;
     * float8 columns on CPUs), 64 where there are at most 128 columns (the weight gradient's Cin*K*K).
     */
    static Map<String, Integer> tileSizes(int rows, int cols) {
        int tsM = 0;
        for (int t : ROW_TILES) {
            if (rows <= t) {
                tsM = t;
                break;
            }
        }
        if (tsM == 0) {
            return null;
        }
        int tsN = cols <= 128 ? 64 : tsM <= 8 ? 256 : tsM <= 32 ? 128 : 64;
        return Map.of("TS_M", tsM, "TS_N", tsN, "TS_K", 16, "WPT_M", 4, "WPT_N", 16, "VW", 8);
    }

    /** Tiles for a GEMM of rows x cols with kernel size k (the defaults unless tileSizes has some). */
    private GemmTiles tiles(int k, int rows, int cols) {
        // The narrow row tiles were measured on CPU devices; compiled for AMD GPUs (.ci/compile-kernels.sh)
        // they keep 1.5 KB per work-item in scratch memory, so GPUs keep the default tiles until narrow GPU
        // tiles are tuned there.
        Map<String, Integer> sizes = overrides.isEmpty() && ctx.device().isCpu() ? tileSizes(rows, cols) : null;
        if (sizes == null) {
            return tiles(k);
        }
        String key = "k" + k + "m" + sizes.get("TS_M") + "n" + sizes.get("TS_N");
        GemmTiles t = tilesByKey.get(key);
        if (t == null) {
            try {
                t = new GemmTiles(ctx, FAMILY, sizes, Map.of("CONV_K", k, "BIAS_WG", biasGroup));
            } catch (IllegalArgumentException e) {
                t = tiles(k); // the device cannot take them
            }
            tilesByKey.put(key, t);
        }
        return t;
    }

    /** The geometry of x [N, Cin, H, W] with weight [Cout, Cin, K, K]; checks the shapes. */
    public static Geometry geometry(ClBuffer x, ClBuffer weight, int stride, int pad) {
        int[] xs = x.shape(), ws = weight.shape();
        if (xs.length != 4) {
            throw new IllegalArgumentException("Conv2d: x must be [N, C, H, W] but is " + x);
        }
        if (ws.length != 4 || ws[2] != ws[3] || ws[1] != xs[1]) {
            throw new IllegalArgumentException("Conv2d: weight must be [Cout, " + xs[1] + ", K, K] but is " + weight);
        }
        if (stride < 1 || pad < 0) {
            throw new IllegalArgumentException("Conv2d: stride must be >= 1 and padding >= 0, got " + stride + ", " + pad);
        }
        Geometry g = new Geometry(xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], stride, pad);
        if (xs[2] + 2 * pad < g.k() || xs[3] + 2 * pad < g.k()) {
            throw new IllegalArgumentException("Conv2d: kernel " + g.k() + " is larger than the padded input " + x
                    + " (padding " + pad + ")");
        }
        return g;
    }

    /** y = conv(x, weight) + bias; bias may be null (no bias). */
    public void forward(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y, int stride, int pad) {
        Geometry g = geometry(x, weight, stride, pad);
        expect("forward", "y", y, g.n(), g.cout(), g.outH(), g.outW());
        if (bias != null) {
            expect("forward", "bias", bias, g.cout());
        }
        if (direct != null) {
            direct.forward(g, x, weight, bias, y);
            return;
        }
        tiles(g.k(), g.cout(), g.n() * g.outH() * g.outW()).launch("conv2d_forward", g.cout(), g.n() * g.outH() * g.outW(),
                x, weight, bias == null ? weight : bias, bias == null ? 0 : 1, y,
                g.n(), g.cin(), g.h(), g.w(), g.cout(), stride, pad, g.outH(), g.outW());
    }

    /**
     * dx [N, Cin, H, W] from dy [N, Cout, Ho, Wo]; overwrites dx. Skip it where nothing needs dx (a
     * network's first layer when the input is not optimised): with few input channels (RGB) each
     * gathered dy element feeds only a few rows, so this pass costs several times the forward.
     */
    public void backwardInput(ClBuffer dy, ClBuffer weight, ClBuffer dx, int stride, int pad) {
        Geometry g = geometry(dx, weight, stride, pad);
        expect("backwardInput", "dy", dy, g.n(), g.cout(), g.outH(), g.outW());
        if (direct != null) {
            direct.backwardInput(g, dy, weight, dx);
            return;
        }
        if (stride == 1) {
            tiles(g.k(), g.cin(), g.n() * g.h() * g.w()).launch("conv2d_backward_input", g.cin(), g.n() * g.h() * g.w(),
                    dy, weight, dx, g.n(), g.cin(), g.h(), g.w(), g.cout(), stride, pad, g.outH(), g.outW());
            return;
        }
        // Strided: one GEMM per phase (qi, qj) of the input pixels, over only the taps that reach them
        // (a quarter of the taps at stride 2, with no fractional-pixel tests).
        for (int qi = 0; qi < stride; qi++) {
            for (int qj = 0; qj < stride; qj++) {
                int i0 = Math.floorMod(qi - pad, stride), j0 = Math.floorMod(qj - pad, stride);
                int hq = i0 < g.h() ? (g.h() - i0 + stride - 1) / stride : 0;
                int wq = j0 < g.w() ? (g.w() - j0 + stride - 1) / stride : 0;
                if (hq == 0 || wq == 0) {
                    continue;
                }
                int ti = qi < g.k() ? (g.k() - qi + stride - 1) / stride : 0;
                int tj = qj < g.k() ? (g.k() - qj + stride - 1) / stride : 0;
                int cols = g.n() * hq * wq;
                tiles(g.k(), g.cin(), cols).launch("conv2d_backward_input_phase", g.cin(), cols,
                        dy, weight, dx, g.n(), g.cin(), g.h(), g.w(), g.cout(), stride, pad, g.outH(), g.outW(),
                        qi, qj, i0, j0, hq, wq, ti, tj);
            }
        }
    }

    /** The chunk count of the weight gradient's split sum for geometry g (depends on the shape only). */
    static int splits(Geometry g) {
        long pixels = (long) g.n() * g.outH() * g.outW();
        long weights = (long) g.cout() * g.cin() * g.k() * g.k();
        long s = Math.min(MAX_SPLITS, (pixels + SPLIT_CHUNK - 1) / SPLIT_CHUNK);
        s = Math.min(s, Math.max(1, MAX_SCRATCH / weights));
        return (int) Math.max(1, s);
    }

    /** dWeight [Cout, Cin, K, K] from x and dy, summed over the batch; overwrites dWeight. */
    public void backwardWeight(ClBuffer x, ClBuffer dy, ClBuffer dWeight, int stride, int pad) {
        Geometry g = geometry(x, dWeight, stride, pad);
        expect("backwardWeight", "dy", dy, g.n(), g.cout(), g.outH(), g.outW());
        if (direct != null) {
            direct.backwardWeight(g, x, dy, dWeight, tiles(g.k()).program().kernel("conv2d_sum_splits"));
            return;
        }
        int pixels = g.n() * g.outH() * g.outW();
        int count = g.cout() * g.cin() * g.k() * g.k();
        int splits = splits(g);
        int chunk = (pixels + splits - 1) / splits;
        GemmTiles t = tiles(g.k(), g.cout(), g.cin() * g.k() * g.k());
        ClBuffer target = dWeight;
        if (splits > 1) {
            long need = (long) splits * count;
            if (scratch == null || scratch.elements() < need) {
                if (scratch != null) {
                    scratch.close();
                }
                scratch = ctx.buffer(Math.toIntExact(need));
            }
            target = scratch;
        }
        t.launchLayers("conv2d_backward_weight", g.cout(), g.cin() * g.k() * g.k(), splits,
                x, dy, target, g.n(), g.cin(), g.h(), g.w(), g.cout(), stride, pad, g.outH(), g.outW(), chunk);
        if (splits > 1) {
            Reduction.launch(t.program().kernel("conv2d_sum_splits"), new long[] {count},
                    Reduction.local1d(ctx.device(), count), scratch, splits, count, dWeight);
        }
    }

    /** dBias [Cout] = dy [N, Cout, Ho, Wo] summed over the batch and the plane; overwrites dBias. */
    public void backwardBias(ClBuffer dy, ClBuffer dBias) {
        if (dy.shape().length != 4) {
            throw new IllegalArgumentException("Conv2d.backwardBias: dy must be [N, C, H, W] but is " + dy);
        }
        int n = dy.dim(0), cout = dy.dim(1), plane = dy.dim(2) * dy.dim(3);
        expect("backwardBias", "dBias", dBias, cout);
        tiles(3).program().kernel("conv2d_backward_bias").launch(new long[] {(long) cout * biasGroup},
                new long[] {biasGroup}, dy, dBias, n, cout, plane);
    }

    /** Device bytes of the scratch buffers (split sums; the direct variant's padded copies), 0 until first needed. */
    public long scratchBytes() {
        return (scratch == null ? 0 : scratch.bytes()) + (direct == null ? 0 : direct.scratchBytes());
    }

    /** Which variant this instance runs. */
    public Variant variant() {
        return variant;
    }

    @Override
    public void close() {
        if (direct != null) {
            direct.close();
        }
        if (scratch != null) {
            scratch.close();
            scratch = null;
        }
    }

    static void expect(String method, String name, ClBuffer b, int... shape) {
        if (!java.util.Arrays.equals(b.shape(), shape)) {
            throw new IllegalArgumentException("Conv2d." + method + ": " + name + " must be "
                    + java.util.Arrays.toString(shape) + " but is " + b);
        }
    }
}
