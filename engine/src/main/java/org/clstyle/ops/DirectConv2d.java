package org.clstyle.ops;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * {@link Conv2d}'s direct variant for CPU devices (kernels/conv2d_direct.cl): each call pads its input into
 * row segments split by stride phase, packs the weights into register-block order, then runs the
 * register-blocked kernel. The input gradient is the same kernel on dy dilated by the stride, with the
 * weights flipped and transposed; the weight gradient keeps 8-lane accumulators per (output channel, tap)
 * over chunks of output rows, summed in a fixed order. Scratch buffers grow to the largest call and are
 * kept (see {@link #scratchBytes}).
 */
final class DirectConv2d implements AutoCloseable {
    private static final String FAMILY = "conv2d_direct";
    /** Register blocks (output channels MR x float8 vectors NV), in order of preference: 12 accumulators each. */
    private static final int[][] BLOCKS = {{6, 2}, {4, 3}, {3, 4}, {2, 6}, {1, 8}};
    /** Pixel blocks of NR per row segment (conv3x3_direct's measured choice). */
    private static final int SEG_BLOCKS = 2;
    /** Bytes of padded input rows one tile of output rows may read (half a 512 KiB L2, as Conv3x3). */
    private static final long TILE_BYTES = 256L << 10;
    /** Padded input bytes per image that stream well from the shared cache: one band of all rows. */
    private static final long INPUT_IN_CACHE = 3L << 20;
    /** Bytes of x and dy rows one chunk of the weight gradient reads (stays in L2 while all items go by). */
    private static final long CHUNK_BYTES = 1L << 20;

    private final ClContext ctx;
    private final Map<String, ClProgram> programs = new HashMap<>();
    private ClBuffer xp;   // padded input (or dilated dy) [n, hp, nsegs, c, phases, segw]
    private ClBuffer wp;   // packed weight [ceil(rows/MR), kin*K*K, MR]
    private ClBuffer dyp;  // dy in row segments [n, ho, nsegs, cout, segpx] (weight gradient)
    private ClBuffer part; // [chunks, cout, cin, K, K] partial weight gradients

    DirectConv2d(ClContext ctx) {
        this.ctx = ctx;
    }

    /** The register block for a convolution writing {@code rows} channels: least waste, then preference order. */
    static int[] block(int rows) {
        int[] best = null;
        int bestWaste = Integer.MAX_VALUE;
        for (int[] b : BLOCKS) {
            int waste = (rows + b[0] - 1) / b[0] * b[0] - rows;
            if (waste < bestWaste) {
                best = b;
                bestWaste = waste;
            }
        }
        return best;
    }

    /** Output channels per work-item of the weight gradient for kernel size k (WMR). */
    static int weightRows(int k) {
        return k == 1 ? 8 : k <= 3 ? 4 : 2;
    }

    private ClProgram program(int k, int s, int[] block) {
        String key = k + "/" + s + "/" + block[0] + "/" + block[1];
        return programs.computeIfAbsent(key, x -> ctx.program(FAMILY,
                Map.of("CONV_K", k, "CONV_S", s, "MR", block[0], "NV", block[1], "WMR", weightRows(k))));
    }

    /** Row segments of an output width: segpx output pixels per segment, nsegs segments. */
    record Segments(int segpx, int nsegs) {
        static Segments of(int wo, int nv) {
            int nr = 8 * nv;
            int blocks = (wo + nr - 1) / nr;
            int seg = Math.min(SEG_BLOCKS, blocks);
            return new Segments(seg * nr, (blocks + seg - 1) / seg);
        }

        int segBlocks(int nv) {
            return segpx / (8 * nv);
        }
    }

    private ClBuffer grow(ClBuffer b, long need, String what) {
        if (need > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Conv2d: " + what + " of " + need + " floats is too large");
        }
        if (b != null && b.elements() >= need) {
            return b;
        }
        if (b != null) {
            b.close(); // released once the queued kernels using it are done
        }
        return ctx.buffer((int) need);
    }

    /** Pads src [n, c, h, w] into xp for a convolution whose output is ho rows of the given segments. */
    private void pad(ClProgram p, ClBuffer src, int n, int c, int h, int w, int hp, Segments sg, int segw,
                     int phases, int padT, int padL, int dil) {
        xp = grow(xp, (long) n * hp * sg.nsegs() * c * phases * segw, "padded input");
        p.kernel("conv2d_direct_pad").launch(new long[] {(long) n * hp * c}, null, src, xp, n, c, h, w, hp,
                sg.nsegs(), sg.segpx(), segw, phases, padT, padL, dil);
    }

    /** Packs weight [cout, cin, k, k] for rows = cout (flip false) or, flipped and transposed, rows = cin. */
    private void pack(ClProgram p, ClBuffer weight, int[] block, int rows, int kin, int k, boolean flip) {
        long need = (long) (rows + block[0] - 1) / block[0] * kin * k * k * block[0];
        wp = grow(wp, need, "packed weight");
        p.kernel("conv2d_direct_pack").launch(new long[] {need}, null, weight, wp, weight.dim(0), weight.dim(1),
                flip ? 1 : 0);
    }

    /** Runs the packed convolution over xp into out [n, rows, ho, wo]. */
    private void convolve(ClProgram p, int[] block, ClBuffer bias, ClBuffer out, int n, int kin, int rows,
                          int ho, int wo, int hp, Segments sg, int segw, int k, int s) {
        int segBlocks = sg.segBlocks(block[1]);
        long rowBytes = (long) segw * s * Float.BYTES * kin;       // one padded input row, all channels, one segment
        boolean small = rowBytes * sg.nsegs() * hp <= INPUT_IN_CACHE;
        int band = small ? ho : (int) Math.max(1, Math.min(ho, (TILE_BYTES / rowBytes - k) / s + 1));
        int bands = (ho + band - 1) / band;
        int mblocks = (rows + block[0] - 1) / block[0];
        long group = Math.min(4, segBlocks);
        long dim0 = (segBlocks + group - 1) / group * group;
        p.kernel("conv2d_direct").launch(new long[] {dim0, (long) band * mblocks, (long) n * bands * sg.nsegs()},
                new long[] {group, 1, 1}, xp, wp, bias != null ? bias : out, out, kin, rows, ho, wo, hp,
                sg.nsegs(), segw, bias != null ? 1 : 0, band, bands, segBlocks);
    }

    void forward(Conv2d.Geometry g, ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y) {
        int k = g.k(), s = g.stride(), ho = g.outH(), wo = g.outW();
        int[] block = block(g.cout());
        ClProgram p = program(k, s, block);
        Segments sg = Segments.of(wo, block[1]);
        int segw = sg.segpx() + (k - 1) / s;
        int hp = (ho - 1) * s + k;
        pack(p, weight, block, g.cout(), g.cin(), k, false);
        pad(p, x, g.n(), g.cin(), g.h(), g.w(), hp, sg, segw, s, g.pad(), g.pad(), 1);
        convolve(p, block, bias, y, g.n(), g.cin(), g.cout(), ho, wo, hp, sg, segw, k, s);
    }

    /**
     * dx = the stride-1 convolution of dy dilated by the stride and padded by K-1-p (fewer rows at the far
     * end where (H + 2p - K) is not a multiple of the stride: those read only zeros), flipped weights.
     */
    void backwardInput(Conv2d.Geometry g, ClBuffer dy, ClBuffer weight, ClBuffer dx) {
        int k = g.k(), h = g.h(), w = g.w();
        int[] block = block(g.cin());
        ClProgram p = program(k, 1, block);
        Segments sg = Segments.of(w, block[1]);
        int segw = sg.segpx() + k - 1;
        int hp = h + k - 1;
        int padT = k - 1 - g.pad();
        pack(p, weight, block, g.cin(), g.cout(), k, true);
        pad(p, dy, g.n(), g.cout(), g.outH(), g.outW(), hp, sg, segw, 1, padT, padT, g.stride());
        convolve(p, block, null, dx, g.n(), g.cout(), g.cin(), h, w, hp, sg, segw, k, 1);
    }

    /** dWeight [cout, cin, k, k] summed over the batch; chunk partials summed by {@code sumSplits} (conv2d.cl). */
    void backwardWeight(Conv2d.Geometry g, ClBuffer x, ClBuffer dy, ClBuffer dWeight, ClKernel sumSplits) {
        int k = g.k(), s = g.stride(), ho = g.outH(), wo = g.outW(), n = g.n();
        int[] block = block(g.cout());
        ClProgram p = program(k, s, block);
        Segments sg = Segments.of(wo, block[1]);
        int segw = sg.segpx() + (k - 1) / s;
        int hp = (ho - 1) * s + k;
        pad(p, x, n, g.cin(), g.h(), g.w(), hp, sg, segw, s, g.pad(), g.pad(), 1);
        dyp = grow(dyp, (long) n * ho * sg.nsegs() * g.cout() * sg.segpx(), "segmented dy");
        p.kernel("conv2d_direct_pad").launch(new long[] {(long) n * ho * g.cout()}, null, dy, dyp, n, g.cout(), ho,
                wo, ho, sg.nsegs(), sg.segpx(), sg.segpx(), 1, 0, 0, 1);

        int count = g.cout() * g.cin() * k * k;
        int chunks = chunks(g, sg, segw);
        int rows = (n * ho + chunks - 1) / chunks;
        chunks = (n * ho + rows - 1) / rows;
        ClBuffer target = dWeight;
        if (chunks > 1) {
            part = grow(part, (long) chunks * count, "weight-gradient partial sums");
            target = part;
        }
        int wmr = weightRows(k);
        p.kernel("conv2d_direct_weight").launch(
                new long[] {(g.cout() + wmr - 1) / wmr, (long) g.cin() * k, chunks}, null,
                xp, dyp, target, n, g.cin(), g.cout(), ho, hp, sg.nsegs(), segw, sg.segpx(), rows);
        if (chunks > 1) {
            Reduction.launch(sumSplits, new long[] {count}, Reduction.local1d(ctx.device(), count), part, chunks,
                    count, dWeight);
        }
    }

    /**
     * Chunks of output rows of the weight gradient: each reads about {@link #CHUNK_BYTES} of x and dy rows
     * (so they stay in cache while every work-item of the chunk goes by), at most Conv2d.MAX_SPLITS, and
     * their partial sums within Conv2d.MAX_SCRATCH floats.
     */
    static int chunks(Conv2d.Geometry g, Segments sg, int segw) {
        long rowBytes = (long) sg.nsegs() * Float.BYTES
                * ((long) g.cin() * g.stride() * g.stride() * segw + (long) g.cout() * sg.segpx());
        long rows = (long) g.n() * g.outH();
        long perChunk = Math.max(1, CHUNK_BYTES / rowBytes);
        long chunks = (rows + perChunk - 1) / perChunk;
        long count = (long) g.cout() * g.cin() * g.k() * g.k();
        chunks = Math.min(chunks, Math.min(Conv2d.MAX_SPLITS, Math.max(1, Conv2d.MAX_SCRATCH / count)));
        return (int) Math.max(1, chunks);
    }

    long scratchBytes() {
        long b = 0;
        for (ClBuffer buf : new ClBuffer[] {xp, wp, dyp, part}) {
            b += buf == null ? 0 : buf.bytes();
        }
        return b;
    }

    @Override
    public void close() {
        for (ClBuffer buf : new ClBuffer[] {part, dyp, wp, xp}) {
            if (buf != null) {
                buf.close();
            }
        }
        xp = wp = dyp = part = null;
    }
}
