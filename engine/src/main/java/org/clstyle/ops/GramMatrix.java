package org.clstyle.ops;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * Gram matrix of a feature map, G = F F^T / n with F viewed as [C, N] (N = all elements after the
 * first dimension), and its gradient dF = (dG + dG^T) F / n.
 *
 * <p>Two implementations, picked per device ({@link Variant#forDevice}): GPUs get the tiled
 * local-memory core in gemm.cl (kernels/gram.cl); CPU devices get register-blocked kernels without
 * local memory or barriers (kernels/gram_direct.cl), which CPU OpenCL compilers turn into plain
 * vector FMA loops. The direct variant keeps two scratch buffers (per-chunk partial Gram matrices,
 * the packed symmetrised gradient) that grow to the largest layer seen and are then reused; a
 * forward reserves the packed gradient for its own backward and the partials for any input with the
 * same C (at most 1 MiB), so that after the first forward of a C, nothing more is allocated for it.
 */
public final class GramMatrix {
    private static final String DIRECT_FAMILY = "gram_direct";
    /**
     * Defines of the direct variant: forward block GM x GN, backward block MR x 8*NV (kernel); on the
     * host DIRECT_WG forward work-items per group, BACKWARD_WG backward row blocks per group at most
     * (each group copies its column panel once), PANEL_KB the backward's local panel size aimed at,
     * and GRAM_KC (forward chunk length along N).
     */
    private static final Set<String> DIRECT_KEYS = Set.of("GM", "GN", "MR", "NV", "DIRECT_WG", "BACKWARD_WG", "PANEL_KB", "GRAM_KC",
            "SPLIT_GROUPS", "GRAM_CHUNKS");
    /**
     * Forward chunk length along N (columns of F per work-item and chunk): long enough to amortise a
     * block's setup, horizontal sums and partial-sum traffic, short enough that the chunk's rows come
     * from cache rather than memory at large N. Measured on PoCL (2 EPYC cores, 512 KiB L2 each) over
     * 2048, 8192, 32768 and unchunked at the VGG relu*_1 shapes: 8192 was best overall (unchunked lost
     * 2-3x at C=64-128 with N=65536-262144, 2048 lost at C=512).
     */
    private static final int CHUNK_COLUMNS = 8192;
    /** Forward work-items wanted at least (block pairs x chunks), so that small C still uses every core. */
    private static final int MIN_FORWARD_ITEMS = 16;
    /** Shortest chunk that the split for parallelism goes down to. */
    private static final int MIN_CHUNK_COLUMNS = 512;
    /**
     * Floats of per-chunk partials at most (chunks x C^2; longer chunks beyond that): the forward
     * reserves this much at once, so that later forwards on larger inputs allocate nothing.
     */
    private static final long MAX_PARTIAL_FLOATS = 1L << 18;
    /** Split-K partials of the GEMM forward at most (16 MiB): C = 64 allows 1024 chunks, C = 512 sixteen. */
    private static final long MAX_SPLIT_FLOATS = 1L << 22;
    /** Shortest split-K chunk in steps of TS_K columns: long enough to amortise the tile's setup and store. */
    private static final int MIN_SPLIT_STEPS = 16;

    /** Which kernels run forward and backward. */
    public enum Variant {
        /** Tiled local-memory GEMM (gemm.cl): for GPUs. */
        GEMM,
        /** Register-blocked kernels, no local memory, no barriers: for CPU devices. */
        DIRECT;

        /** DIRECT for CPU devices (that are not also GPUs), GEMM for everything else. */
        public static Variant forDevice(ClDevice d) {
            return d.isCpu() ? DIRECT : GEMM;
        }
    }

    private final ClContext ctx;
    private final GemmTiles tiles;
    private final Variant variant;
    private final int gm;
    private final int gn;
    private final int mr;
    private final int nv;
    private final int directGroup;
    private final int backwardGroup;
    private final int panelBytes;
    private final int kcOverride;
    /** Per shape class instances from the device's tuning table; null for explicitly configured instances. */
    private final TunedInstances<GramMatrix> tuned;
    private ClProgram direct;
    /** Per-chunk partial Gram matrices of the direct forward, used as [chunks, C, C]. */
    private ClBuffer partials;
    /** Packed symmetrised gradient of the direct backward, used as [ceil(C/MR), C, MR]. */
    private ClBuffer packedS;
    /** Split-K partials of the GEMM forward, used as [chunks, C, C]. */
    private ClBuffer splitPartials;
    /** GEMM forward: work-groups split-K aims at (0: 4 per compute unit); chunks forced (0: chosen). */
    private final int splitGroups;
    private final int forcedChunks;

    /** The variant for this device with the built-in defaults. */
    public GramMatrix(ClContext ctx) {
        this(ctx, OpSettings.NONE);
    }

    /**
     * The variant for this device, with {@code settings} (the device's tuning table, chosen by tune/)
     * for each call's shape class, where it has one.
     */
    public GramMatrix(ClContext ctx, OpSettings settings) {
        this(ctx, Map.of(), Variant.forDevice(ctx.device()), settings);
    }

    /**
     * With {@code defines} overriding kernel defines (gemm.cl's tile sizes TS_M, TS_N, TS_K, WPT_M,
     * WPT_N; GM, GN, MR, NV, DIRECT_WG, GRAM_KC of the direct variant).
     */
    public GramMatrix(ClContext ctx, Map<String, ?> defines) {
        this(ctx, defines, Variant.forDevice(ctx.device()));
    }

    /** As {@link #GramMatrix(ClContext, Map)} with the implementation forced. */
    public GramMatrix(ClContext ctx, Map<String, ?> defines, Variant variant) {
        this(ctx, defines, variant, null);
    }

    private GramMatrix(ClContext ctx, Map<String, ?> defines, Variant variant, OpSettings settings) {
        this.ctx = ctx;
        this.variant = variant;
        Map<String, Object> rest = new HashMap<>(defines);
        rest.keySet().removeAll(DIRECT_KEYS);
        this.tiles = new GemmTiles(ctx, "gram", rest, Map.of());
        // 3 x 4 forward: 12 float8 accumulators + 3 row vectors + 1 streamed of the 16 AVX2 registers;
        // 6 x 16 backward: 12 accumulators + 2 loads + 1 broadcast.
        this.gm = intDefine(defines, "GM", 3, 1, 8);
        this.gn = intDefine(defines, "GN", 4, 1, 8);
        this.mr = intDefine(defines, "MR", 6, 1, 16);
        this.nv = intDefine(defines, "NV", 2, 1, 4);
        this.directGroup = intDefine(defines, "DIRECT_WG", 4, 1,
                (int) Math.min(1024, ctx.device().maxWorkGroupSize()));
        this.backwardGroup = intDefine(defines, "BACKWARD_WG", 128, 1,
                (int) Math.min(1024, ctx.device().maxWorkGroupSize()));
        this.panelBytes = intDefine(defines, "PANEL_KB", 64, 1, 1 << 16) << 10;
        this.kcOverride = intDefine(defines, "GRAM_KC", 0, 0, Integer.MAX_VALUE);
        this.splitGroups = intDefine(defines, "SPLIT_GROUPS", 0, 0, 1 << 20);
        this.forcedChunks = intDefine(defines, "GRAM_CHUNKS", 0, 0, 1 << 20);
        if (kcOverride % 8 != 0) {
            throw new IllegalArgumentException("gram define GRAM_KC=" + kcOverride + ": must be a multiple of 8");
        }
        this.tuned = settings != null ? new TunedInstances<>(settings, ShapeClass.GRAM, this, variant.name(),
                (v, m) -> new GramMatrix(ctx, m, Variant.valueOf(v))) : null;
    }

    public Variant variant() { return variant; }

    /** Floating-point operations of a forward or of a backward (2 C^2 N, multiply and add counted separately). */
    public static double flops(int c, long cols) {
        return 2.0 * c * c * cols;
    }

    /** g [C, C] = f f^T / n, for f of any shape [C, ...]. */
    public void forward(ClBuffer f, ClBuffer g, double n) {
        int c = f.dim(0);
        int cols = columns(f);
        GramMatrix t = tuned == null ? this : tuned.forClass(ShapeClass.gram(c, cols));
        if (t != this) {
            t.forward(f, g, n);
            return;
        }
        expect("forward", "g", g, c, c);
        checkN("forward", n);
        float invn = (float) (1.0 / n);
        if (variant == Variant.DIRECT) {
            directForward(f, g, c, cols, invn);
            return;
        }
        int chunks = splitChunks(c, cols);
        if (chunks == 1) {
            tiles.launch("gram_forward", c, c, f, g, c, cols, invn);
            return;
        }
        GemmTiles.Config cfg = tiles.config();
        int kchunk = ceilDiv(ceilDiv(cols, chunks), cfg.tsK()) * cfg.tsK();
        chunks = ceilDiv(cols, kchunk);
        // Reserve the most any N can use for this C (the chunk count is bounded by C alone), so that a
        // later forward on a larger input allocates nothing.
        splitPartials = grow(splitPartials, Math.max(chunks, splitChunks(c, Integer.MAX_VALUE / 2)) * (long) c * c,
                "split-K partial Gram matrices");
        long[] g2 = cfg.global(c, c);
        tiles.program().kernel("gram_forward_split").launch(new long[] {g2[0], g2[1], chunks},
                new long[] {cfg.rtsN(), cfg.rtsM(), 1}, f, splitPartials, c, cols, kchunk);
        tiles.program().kernel("gram_split_reduce").launch(new long[] {(long) c * c}, null, splitPartials, g, c, chunks, invn);
    }

    /**
     * Chunks of N for the GEMM forward (1: not split). Split-K runs when the C x C tiles on and above the
     * diagonal are fewer than SPLIT_GROUPS work-groups (default 4 per compute unit): chunks enough to
     * reach that many groups, each at least MIN_SPLIT_STEPS steps of TS_K columns long, and at most
     * MAX_SPLIT_FLOATS floats of partials. Needs square tiles (the symmetry skip); GRAM_CHUNKS forces a
     * count (tests).
     */
    int splitChunks(int c, int cols) {
        GemmTiles.Config t = tiles.config();
        if (t.tsM() != t.tsN()) {
            return 1;
        }
        int kSteps = ceilDiv(cols, t.tsK());
        long maxByMemory = Math.max(1, MAX_SPLIT_FLOATS / ((long) c * c));
        if (forcedChunks > 0) {
            return (int) Math.max(1, Math.min(Math.min(forcedChunks, kSteps), maxByMemory));
        }
        long tilesPerSide = ceilDiv(c, t.tsM());
        long upper = tilesPerSide * (tilesPerSide + 1) / 2;
        long wanted = splitGroups > 0 ? splitGroups : 4L * Math.max(1, ctx.device().computeUnits());
        if (upper >= wanted) {
            return 1;
        }
        long chunks = Math.min((wanted + upper - 1) / upper, kSteps / MIN_SPLIT_STEPS);
        return (int) Math.max(1, Math.min(chunks, maxByMemory));
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** df (+)= (dg + dg^T) f / n; df has f's shape; adds into df when {@code accumulate}, else overwrites. */
    public void backward(ClBuffer dg, ClBuffer f, ClBuffer df, double n, boolean accumulate) {
        int c = f.dim(0);
        int cols = columns(f);
        GramMatrix t = tuned == null ? this : tuned.forClass(ShapeClass.gram(c, cols));
        if (t != this) {
            t.backward(dg, f, df, n, accumulate);
            return;
        }
        expect("backward", "dg", dg, c, c);
        if (!Arrays.equals(df.shape(), f.shape())) {
            throw new IllegalArgumentException("GramMatrix.backward: df has shape " + Arrays.toString(df.shape())
                    + ", expected f's shape " + Arrays.toString(f.shape()));
        }
        checkN("backward", n);
        float invn = (float) (1.0 / n);
        if (variant == Variant.DIRECT) {
            directBackward(dg, f, df, c, cols, invn, accumulate);
            return;
        }
        tiles.launch("gram_backward", c, cols, dg, f, df, c, cols, invn, accumulate ? 1 : 0);
    }

    /** The kernel configuration in use (for logs and benchmarks). */
    public String tileConfig() {
        return variant == Variant.DIRECT
                ? "direct forward " + gm + "x" + gn + " WG=" + directGroup + " backward " + mr + "x" + 8 * nv
                        + " WG<=" + backwardGroup
                        + (kcOverride > 0 ? " KC=" + kcOverride : "")
                : tiles.config().toString();
    }

    private ClProgram directProgram() {
        if (direct == null) {
            direct = ctx.program(DIRECT_FAMILY, Map.of("GM", gm, "GN", gn, "MR", mr, "NV", nv));
        }
        return direct;
    }

    /**
     * Forward chunk length along N: CHUNK_COLUMNS (all of N when shorter), shortened down to
     * MIN_CHUNK_COLUMNS while fewer than MIN_FORWARD_ITEMS work-items would run.
     */
    private int chunkLength(int c, int cols) {
        long maxChunks = maxChunks(c);
        long fewest = ((cols + maxChunks - 1) / maxChunks + 7) / 8 * 8; // shortest chunk within maxChunks
        if (kcOverride > 0) {
            return (int) Math.min(cols, Math.max(kcOverride, fewest));
        }
        long bi = (c + gm - 1) / gm;
        long bj = (c + gn - 1) / gn;
        long pairs = Math.max(1, Math.min(bi * bj, (bi * bj + Math.max(bi, bj)) / 2)); // about the upper triangle
        long kc = Math.min(cols, CHUNK_COLUMNS);
        long want = (MIN_FORWARD_ITEMS + pairs - 1) / pairs; // chunks wanted for parallelism
        if (want > 1) {
            long split = ((cols + want - 1) / want + 7) / 8 * 8;
            kc = Math.min(kc, Math.max(MIN_CHUNK_COLUMNS, split));
        }
        return (int) Math.min(Math.max(kc, fewest), cols);
    }

    /** Chunks of the forward at most for C channels (at least 1). */
    private static long maxChunks(int c) {
        return Math.max(1, MAX_PARTIAL_FLOATS / ((long) c * c));
    }

    private void directForward(ClBuffer f, ClBuffer g, int c, int cols, float invn) {
        // Reserve the backward's packed gradient now, so that a backward after a forward of the same
        // C allocates nothing (loss evaluations check that they allocate no device memory).
        packedS = grow(packedS, packedSize(c), "packed gradient");
        // Likewise the largest partial sums any input with C channels can need.
        long chunksAtMost = maxChunks(c);
        if (chunksAtMost > 1) {
            partials = grow(partials, chunksAtMost * c * c, "partial Gram matrices");
        }
        int kc = chunkLength(c, cols);
        int chunks = (cols + kc - 1) / kc;
        long bi = (c + gm - 1) / gm;
        long bj = (c + gn - 1) / gn;
        ClProgram p = directProgram();
        long[] global = {bj, bi, chunks};
        long[] local = {Math.min(directGroup, bj), 1, 1};
        if (chunks == 1) {
            p.kernel("gram_direct_forward").launch(global, local, f, g, c, cols, kc, 1, invn);
            return;
        }
        partials = grow(partials, (long) chunks * c * c, "partial Gram matrices"); // reserved above
        p.kernel("gram_direct_forward").launch(global, local, f, partials, c, cols, kc, 0, invn);
        p.kernel("gram_direct_reduce").launch(new long[] {(long) c * c}, null, partials, g, c, chunks, invn);
    }

    private void directBackward(ClBuffer dg, ClBuffer f, ClBuffer df, int c, int cols, float invn,
                                boolean accumulate) {
        long mblocks = (c + mr - 1) / mr;
        long need = packedSize(c);
        packedS = grow(packedS, need, "packed gradient");
        ClProgram p = directProgram();
        p.kernel("gram_direct_sym").launch(new long[] {need}, null, dg, packedS, c, invn);
        int nr = 8 * nv;
        long jblocks = (cols + nr - 1) / nr;
        ClKernel k = p.kernel("gram_direct_backward");
        // Column blocks per group: the panel (C x JG*NR floats, in local memory) near panelBytes, so
        // each row of F is copied as a run of JG*NR floats; then row blocks up to the group limits.
        long limit = Math.min(k.maxWorkGroupSize(), ctx.device().maxWorkGroupSize());
        long local = ctx.device().localMemBytes();
        long jg = Math.max(1, Math.min(jblocks, panelBytes / ((long) c * nr * Float.BYTES)));
        jg = Math.max(1, Math.min(jg, Math.min(limit, local / ((long) c * nr * Float.BYTES))));
        long mg = Math.max(1, Math.min(Math.min(backwardGroup, mblocks), limit / jg));
        if ((long) c * nr * Float.BYTES > local) {
            throw new IllegalArgumentException("GramMatrix.backward: C = " + c + " needs a " + (long) c * nr * Float.BYTES
                    + "-byte local panel, more than the device's " + local + " bytes; use the GEMM variant");
        }
        k.launch(new long[] {jblocks, mblocks}, new long[] {jg, mg},
                packedS, f, df, c, cols, accumulate ? 1 : 0, ClKernel.Local.floats(c * jg * nr));
    }

    /** Floats of the packed gradient [ceil(C/MR), C, MR]. */
    private long packedSize(int c) {
        return (long) ((c + mr - 1) / mr) * c * mr;
    }

    /** {@code buf} if it holds {@code need} floats, else a new buffer (the old one released once queued kernels are done). */
    private ClBuffer grow(ClBuffer buf, long need, String what) {
        if (need > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("GramMatrix: " + what + " of " + need + " floats is too large");
        }
        if (buf != null && buf.elements() >= need) {
            return buf;
        }
        if (buf != null) {
            buf.close();
        }
        return ctx.buffer((int) need);
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
            throw new IllegalArgumentException("gram define " + key + "=" + v + " is not an integer");
        }
        if (n < lo || n > hi) {
            throw new IllegalArgumentException("gram define " + key + "=" + n + ": must be in " + lo + ".." + hi);
        }
        return n;
    }

    private static int columns(ClBuffer f) {
        return Math.toIntExact(f.elements() / f.dim(0));
    }

    private static void checkN(String method, double n) {
        if (!(n > 0) || Double.isInfinite(n)) {
            throw new IllegalArgumentException("GramMatrix." + method + ": normaliser n = " + n
                    + " must be positive and finite");
        }
    }

    private static void expect(String method, String name, ClBuffer b, int... shape) {
        if (!Arrays.equals(b.shape(), shape)) {
            throw new IllegalArgumentException("GramMatrix." + method + ": " + name + " has shape "
                    + Arrays.toString(b.shape()) + ", expected " + Arrays.toString(shape));
        }
    }
}
