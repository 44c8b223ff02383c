package org.clstyle.ops;

import java.util.Arrays;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
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
 * <p>Four implementations of forward and backwardInput, picked per device ({@link Variant#forDevice})
 * and, on CPU devices, per layer ({@link #variantFor}): GPUs get implicit GEMM on the tiled
 * local-memory core in gemm.cl (kernels/conv3x3.cl); CPU devices get a register-blocked direct
 * convolution without local memory or barriers (kernels/conv3x3_direct.cl), which CPU OpenCL compilers
 * turn into plain vector FMA loops, or Winograd F(4x4, 3x3) (kernels/conv3x3_winograd4.cl) for the
 * layers with at least 64 channels in and out, where it measured fastest; Winograd F(2x2, 3x3)
 * (kernels/conv3x3_winograd.cl) remains as a forced variant, a tuner candidate and, with the system
 * property {@value #WINOGRAD4_PROPERTY}=false, the per-layer choice from 128 channels.
 * backwardWeights always uses the GEMM kernels.
 *
 * <p>The direct and Winograd variants pack (transform) each weight buffer once, at its first use or at {@link #prepare}, and
 * keeps the packed copy while the weight buffer is open: after changing a weight buffer's contents,
 * call {@link #prepare} on it again. It pads the input into a scratch buffer that grows to the
 * largest layer seen (a forward reserves room for its own backward) and is then reused, so a loop of
 * forwards and backwards over layers already run forward once allocates nothing. The direct variant
 * pads and convolves in bands of rows, so its scratch is bounded (DIRECT_PAD_KB), not a copy of the
 * image. {@link #close} releases the workspace and the packed copies.
 */
public final class Conv3x3 implements AutoCloseable {
    private static final String FAMILY = "conv3x3";
    private static final String DIRECT_FAMILY = "conv3x3_direct";
    private static final String WINO_FAMILY = "conv3x3_winograd";
    private static final String WINO4_FAMILY = "conv3x3_winograd4";
    /**
     * System property that turns F(4x4, 3x3) off in the per-layer choice (false: the choice as before
     * WINOGRAD4 existed), so that one build can measure both; forced variants ignore it.
     */
    public static final String WINOGRAD4_PROPERTY = "clstyle.conv3x3.winograd4";
    /**
     * Defines of the direct variant: register block MR x 8*NV (kernel), and on the host DIRECT_WG
     * work-items per group and the cache blocking (see {@link #blocking}): DIRECT_KC input channels per
     * pass, DIRECT_BAND rows and DIRECT_SEG pixel blocks per tile, ROWS_INNER (1: one tile of all rows
     * of a padded band, 0: tiles of one row, Cin not split), DIRECT_PAD_KB the cap on the padded band
     * (kibibytes; see {@link #PAD_BYTES}).
     */
    private static final Set<String> DIRECT_KEYS =
            Set.of("MR", "NV", "DIRECT_WG", "ROWS_INNER", "DIRECT_KC", "DIRECT_BAND", "DIRECT_SEG", "DIRECT_PAD_KB",
                    "WINO_WG", "WINO_KB");

    /** Which kernels run forward and backwardInput. */
    public enum Variant {
        /** Implicit GEMM on local-memory tiles (gemm.cl): for GPUs. */
        GEMM,
        /** Register-blocked direct convolution, no local memory, no barriers: for CPU devices. */
        DIRECT,
        /**
         * Winograd F(2x2, 3x3) (kernels/conv3x3_winograd.cl): input transform, 16 register-blocked
         * GEMMs, output transform; for CPU devices, on the layers where it measured faster than DIRECT.
         */
        WINOGRAD,
        /**
         * Winograd F(4x4, 3x3) (kernels/conv3x3_winograd4.cl): the same three steps with 6x6 input tiles
         * and 36 GEMMs (2.25 multiplies per output against 4); less accurate (see the kernel file). For
         * CPU devices, on the layers where it measured faster than DIRECT and WINOGRAD. Its packed
         * weights take 4x the raw weights per direction (WINOGRAD 16/9x, DIRECT 1x), forward and
         * backward: for VGG19 to conv5_1 about 395 MiB against 175 MiB with WINOGRAD from 128 channels.
         */
        WINOGRAD4;

        /** DIRECT for CPU devices (that are not also GPUs), GEMM for everything else. */
        public static Variant forDevice(ClDevice d) {
            return d.isCpu() ? DIRECT : GEMM;
        }
    }

    private final ClContext ctx;
    private final GemmTiles tiles;
    private final int biasGroup;
    private final Variant variant;
    /** DIRECT picked per device without a forced variant: each layer may still run as WINOGRAD ({@link #useWinograd}). */
    private final boolean perLayer;
    private final int mr;
    private final int nv;
    /** The GEMM kernels' define overrides and family defines, for {@link #halfTiles}. */
    private final Map<String, Object> gemmOverrides, gemmDefines;
    /** The GEMM kernels built for half activations (ACT_HALF=1), made at the first call on them. */
    private GemmTiles halfTiles;
    private final int directGroup;
    /** NR-tile blocks per work-group of the Winograd GEMM (WINO_WG): its strip of V [K, WG*NR] stays in L2. */
    private final int winoGroup;
    /** Bytes of V and M per chunk of tiles of the Winograd variant (WINO_KB kibibytes): kept in the shared cache. */
    private final long winoBytes;
    private final long[] transformGroup;
    private final int rowsInnerOverride;
    private final int kcOverride;
    private final int bandOverride;
    private final int segOverride;
    /** Cap on the direct variant's padded band of input rows (DIRECT_PAD_KB), see {@link #PAD_BYTES}. */
    private final long padBytes;
    /**
     * Bytes of padded input rows one tile of the direct kernel may use: half of a 512 KiB L2, leaving
     * room for the weights and outputs going by. Measured on PoCL (2 EPYC cores): at 512 channels and
     * 64 x 64, tiles of 4 rows x 128 channels (250 KB) ran 81% of peak against 42% with the input
     * streamed from L3 once per channel block.
     */
    private static final long TILE_BYTES = 256L << 10;
    /** Pixel blocks per row segment (32 pixels at NR = 16); see conv3x3_direct_pad. */
    private static final int SEG_BLOCKS = 2;
    /**
     * Padded input bytes that still stream well from the shared cache (L3): measured on PoCL (2 EPYC
     * cores, 32 MiB L3 shared with other work), 512 channels at 32 x 32 (2.4 MB) ran 92% of peak in one
     * band of all rows against 85% in tiles, while at 64 x 64 (11 MB) tiles won 77% against 42%.
     */
    private static final long INPUT_IN_CACHE = 3L << 20;
    /**
     * Default cap on the direct variant's scratch: the input is zero-padded and convolved in bands of
     * output rows whose padded copy (band rows + 2 halo rows, all channels) stays within this many bytes,
     * so that the scratch does not grow with the image (a whole padded copy of VGG's conv1_1 backward
     * input, 64 channels, took 64 floats per image pixel: 286 MB at 1024 x 1024). Far above a tile
     * ({@link #TILE_BYTES}) and above {@link #INPUT_IN_CACHE}, so the cache blocking inside a band is
     * that of the whole image; each band costs one more pad launch and one more convolution launch per
     * Cin pass.
     */
    static final long PAD_BYTES = 32L << 20;
    /** Fewest rows per tile before Cin is split into passes (weights are reused band times per tile). */
    private static final int MIN_BAND = 4;
    private ClProgram direct;
    private ClProgram winograd;
    private ClProgram winograd4;
    /** Transformed weights per weight buffer: [0] forward, [1] backward; see conv3x3_wino_pack. */
    private final Map<ClBuffer, ClBuffer[]> winoPacked = new IdentityHashMap<>();
    /** F(4x4, 3x3) transformed weights per weight buffer: [0] forward, [1] backward; see conv3x3_wino4_pack. */
    private final Map<ClBuffer, ClBuffer[]> wino4Packed = new IdentityHashMap<>();
    /** Winograd scratch (both tile sizes): transformed input [E, K, NTP] and GEMM result [E, M, NTP], E = 16 or 36. */
    private ClBuffer winoIn;
    private ClBuffer winoOut;
    /** Packed weights per weight buffer: [0] forward, [1] backward (flipped, transposed); see conv3x3_direct_pack. */
    private final Map<ClBuffer, ClBuffer[]> packed = new IdentityHashMap<>();
    /** Padded input band of the direct variant, [capacity] floats used as [rows+2, S, C, SW]. */
    private ClBuffer scratch;
    /** Whether a forward of this instance was checked to write its whole output (once per instance). */
    private boolean outputVerified;
    /** Per shape class instances from the device's tuning table; null unless made by {@link #Conv3x3(ClContext)}. */
    private TunedInstances<Conv3x3> tuned;

    /** The device's tuning-table name for instances that choose their variant per layer. */
    public static final String PER_LAYER = "PER_LAYER";

    /** The variant chosen per layer for this device, with the built-in defaults. */
    public Conv3x3(ClContext ctx) {
        this(ctx, OpSettings.NONE);
    }

    /**
     * The variant chosen per layer for this device, with {@code settings} (the device's tuning table,
     * chosen by tune/) for each call's shape class, where it has one.
     */
    public Conv3x3(ClContext ctx, OpSettings settings) {
        this(ctx, Map.of(), Variant.forDevice(ctx.device()), true);
        this.tuned = new TunedInstances<>(settings, ShapeClass.CONV, this, PER_LAYER,
                (v, m) -> v.equals(PER_LAYER) ? new Conv3x3(ctx, m) : new Conv3x3(ctx, m, Variant.valueOf(v)));
    }

    /**
     * With {@code defines} overriding kernel defines (tile sizes TS_M, TS_N, TS_K, WPT_M, WPT_N of
     * gemm.cl, BIAS_WG; MR, NV, DIRECT_WG, ROWS_INNER, DIRECT_KC, DIRECT_BAND, DIRECT_SEG, DIRECT_PAD_KB of the direct variant, WINO_WG, WINO_KB of the Winograd one), e.g. from an autotuner.
     */
    public Conv3x3(ClContext ctx, Map<String, ?> defines) {
        this(ctx, defines, Variant.forDevice(ctx.device()), true);
    }

    /** As {@link #Conv3x3(ClContext, Map)} with the forward/backwardInput implementation forced. */
    public Conv3x3(ClContext ctx, Map<String, ?> defines, Variant variant) {
        this(ctx, defines, variant, false);
    }

    private Conv3x3(ClContext ctx, Map<String, ?> defines, Variant variant, boolean perLayer) {
        this.ctx = ctx;
        this.variant = variant;
        this.perLayer = perLayer && variant == Variant.DIRECT;
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
        this.gemmOverrides = rest;
        this.gemmDefines = own;
        // 6 x 16: 12 float8 accumulators + 2 loads + 1 broadcast of the 16 AVX2 registers.
        this.mr = intDefine(defines, "MR", 6, 1, 16);
        this.nv = intDefine(defines, "NV", 2, 1, 4);
        this.rowsInnerOverride = intDefine(defines, "ROWS_INNER", -1, -1, 1);
        this.kcOverride = intDefine(defines, "DIRECT_KC", 0, 0, 1 << 20);
        this.bandOverride = intDefine(defines, "DIRECT_BAND", 0, 0, 1 << 20);
        this.segOverride = intDefine(defines, "DIRECT_SEG", 0, 0, 1 << 20);
        this.padBytes = 1024L * intDefine(defines, "DIRECT_PAD_KB", (int) (PAD_BYTES >> 10), 1, 1 << 22);
        this.winoBytes = 1024L * intDefine(defines, "WINO_KB", 1024, 64, 1 << 20);
        this.winoGroup = intDefine(defines, "WINO_WG", 8, 1,
                (int) Math.min(1024, ctx.device().maxWorkGroupSize()));
        this.transformGroup = transformGroup(ctx.device());
        this.directGroup = intDefine(defines, "DIRECT_WG", 4, 1,
                (int) Math.min(1024, ctx.device().maxWorkGroupSize()));
    }

    /**
     * The implicit-GEMM kernels built for half activations: calls on half buffers run them on every
     * device and for every variant (the direct and Winograd kernels read float only).
     */
    private GemmTiles halfTiles() {
        if (halfTiles == null) {
            halfTiles = new GemmTiles(ctx, FAMILY, gemmOverrides, ActivationStorage.halfDefines(gemmDefines));
        }
        return halfTiles;
    }

    /** The instance for calls of {@code s}'s shape: this one unless the device's tuning table says otherwise. */
    private Conv3x3 tunedFor(Shape s) {
        return tuned == null ? this : tuned.forClass(ShapeClass.conv(s.cin, s.cout, s.h, s.w));
    }

    /** The per-class instances made from the tuning table so far (empty when untuned). */
    java.util.Collection<Conv3x3> tunedInstances() {
        return tuned == null ? java.util.List.of() : tuned.made();
    }

    /** MR, the register block's rows, of this instance. */
    int registerRows() {
        return mr;
    }

    public Variant variant() { return variant; }

    /**
     * At most how many floats the weights of a cin -> cout layer occupy on any device with the default
     * settings (register block MR = 6): the raw [cout, cin, 3, 3] weights plus the forward and backward
     * copies that the CPU per-layer choice packs (WINOGRAD4 36, WINOGRAD 16, DIRECT 9 floats per
     * (row, input channel) pair, rows padded to MR), and never less than three raw copies (what memory
     * estimates counted before the packings grew). Not the bias.
     */
    public static long weightFloats(int cin, int cout) {
        int mr = 6;
        long raw = 9L * cout * cin;
        int per = winograd4Enabled() && useWinograd4(cin, cout) ? 36 : useWinograd(cin, cout) ? 16 : 9;
        long packed = (long) per * ((long) (cout + mr - 1) / mr * mr * cin + (long) (cin + mr - 1) / mr * mr * cout);
        return Math.max(3 * raw, raw + packed);
    }

    /** Floating-point operations of one forward pass (multiply and add counted separately). */
    public static double flops(int cin, int cout, int h, int w) {
        return 2.0 * cout * cin * 9 * h * w;
    }

    /**
     * y = conv(x, weight) + bias, then ReLU when {@code relu}. The first forward of each instance
     * checks that the kernels wrote every element of y (see {@link ClBuffer#requireWritten}): a
     * runtime whose kernels silently do not run stops there instead of producing a loss of 0.
     */
    public void forward(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y, boolean relu) {
        if (outputVerified) {
            forwardUnverified(x, weight, bias, y, relu);
            return;
        }
        Shape s = shapes("forward", x, "x", weight, bias);
        expect("forward", "y", y, s.cout, s.h, s.w);
        y.fillSentinel();
        forwardUnverified(x, weight, bias, y, relu);
        y.requireWritten("conv3x3 forward (" + variantFor(s.cin, s.cout, s.h, s.w) + ", " + s.cin + " -> " + s.cout
                + " channels, " + s.h + "x" + s.w + ")");
        outputVerified = true;
    }

    private void forwardUnverified(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y, boolean relu) {
        Shape s = shapes("forward", x, "x", weight, bias);
        expect("forward", "y", y, s.cout, s.h, s.w);
        Conv3x3 t = tunedFor(s);
        if (t != this) {
            t.forward(x, weight, bias, y, relu);
            return;
        }
        if (ActivationStorage.half("Conv3x3.forward", x, "x", y, "y")) {
            halfTiles().launch("conv3x3_forward", s.cout, s.h * s.w,
                    x, weight, bias, y, s.cin, s.cout, s.h, s.w, relu ? 1 : 0);
            return;
        }
        Variant v = variantFor(s.cin, s.cout, s.h, s.w);
        if (v == Variant.WINOGRAD || v == Variant.WINOGRAD4) {
            Wino f = wino(v);
            winograd(f, x, null, winoPacked(f, weight)[0], bias, y, s.cin, s.cout, s.h, s.w, relu);
            return;
        }
        if (v == Variant.DIRECT) {
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
        Conv3x3 t = tunedFor(s);
        if (t != this) {
            t.backwardInput(dy, weight, reluOutput, dx);
            return;
        }
        ActivationStorage.requireFloat("Conv3x3.backwardInput", dy, "dy");
        ActivationStorage.requireFloat("Conv3x3.backwardInput", dx, "dx");
        if (reluOutput != null && reluOutput.isHalf()) {
            halfTiles().launch("conv3x3_backward_input", s.cin, s.h * s.w,
                    dy, weight, reluOutput, 1, dx, s.cin, s.cout, s.h, s.w);
            return;
        }
        // Chosen by the forward layer's shape (the backward's cost is the same with Cin and Cout swapped).
        Variant v = variantFor(s.cin, s.cout, s.h, s.w);
        if (v == Variant.WINOGRAD || v == Variant.WINOGRAD4) {
            Wino f = wino(v);
            winograd(f, dy, reluOutput, winoPacked(f, weight)[1], null, dx, s.cout, s.cin, s.h, s.w, false);
            return;
        }
        if (v == Variant.DIRECT) {
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
        Conv3x3 t = tunedFor(s);
        if (t != this) {
            t.backwardWeights(x, dy, reluOutput, dWeight, dBias);
            return;
        }
        ActivationStorage.requireFloat("Conv3x3.backwardWeights", x, "x");
        ActivationStorage.requireFloat("Conv3x3.backwardWeights", dy, "dy");
        if (reluOutput != null) {
            ActivationStorage.requireFloat("Conv3x3.backwardWeights", reluOutput, "reluOutput");
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
        int[] shape = weight.shape();
        if (tuned != null && shape.length == 4) {
            // The tuned instance of this weight's layer packs it; the class depends on the image size
            // only through W, so ask both width classes (each packs only if it is not this instance).
            for (int w : new int[] {1, 1 << 12}) {
                Conv3x3 t = tuned.forClass(ShapeClass.conv(shape[1], shape[0], 1, w));
                if (t != this) {
                    t.prepare(weight);
                }
            }
        }
        if (variant == Variant.GEMM) {
            return;
        }
        int[] ws = weight.shape();
        if (ws.length != 4 || ws[2] != 3 || ws[3] != 3) {
            throw new IllegalArgumentException("Conv3x3.prepare: weight has shape " + Arrays.toString(ws)
                    + ", expected [Cout, Cin, 3, 3]");
        }
        // Drop both packings (either may be stale) and make the one this layer will use; the other is
        // made at its first use.
        ClBuffer[] old = packed.remove(weight);
        if (old != null) {
            old[0].close();
            old[1].close();
        }
        for (Map<ClBuffer, ClBuffer[]> cache : List.of(winoPacked, wino4Packed)) {
            ClBuffer[] oldWino = cache.remove(weight);
            if (oldWino != null) {
                oldWino[0].close();
                oldWino[1].close();
            }
        }
        Variant v = variantFor(ws[1], ws[0], 1, 1); // depends on the channels only
        if (v == Variant.WINOGRAD || v == Variant.WINOGRAD4) {
            winoPacked(wino(v), weight);
        } else {
            packed(weight);
        }
    }

    /**
     * The implementation forward and backwardInput use for a layer of these sizes: the forced variant,
     * or for a CPU device without one, WINOGRAD4 where it measured fastest ({@link #useWinograd4}: 64
     * channels in and out), else WINOGRAD where it measured faster than DIRECT ({@link #useWinograd};
     * only reached when {@link #WINOGRAD4_PROPERTY} is false), and DIRECT elsewhere.
     */
    public Variant variantFor(int cin, int cout, int h, int w) {
        if (perLayer && winograd4Enabled() && useWinograd4(cin, cout)) {
            return Variant.WINOGRAD4;
        }
        if (perLayer && useWinograd(cin, cout)) {
            return Variant.WINOGRAD;
        }
        return variant;
    }

    /** Whether the per-layer choice may pick WINOGRAD4: unless {@link #WINOGRAD4_PROPERTY} is "false". */
    private static boolean winograd4Enabled() {
        return !"false".equalsIgnoreCase(System.getProperty(WINOGRAD4_PROPERTY, "true").trim());
    }

    /**
     * Where WINOGRAD4 beat both DIRECT and WINOGRAD, forward and backward, in every run on PoCL (2
     * shared EPYC cores, AVX2; other helpers' work running beside it): at least 64 input and output
     * channels. Wall time per call, the three variants interleaved in one JVM on the same buffers (ReLU
     * inputs, He-scaled weights), minimum of 5 rounds at 256 px and 3 at 512 px, VGG19 layers; ms of
     * DIRECT / WINOGRAD / WINOGRAD4, forward then backwardInput:
     * 256 px: 64->64 at 256x256 26.5/28.7/15.3, 27.0/29.9/16.6; 64->128 at 128x128 12.7/11.2/6.4,
     * 13.5/12.5/7.5; 128->128 24.5/19.2/10.8, 25.4/18.6/11.7; 128->256 at 64x64 11.7/8.0/5.3,
     * 12.2/9.2/6.1; 256->256 23.3/17.4/10.6, 24.7/17.5/11.0; 256->512 at 32x32 11.9/7.8/4.9,
     * 12.8/9.4/5.3; 512->512 23.0/14.0/8.7, 23.5/14.6/8.9; 512->512 at 16x16 5.9/3.8/3.0, 6.3/4.1/3.2.
     * 512 px: 64->64 at 512x512 108/116/60, 106/121/66; 64->128 at 256x256 50/42/24, 52/49/28;
     * 128->128 95/70/41, 98/73/44; 128->256 at 128x128 46/30/18, 49/34/21; 256->256 90/57/38,
     * 93/61/36; 256->512 at 64x64 46/27/17, 46/31/20; 512->512 91/52/31, 91/52/32; 512->512 at 32x32
     * 23/13/8.7, 23/13/8.4.
     * The 3-channel first layer stays DIRECT (the transforms cost more than a 3-channel GEMM saves;
     * F(2x2, 3x3) was 2-3x slower there).
     * Not yet used: on small planes, where the tiles padded to whole NR-tile GEMM blocks decide,
     * WINOGRAD was faster (bench ConvVariants, 512->512, ms fwd/bwd WINOGRAD against WINOGRAD4: 10x10
     * 2.1/2.1 against 2.7/2.7, 8x8 1.4/1.3 against 2.8/2.7, 6x6 1.3/1.3 against 2.6/2.6; at 12x12
     * WINOGRAD4 won 2.7/2.8 against 3.1/2.9, at 16x16 2.9/2.8 against 3.5/3.6), i.e. in VGG19's deepest
     * layers for images below about 192 px. Choosing by plane would need both packings of such layers
     * (prepare() does not know the plane, and callers release the raw weights once packed), so the
     * choice depends on the channels only.
     */
    private static boolean useWinograd4(int cin, int cout) {
        return cin >= 64 && cout >= 64;
    }

    /**
     * Where WINOGRAD beat DIRECT, forward and backward, in every run on PoCL 3.1 (2 EPYC cores, AVX2):
     * at least 128 input and output channels. Process CPU time, variants interleaved in one JVM,
     * minimum of 3 rounds, VGG19 layers at 256 and 512 px, speed-up over DIRECT forward / backwardInput
     * (last run; earlier runs in brackets where they differed much; the machine is shared):
     * 128->128 at 128x128 1.02 / 1.05 [1.50 / 1.50], at 256x256 1.39 / 1.48; 128->256 at 64x64
     * 1.30 / 1.09, at 128x128 1.57 / 1.49; 256->256 at 64x64 1.26 / 1.39, at 128x128 1.27 / 1.32;
     * 256->512 at 32x32 1.47 / 1.28, at 64x64 1.55 / 1.38; 512->512 at 16x16 1.76 / 1.69, at 32x32
     * 1.55-1.57 / 1.59-1.60 [1.09 / 1.00], at 64x64 1.53 / 1.47.
     * 64 channels won in most runs but not all (64->64 at 512x512 backward 1.17-1.24 [0.81], 64->128 at
     * 256x256 backward 1.31-1.44 [0.86]), so they stay DIRECT; with 3 input channels WINOGRAD is 2-3x
     * slower (the transforms cost more than the 3-channel GEMM saves). Depends on channels only, so
     * prepare() knows which packing a weight needs.
     */
    private static boolean useWinograd(int cin, int cout) {
        return cin >= 128 && cout >= 128;
    }

    private ClProgram winogradProgram() {
        if (winograd == null) {
            winograd = ctx.program(WINO_FAMILY, Map.of("MR", mr, "NV", nv, "WINO_PLANE_PAD", WINO_PLANE_PAD));
        }
        return winograd;
    }

    private ClProgram winograd4Program() {
        if (winograd4 == null) {
            winograd4 = ctx.program(WINO4_FAMILY, Map.of("MR", mr, "NV", nv, "WINO_PLANE_PAD", WINO_PLANE_PAD));
        }
        return winograd4;
    }

    /**
     * One Winograd tile size: m x m outputs per tile, E = (m + 2)^2 transformed elements (GEMMs), the
     * kernels' name prefix and the packed-weight cache.
     */
    private record Wino(int m, int elements, String prefix, boolean f4) {}

    /**
     * Floats between consecutive transform-element planes of the Winograd scratch (WINO_PLANE_PAD in
     * winograd_gemm.cl, passed to the build so that host and kernels agree). Unpadded, the 16 or 36 planes
     * of a 64-channel layer in 128-tile chunks are 32 KiB apart, and each transform work-item's 16-36
     * streams share cache sets. Measured with farm-bench, pairs of whole processes alternating 16 and 0:
     * conv layers of 64, 128 and 256 channels, forward and backward (wall A/B median 0.955 over 8 pairs,
     * 0.948 over 12), and the 512 px iteration pipeline, set-up included (0.973 over 8).
     */
    static final int WINO_PLANE_PAD = 16;

    private static final Wino F2 = new Wino(2, 16, "conv3x3_wino_", false);
    private static final Wino F4 = new Wino(4, 36, "conv3x3_wino4_", true);

    private static Wino wino(Variant v) {
        return v == Variant.WINOGRAD4 ? F4 : F2;
    }

    private ClProgram program(Wino f) {
        return f.f4 ? winograd4Program() : winogradProgram();
    }

    /**
     * out [m, h, w] = conv(in [k, h, w] (times (mask > 0) when mask != null), transformed weight u) (+
     * bias, ReLU) by Winograd F(2x2, 3x3): input transform, 16 GEMMs, output transform (see
     * conv3x3_winograd.cl). A forward (bias != null) reserves scratch for its backward too.
     */
    private void winograd(Wino f, ClBuffer in, ClBuffer mask, ClBuffer u, ClBuffer bias, ClBuffer out,
                          int k, int m, int h, int w, boolean relu) {
        int nr = 8 * nv;
        int e = f.elements;
        int th = (h + f.m - 1) / f.m, tw = (w + f.m - 1) / f.m, tiles = th * tw;
        int unit = nr * winoGroup;
        // Tiles per chunk: V [E, k, chunk] and M [E, m, chunk] within WINO_BYTES, a whole GEMM group at least.
        long perTile = (long) e * (k + m) * Float.BYTES;
        int chunk = (int) Math.max(unit, Math.min((long) (tiles + unit - 1) / unit * unit,
                winoBytes / perTile / unit * unit));
        int most = bias != null ? Math.max(k, m) : k;
        // Each of the E planes is followed by WINO_PLANE_PAD floats.
        long needIn = (long) e * ((long) most * chunk + WINO_PLANE_PAD),
                needOut = (long) e * ((long) (bias != null ? Math.max(k, m) : m) * chunk + WINO_PLANE_PAD);
        if (needIn > Integer.MAX_VALUE || needOut > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Conv3x3: Winograd buffers of " + Math.max(needIn, needOut)
                    + " floats are too large");
        }
        if (winoIn == null || winoIn.elements() < needIn) {
            if (winoIn != null) {
                winoIn.close();
            }
            winoIn = ctx.buffer((int) needIn);
        }
        if (winoOut == null || winoOut.elements() < needOut) {
            if (winoOut != null) {
                winoOut.close();
            }
            winoOut = ctx.buffer((int) needOut);
        }
        ClProgram p = program(f);
        ClKernel input = p.kernel(f.prefix + "input");
        ClKernel gemm = p.kernel(f.prefix + "gemm");
        ClKernel output = p.kernel(f.prefix + "output");
        long mblocks = (m + mr - 1) / mr;
        for (int nbase = 0; nbase < tiles; nbase += chunk) {
            int count = Math.min(chunk, tiles - nbase);
            int ntp = (count + nr - 1) / nr * nr; // V and M row stride of this chunk
            input.launch(transformGlobal(f, ntp / 8, k), transformLocal(f), in, mask != null ? mask : in,
                    mask != null ? 1 : 0, winoIn, k, h, w, tw, tiles, nbase, ntp);
            int nblocks = ntp / nr;
            int group = Math.min(winoGroup, nblocks);
            int ngroups = (nblocks + group - 1) / group;
            gemm.launch(new long[] {group, mblocks, (long) e * ngroups}, new long[] {group, 1, 1},
                    u, winoIn, winoOut, k, m, ntp, group, ngroups);
            output.launch(transformGlobal(f, (count + 7) / 8, m), transformLocal(f), winoOut, bias != null ? bias : out,
                    bias != null ? 1 : 0, out, m, h, w, tw, tiles, nbase, ntp, relu ? 1 : 0);
        }
    }

    /**
     * Work-group of the F(4x4, 3x3) transforms (the kernels return outside their range): 4 x 8, less
     * where the device's per-dimension limits are lower. Left to PoCL, it chose groups so large that
     * their copies of the 6x6x8-float tiles of each work-item overflowed the thread's stack (a crash at
     * 512 channels of 64 x 64); F(2x2, 3x3) keeps the runtime's choice.
     */
    private long[] transformLocal(Wino f) {
        return f.f4 ? transformGroup.clone() : null;
    }

    private long[] transformGlobal(Wino f, long d0, long d1) {
        if (!f.f4) {
            return new long[] {d0, d1};
        }
        long g0 = transformGroup[0], g1 = transformGroup[1];
        return new long[] {(d0 + g0 - 1) / g0 * g0, (d1 + g1 - 1) / g1 * g1};
    }

    /** The F(4x4, 3x3) transforms' work-group, see {@link #transformLocal}. */
    private static long[] transformGroup(ClDevice d) {
        long[] items = d.maxWorkItemSizes();
        long g1 = Math.max(1, Math.min(8, items != null && items.length > 1 ? items[1] : 1));
        long g0 = Math.max(1, Math.min(Math.min(4, d.maxWorkGroupSize() / g1), items != null && items.length > 0 ? items[0] : 1));
        return new long[] {g0, g1};
    }

    /** The transformed forward and backward weights of {@code weight}, made at the first use. */
    private ClBuffer[] winoPacked(Wino f, ClBuffer weight) {
        Map<ClBuffer, ClBuffer[]> cache = f.f4 ? wino4Packed : winoPacked;
        ClBuffer[] p = cache.get(weight);
        if (p != null) {
            return p;
        }
        int cout = weight.dim(0), cin = weight.dim(1);
        int e = f.elements;
        ClKernel pack = program(f).kernel(f.prefix + "pack");
        // [E, ceil(Cout/MR), Cin, MR] and, for the backward, [E, ceil(Cin/MR), Cout, MR].
        ClBuffer fwd = ctx.buffer(e, (cout + mr - 1) / mr, cin, mr);
        ClBuffer bwd = ctx.buffer(e, (cin + mr - 1) / mr, cout, mr);
        pack.launch(new long[] {fwd.elements() / e}, null, weight, fwd, cout, cin, 0);
        pack.launch(new long[] {bwd.elements() / e}, null, weight, bwd, cout, cin, 1);
        p = new ClBuffer[] {fwd, bwd};
        cache.put(weight, p);
        return p;
    }

    private ClProgram directProgram() {
        if (direct == null) {
            direct = ctx.program(DIRECT_FAMILY, Map.of("MR", mr, "NV", nv));
        }
        return direct;
    }

    /**
     * out [m, h, w] = conv(in [k, h, w] (times (mask > 0) when mask != null), packed weight) (+ bias,
     * ReLU): in bands of {@link Blocking#rows} output rows, pad the band's rows (and its two halo rows)
     * into the scratch buffer, then run the register-blocked kernel on them. A forward (bias != null)
     * reserves scratch for its backward too.
     */
    private void direct(ClBuffer in, ClBuffer mask, ClBuffer wp, ClBuffer bias, ClBuffer out,
                        int k, int m, int h, int w, boolean relu) {
        Blocking b = blocking(k, m, h, w);
        int segpx = b.segBlocks * 8 * nv;
        int segw = segpx + 2;
        int nsegs = (w + segpx - 1) / segpx;
        // The forward reserves room for its own backward (which pads Cout channels in the same
        // segments: they depend on w only), so that a backward after the forward of the same layers
        // allocates nothing.
        long need = (long) (b.rows + 2) * nsegs * segw * k;
        if (bias != null) {
            need = Math.max(need, (long) (blocking(m, k, h, w).rows + 2) * nsegs * segw * m);
        }
        if (need > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Conv3x3: padded input band of " + need + " floats is too large");
        }
        if (scratch == null || scratch.elements() < need) {
            if (scratch != null) {
                scratch.close(); // released once the queued kernels using it are done
            }
            scratch = ctx.buffer((int) need);
        }
        ClProgram p = directProgram();
        ClKernel pad = p.kernel("conv3x3_direct_pad");
        ClKernel conv = p.kernel("conv3x3_direct");
        long mblocks = (m + mr - 1) / mr;
        long group = Math.min(directGroup, b.segBlocks);
        long dim0 = (b.segBlocks + group - 1) / group * group;
        // Bands in order on the in-order queue: each pads over the scratch after the previous band's
        // convolution read it.
        for (int row0 = 0; row0 < h; row0 += b.rows) {
            int rows = Math.min(b.rows, h - row0);
            pad.launch(new long[] {(long) k * (rows + 2)}, null,
                    in, mask != null ? mask : in, mask != null ? 1 : 0, scratch, k, h, w, nsegs, segpx, row0, rows);
            long tiles = (rows + b.band - 1) / b.band;
            // Passes over Cin in a fixed order, each adding into out: deterministic, and the same sums
            // in the same order as one band of all rows (each output row lies in one band).
            for (int k0 = 0; k0 < k; k0 += b.kc) {
                int kc = Math.min(b.kc, k - k0);
                boolean first = k0 == 0, last = k0 + kc == k;
                conv.launch(new long[] {dim0, b.band * mblocks, tiles * nsegs}, new long[] {group, 1, 1},
                        scratch, wp, bias != null ? bias : out, out, k, m, h, w, segw,
                        first && bias != null ? 1 : 0, last && relu ? 1 : 0, k0, kc, first ? 0 : 1,
                        b.band, b.segBlocks, nsegs, row0, rows);
            }
        }
    }

    /**
     * Cache blocking of one direct call: kc input channels per pass, tiles of band rows x segBlocks
     * pixel blocks (see conv3x3_direct), and the input padded and convolved in bands of {@code rows}
     * output rows (all h rows when they fit the cap, else a multiple of band, at least one band).
     */
    record Blocking(int kc, int band, int segBlocks, int rows) {}

    /**
     * The blocking for k input channels, m output channels and an h x w image: host overrides
     * (DIRECT_KC, DIRECT_BAND, DIRECT_SEG, ROWS_INNER) first, else from the sizes: a tile's padded
     * input rows ((band + 2) rows x kc channels x WP floats) must fit {@link #TILE_BYTES}, with at least
     * {@link #MIN_BAND} rows so that the weights streaming by once per tile are used band times; when
     * Cin is too large for that, Cin is split into equal passes. The padded band holds as many whole
     * tiles of rows as fit the cap (DIRECT_PAD_KB, {@link #PAD_BYTES}), at least one tile, and no tile is
     * taller than the cap allows (unless DIRECT_BAND says so).
     */
    Blocking blocking(int k, int m, int h, int w) {
        int blocks = (w + 8 * nv - 1) / (8 * nv);
        // Segments depend on w only (the forward reserves scratch for its backward with them).
        int seg = segOverride > 0 ? Math.min(segOverride, blocks) : Math.min(SEG_BLOCKS, blocks);
        long rowBytes = (long) (seg * 8 * nv + 2) * Float.BYTES; // one channel of one padded row segment
        int nsegs = (blocks + seg - 1) / seg;
        int capRows = capRows(k, h, (long) nsegs * rowBytes, padBytes);
        // A small image's whole padded input stays in the shared cache: one band of all rows, so each
        // channel block's weights are read once while the input streams by from that cache.
        boolean small = (long) (h + 2) * nsegs * rowBytes * k <= Math.min(INPUT_IN_CACHE, padBytes);
        int kc = k;
        if (kcOverride > 0) {
            kc = Math.min(kcOverride, k);
        } else if (rowsInnerOverride < 0 && bandOverride == 0 && !small
                && TILE_BYTES / (rowBytes * k) < MIN_BAND + 2 && h > MIN_BAND) {
            int most = (int) Math.max(8, TILE_BYTES / (rowBytes * (MIN_BAND + 2)));
            int passes = (k + most - 1) / most;
            kc = (k + passes - 1) / passes; // equal passes
        }
        int band;
        if (bandOverride > 0) {
            band = Math.min(bandOverride, h);
        } else if (rowsInnerOverride >= 0) {
            band = rowsInnerOverride == 1 ? capRows : 1;
        } else if (small) {
            band = h; // capRows == h here
        } else {
            band = (int) Math.max(1, Math.min(capRows, TILE_BYTES / (rowBytes * kc) - 2));
        }
        int rows = capRows == h ? h : Math.max(band, capRows / band * band);
        return new Blocking(kc, band, seg, rows);
    }

    /**
     * Output rows of a padded band of c channels, (rows + 2) padded rows of rowBytes bytes per channel,
     * within cap bytes: between 1 and h.
     */
    private static int capRows(int c, int h, long rowBytes, long cap) {
        return (int) Math.max(1, Math.min(h, cap / (rowBytes * c) - 2));
    }

    /**
     * At most how many floats the direct variant's scratch (the padded input band) takes for the
     * forward and backward of a cin -> cout layer on an h x w image with the default cap, register block
     * width (NV = 2) and row segments, whatever the work order or Cin split: a band of at most
     * {@link #PAD_BYTES} (at least one output row and its two halo rows), and never more than the whole
     * padded input.
     */
    public static long directScratchFloats(int cin, int cout, int h, int w) {
        int nr = 8 * 2; // NV = 2
        int blocks = (w + nr - 1) / nr;
        int seg = Math.min(SEG_BLOCKS, blocks);
        long rowFloats = (long) (blocks + seg - 1) / seg * (seg * nr + 2); // one channel of one padded row
        long most = 0;
        for (int c : new int[] {cin, cout}) {
            most = Math.max(most, (capRows(c, h, rowFloats * Float.BYTES, PAD_BYTES) + 2L) * rowFloats * c);
        }
        return most;
    }

    /** The packed forward and backward weights of {@code weight}, packing them at the first use. */
    private ClBuffer[] packed(ClBuffer weight) {
        ClBuffer[] p = packed.get(weight);
        if (p != null) {
            return p;
        }
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

    /**
     * Releases the packed copies of {@code weight} made by this instance (and its tuned instances).
     * Packed copies otherwise live as long as the context: the weight buffer itself may be closed once
     * it is packed when {@link #readsWeights} says the kernels do not read it.
     */
    public void forget(ClBuffer weight) {
        if (tuned != null) {
            for (Conv3x3 t : tuned.made()) {
                t.forget(weight);
            }
        }
        for (Map<ClBuffer, ClBuffer[]> cache : List.of(packed, winoPacked, wino4Packed)) {
            ClBuffer[] p = cache.remove(weight);
            if (p != null) {
                p[0].close();
                p[1].close();
            }
        }
    }

    /**
     * Releases what this instance (and its tuned instances) holds on the device: the workspace (the
     * direct variant's padded band, the Winograd chunk buffers) and every packed weight copy. Buffers
     * still used by queued kernels are freed once those finish. The instance stays usable: the
     * workspace is made again at the next call, and weights are packed again at their next use or
     * {@link #prepare} (which needs the weight buffer open: call this when its owner is done with the
     * layers, e.g. from the owner's close()).
     */
    @Override
    public void close() {
        if (tuned != null) {
            for (Conv3x3 t : tuned.made()) {
                if (t != this) {
                    t.close();
                }
            }
        }
        for (Map<ClBuffer, ClBuffer[]> cache : List.of(packed, winoPacked, wino4Packed)) {
            for (ClBuffer[] p : cache.values()) {
                p[0].close();
                p[1].close();
            }
            cache.clear();
        }
        for (ClBuffer b : new ClBuffer[] {scratch, winoIn, winoOut}) {
            if (b != null) {
                b.close();
            }
        }
        scratch = winoIn = winoOut = null;
    }

    /**
     * Whether forward and backwardInput of a layer with these channel counts read the weight buffer
     * itself (the GEMM variant), rather than only the copies {@link #prepare} packs: if not, the caller
     * may close the weight buffer after prepare to save its device memory.
     */
    public boolean readsWeights(int cin, int cout) {
        if (tuned != null) {
            for (int w : new int[] {1, 1 << 12}) { // the two width classes, as in prepare
                Conv3x3 t = tuned.forClass(ShapeClass.conv(cin, cout, 1, w));
                if (t != this && t.readsWeights(cin, cout)) {
                    return true;
                }
            }
        }
        return variantFor(cin, cout, 1, 1) == Variant.GEMM;
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
