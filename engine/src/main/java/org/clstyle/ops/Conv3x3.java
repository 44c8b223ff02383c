package org.clstyle.ops;

import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * 3x3 convolution, stride 1, zero padding 1, bias, optional fused ReLU. Tensors are single images:
 * x [Cin, H, W], weight [Cout, Cin, 3, 3], bias [Cout], y [Cout, H, W]. Every method only enqueues work.
 *
 * <p>Two implementations of forward and backwardInput, picked per device ({@link Variant#forDevice}):
 * GPUs get implicit GEMM on the tiled local-memory core in gemm.cl (kernels/conv3x3.cl); CPU devices
 * get a register-blocked direct convolution without local memory or barriers
 * (kernels/conv3x3_direct.cl), which CPU OpenCL compilers turn into plain vector FMA loops.
 * backwardWeights always uses the GEMM kernels.
 *
 * <p>The direct variant packs each weight buffer once, at its first use or at {@link #prepare}, and
 * keeps the packed copy while the weight buffer is open: after changing a weight buffer's contents,
 * call {@link #prepare} on it again. It pads the input into a scratch buffer that grows to the
 * largest layer seen (a forward reserves room for its own backward) and is then reused, so a loop of
 * forwards and backwards over layers already run forward once allocates nothing.
 */
public final class Conv3x3 {
    private static final String FAMILY = "conv3x3";
    private static final String DIRECT_FAMILY = "conv3x3_direct";
    /**
     * Defines of the direct variant: register block MR x 8*NV (kernel), and on the host DIRECT_WG
     * work-items per group and ROWS_INNER (1 or 0 forces the work order, see rowsInner).
     */
    private static final Set<String> DIRECT_KEYS = Set.of("MR", "NV", "DIRECT_WG", "ROWS_INNER");

    /** Which kernels run forward and backwardInput. */
    public enum Variant {
        /** Implicit GEMM on local-memory tiles (gemm.cl): for GPUs. */
        GEMM,
        /** Register-blocked direct convolution, no local memory, no barriers: for CPU devices. */
        DIRECT;

        /** DIRECT for CPU devices (that are not also GPUs), GEMM for everything else. */
        public static Variant forDevice(ClDevice d) {
            return !d.isGpu() && d.type().contains("CPU") ? DIRECT : GEMM;
        }
    }

    private final ClContext ctx;
    private final GemmTiles tiles;
    private final int biasGroup;
    private final Variant variant;
    private final int mr;
    private final int nv;
    private final int directGroup;
    private final int rowsInnerOverride;
    /**
     * Weight bytes that still stay in a CPU's cache while the input streams by: measured on PoCL (2
     * EPYC cores, 512 KiB L2 each, shared L3), rows outside won clearly at 64 and 128 channels, slightly
     * at 256 (2.4 MB of weights), and lost slightly at 512 (9.4 MB).
     */
    private static final long WEIGHTS_IN_CACHE = 4L << 20;
    private ClProgram direct;
    /** Packed weights per weight buffer: [0] forward, [1] backward (flipped, transposed); see conv3x3_direct_pack. */
    private final Map<ClBuffer, ClBuffer[]> packed = new IdentityHashMap<>();
    /** Padded input of the direct variant, [capacity] floats used as [H+2, C, WP]. */
    private ClBuffer scratch;

    public Conv3x3(ClContext ctx) {
        this(ctx, Map.of());
    }

    /**
     * With {@code defines} overriding kernel defines (tile sizes TS_M, TS_N, TS_K, WPT_M, WPT_N of
     * gemm.cl, BIAS_WG; MR, NV, DIRECT_WG, ROWS_INNER of the direct variant), e.g. from an autotuner.
     */
    public Conv3x3(ClContext ctx, Map<String, ?> defines) {
        this(ctx, defines, Variant.forDevice(ctx.device()));
    }

    /** As {@link #Conv3x3(ClContext, Map)} with the forward/backwardInput implementation forced. */
    public Conv3x3(ClContext ctx, Map<String, ?> defines, Variant variant) {
        this.ctx = ctx;
        this.variant = variant;
        Map<String, Object> own = new HashMap<>();
        // The bias reduction's work-group: 64, or the largest power of two the device allows.
        int bg = 64;
        while (bg > ctx.device().maxWorkGroupSize()) {
            bg /= 2;
        }
        if (defines.containsKey("BIAS_WG")) {
            bg = Integer.parseInt(String.valueOf(defines.get("BIAS_WG")).trim());
            if (bg <= 0 || (bg & (bg - 1)) != 0 || bg > ctx.device().maxWorkGroupSize()) {
                throw new IllegalArgumentException("conv3x3 define BIAS_WG=" + bg
                        + ": must be a power of two no larger than the device's work-group limit "
                        + ctx.device().maxWorkGroupSize());
            }
        }
        this.biasGroup = bg;
        own.put("BIAS_WG", bg);
        Map<String, Object> rest = new HashMap<>(defines);
        rest.remove("BIAS_WG");
        rest.keySet().removeAll(DIRECT_KEYS);
        this.tiles = new GemmTiles(ctx, FAMILY, rest, own);
        // 6 x 16: 12 float8 accumulators + 2 loads + 1 broadcast of the 16 AVX2 registers.
        this.mr = intDefine(defines, "MR", 6, 1, 16);
        this.nv = intDefine(defines, "NV", 2, 1, 4);
        this.rowsInnerOverride = intDefine(defines, "ROWS_INNER", -1, -1, 1);
        this.directGroup = intDefine(defines, "DIRECT_WG", 4, 1,
                (int) Math.min(1024, ctx.device().maxWorkGroupSize()));
    }

    public Variant variant() { return variant; }

    /** Floating-point operations of one forward pass (multiply and add counted separately). */
    public static double flops(int cin, int cout, int h, int w) {
        return 2.0 * cout * cin * 9 * h * w;
    }

    /** y = conv(x, weight) + bias, then ReLU when {@code relu}. */
    public void forward(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y, boolean relu) {
        Shape s = shapes("forward", x, "x", weight, bias);
        expect("forward", "y", y, s.cout, s.h, s.w);
        if (variant == Variant.DIRECT) {
            direct(x, null, packed(weight)[0], bias, y, s.cin, s.cout, s.h, s.w, relu);
            return;
        }
        tiles.launch("conv3x3_forward", s.cout, s.h * s.w,
                x, weight, bias, y, s.cin, s.cout, s.h, s.w, relu ? 1 : 0);
    }

    /**
     * dx = gradient w.r.t. the input of a loss whose gradient w.r.t. y is dy; when the forward fused
     * a ReLU pass its output as {@code reluOutput} (dy then counts only where it is positive), else null.
     * Overwrites dx.
     */
    public void backwardInput(ClBuffer dy, ClBuffer weight, ClBuffer reluOutput, ClBuffer dx) {
        Shape s = shapes("backwardInput", dx, "dx", weight, null);
        expect("backwardInput", "dy", dy, s.cout, s.h, s.w);
        if (reluOutput != null) {
            expect("backwardInput", "reluOutput", reluOutput, s.cout, s.h, s.w);
        }
        if (variant == Variant.DIRECT) {
            // dx = conv(dy masked, weight flipped and transposed): Cout plays the input channels.
            direct(dy, reluOutput, packed(weight)[1], null, dx, s.cout, s.cin, s.h, s.w, false);
            return;
        }
        tiles.launch("conv3x3_backward_input", s.cin, s.h * s.w,
                dy, weight, reluOutput != null ? reluOutput : dy, reluOutput != null ? 1 : 0, dx,
                s.cin, s.cout, s.h, s.w);
    }

    /** dWeight and dBias of a loss whose gradient w.r.t. y is dy (masked as in backwardInput). Overwrites both. */
    public void backwardWeights(ClBuffer x, ClBuffer dy, ClBuffer reluOutput, ClBuffer dWeight, ClBuffer dBias) {
        Shape s = shapes("backwardWeights", x, "x", dWeight, dBias);
        expect("backwardWeights", "dy", dy, s.cout, s.h, s.w);
        if (reluOutput != null) {
            expect("backwardWeights", "reluOutput", reluOutput, s.cout, s.h, s.w);
        }
        ClBuffer mask = reluOutput != null ? reluOutput : dy;
        int masked = reluOutput != null ? 1 : 0;
        tiles.launch("conv3x3_backward_weight", s.cout, s.cin * 9,
                x, dy, mask, masked, dWeight, s.cin, s.cout, s.h, s.w);
        ClKernel bias = tiles.program().kernel("conv3x3_backward_bias");
        bias.launch(new long[] {(long) s.cout * biasGroup}, new long[] {biasGroup},
                dy, mask, masked, dBias, s.h * s.w);
    }

    /**
     * Packs {@code weight} ([Cout, Cin, 3, 3]) for the direct variant now (call it at load, and again
     * after changing the weight's contents); nothing for the GEMM variant.
     */
    public void prepare(ClBuffer weight) {
        if (variant != Variant.DIRECT) {
            return;
        }
        int[] ws = weight.shape();
        if (ws.length != 4 || ws[2] != 3 || ws[3] != 3) {
            throw new IllegalArgumentException("Conv3x3.prepare: weight has shape " + Arrays.toString(ws)
                    + ", expected [Cout, Cin, 3, 3]");
        }
        ClBuffer[] old = packed.remove(weight);
        if (old != null) {
            old[0].close();
            old[1].close();
        }
        packed(weight);
    }

    /** The kernel configuration in use (for logs and benchmarks). */
    public String tileConfig() {
        String gemm = tiles.config().toString();
        return variant == Variant.DIRECT
                ? "direct MR=" + mr + " NR=" + 8 * nv + " WG=" + directGroup + " (backwardWeights " + gemm + ")"
                : gemm;
    }

    /** Padded-input row length: every NR-wide block of a row plus its 2 halo columns stays inside. */
    private int paddedWidth(int w) {
        int nr = 8 * nv;
        return (w + nr - 1) / nr * nr + 2;
    }

    private ClProgram directProgram() {
        if (direct == null) {
            direct = ctx.program(DIRECT_FAMILY, Map.of("MR", mr, "NV", nv));
        }
        return direct;
    }

    /**
     * out [m, h, w] = conv(in [k, h, w] (times (mask > 0) when mask != null), packed weight) (+ bias,
     * ReLU): pad into the scratch buffer, then the register-blocked kernel. A forward (bias != null)
     * packs and reserves for the backward too.
     */
    private void direct(ClBuffer in, ClBuffer mask, ClBuffer wp, ClBuffer bias, ClBuffer out,
                        int k, int m, int h, int w, boolean relu) {
        int wpd = paddedWidth(w);
        // The forward reserves room for its own backward (which pads Cout channels), so that a
        // backward after the forward of the same layers allocates nothing.
        long need = (long) (bias != null ? Math.max(k, m) : k) * (h + 2) * wpd;
        if (need > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Conv3x3: padded input of " + need + " floats is too large");
        }
        if (scratch == null || scratch.elements() < need) {
            if (scratch != null) {
                scratch.close(); // released once the queued kernels using it are done
            }
            scratch = ctx.buffer((int) need);
        }
        ClProgram p = directProgram();
        p.kernel("conv3x3_direct_pad").launch(new long[] {(long) k * (h + 2)}, null,
                in, mask != null ? mask : in, mask != null ? 1 : 0, scratch, k, h, w, wpd);
        int nr = 8 * nv;
        long blocks = (w + nr - 1) / nr;
        long mblocks = (m + mr - 1) / mr;
        boolean rowsInner = rowsInner(k, m);
        p.kernel("conv3x3_direct").launch(new long[] {blocks, rowsInner ? h : mblocks, rowsInner ? mblocks : h},
                new long[] {Math.min(directGroup, blocks), 1, 1},
                scratch, wp, bias != null ? bias : out, out, k, m, h, w, wpd, bias != null ? 1 : 0, relu ? 1 : 0,
                rowsInner ? 1 : 0);
    }

    /**
     * Work order of the direct kernel: channel blocks outside rows (rows_inner, weights of one block
     * reused from cache) when the {@code k x m x 9} weights are too big to stay in cache, else rows
     * outside channel blocks (each input row reused from cache by all channel blocks).
     */
    private boolean rowsInner(int k, int m) {
        return rowsInnerOverride >= 0 ? rowsInnerOverride == 1 : (long) k * m * 9 * Float.BYTES > WEIGHTS_IN_CACHE;
    }

    /** The packed forward and backward weights of {@code weight}, packing them at the first use. */
    private ClBuffer[] packed(ClBuffer weight) {
        ClBuffer[] p = packed.get(weight);
        if (p != null) {
            return p;
        }
        dropClosed();
        int cout = weight.dim(0), cin = weight.dim(1);
        ClKernel pack = directProgram().kernel("conv3x3_direct_pack");
        // [ceil(Cout/MR), Cin*9, MR] and, for the backward, [ceil(Cin/MR), Cout*9, MR].
        ClBuffer fwd = ctx.buffer((cout + mr - 1) / mr, cin * 9, mr);
        ClBuffer bwd = ctx.buffer((cin + mr - 1) / mr, cout * 9, mr);
        pack.launch(new long[] {fwd.elements()}, null, weight, fwd, cout, cin, 0);
        pack.launch(new long[] {bwd.elements()}, null, weight, bwd, cout, cin, 1);
        p = new ClBuffer[] {fwd, bwd};
        packed.put(weight, p);
        return p;
    }

    /** Releases the packed copies of weight buffers that have been closed. */
    private void dropClosed() {
        for (Iterator<Map.Entry<ClBuffer, ClBuffer[]>> it = packed.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<ClBuffer, ClBuffer[]> e = it.next();
            try {
                e.getKey().handle();
            } catch (IllegalStateException closed) {
                e.getValue()[0].close();
                e.getValue()[1].close();
                it.remove();
            }
        }
    }

    private static int intDefine(Map<String, ?> defines, String key, int dflt, int lo, int hi) {
        Object v = defines.get(key);
        if (v == null) {
            return dflt;
        }
        int n;
        try {
            n = v instanceof Number num ? num.intValue() : Integer.parseInt(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("conv3x3 define " + key + "=" + v + " is not an integer");
        }
        if (n < lo || n > hi) {
            throw new IllegalArgumentException("conv3x3 define " + key + "=" + n + ": must be in " + lo + ".." + hi);
        }
        return n;
    }

    private record Shape(int cin, int cout, int h, int w) {}

    /** Channel and plane sizes from the image {@code img} ([Cin, H, W]) and the weight ([Cout, Cin, 3, 3]). */
    private static Shape shapes(String method, ClBuffer img, String imgName, ClBuffer weight, ClBuffer bias) {
        int[] ws = weight.shape();
        if (ws.length != 4 || ws[2] != 3 || ws[3] != 3) {
            throw new IllegalArgumentException("Conv3x3." + method + ": weight has shape " + Arrays.toString(ws)
                    + ", expected [Cout, Cin, 3, 3]");
        }
        int[] is = img.shape();
        if (is.length != 3) {
            throw new IllegalArgumentException("Conv3x3." + method + ": " + imgName + " has shape "
                    + Arrays.toString(is) + ", expected [Cin, H, W]");
        }
        if (is[0] != ws[1]) {
            throw new IllegalArgumentException("Conv3x3." + method + ": " + imgName + " has " + is[0]
                    + " channels but weight " + Arrays.toString(ws) + " expects Cin = " + ws[1]);
        }
        if (bias != null && (bias.shape().length != 1 || bias.dim(0) != ws[0])) {
            throw new IllegalArgumentException("Conv3x3." + method + ": bias has shape "
                    + Arrays.toString(bias.shape()) + ", expected [" + ws[0] + "] (Cout of weight)");
        }
        return new Shape(ws[1], ws[0], is[1], is[2]);
    }

    private static void expect(String method, String name, ClBuffer b, int... shape) {
        if (!Arrays.equals(b.shape(), shape)) {
            throw new IllegalArgumentException("Conv3x3." + method + ": " + name + " has shape "
                    + Arrays.toString(b.shape()) + ", expected " + Arrays.toString(shape));
        }
    }
}
