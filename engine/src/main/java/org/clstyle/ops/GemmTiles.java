package org.clstyle.ops;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClException;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * Tile sizes for the kernels built on gemm.cl, and launches of them that fit the device: the first
 * configuration (largest first) whose work-group and local tiles the device accepts, stepping down
 * to smaller tiles when a kernel turns out to allow fewer work-items than the device maximum.
 */
final class GemmTiles {
    /** One set of gemm.cl tile sizes (see the defines there); {@code doubleBuffer}: GEMM_DOUBLE_BUFFER. */
    record Config(int tsM, int tsN, int tsK, int wptM, int wptN, int vw, boolean doubleBuffer) {
        Config(int tsM, int tsN, int tsK, int wptM, int wptN, int vw) {
            this(tsM, tsN, tsK, wptM, wptN, vw, false);
        }

        int rtsM() { return tsM / wptM; }

        int rtsN() { return tsN / wptN; }

        int workGroup() { return rtsM() * rtsN(); }

        /** Bytes of the As and Bs local tiles (As rows padded by one float; two of each when double-buffered). */
        long localBytes() { return (doubleBuffer ? 2L : 1L) * tsK * ((tsM + 1) + tsN) * Float.BYTES; }

        boolean valid() {
            return tsM > 0 && tsN > 0 && tsK > 0 && wptM > 0 && wptN > 0 && tsM % wptM == 0 && tsN % wptN == 0
                    && (vw == 1 || vw == 2 || vw == 4 || vw == 8 || vw == 16) && wptN % vw == 0;
        }

        boolean fits(ClDevice d) {
            return workGroup() <= d.maxWorkGroupSize() && localBytes() <= d.localMemBytes();
        }

        Map<String, Object> defines() {
            Map<String, Object> d = new HashMap<>(Map.of("TS_M", tsM, "TS_N", tsN, "TS_K", tsK, "WPT_M", wptM, "WPT_N", wptN, "VW", vw));
            if (doubleBuffer) {
                d.put("GEMM_DOUBLE_BUFFER", 1);
            }
            return d;
        }

        /** Global size for an M x N output: dimension 0 runs along N. */
        long[] global(int m, int n) {
            return new long[] {(long) ceilDiv(n, tsN) * rtsN(), (long) ceilDiv(m, tsM) * rtsM()};
        }

        long[] local() { return new long[] {rtsN(), rtsM()}; }

        private static int ceilDiv(int a, int b) { return (a + b - 1) / b; }
    }

    /** Largest first; the last needs one work-item and 144 bytes of local memory. */
    static final List<Config> CANDIDATES = List.of(
            new Config(64, 64, 16, 4, 16, 8),
            new Config(32, 32, 16, 4, 8, 4),
            new Config(16, 16, 16, 4, 4, 4),
            new Config(8, 8, 8, 4, 4, 4),
            new Config(4, 4, 4, 4, 4, 4));

    private static final Set<String> TILE_KEYS = Set.of("TS_M", "TS_N", "TS_K", "WPT_M", "WPT_N", "VW", "GEMM_DOUBLE_BUFFER");

    private final ClContext ctx;
    private final String family;
    private final Map<String, Object> extraDefines;
    private final boolean pinned;
    private int candidate;
    private Config config;
    private ClProgram program;

    /**
     * Tiles for kernel family {@code family} on {@code ctx}'s device. {@code overrides} may set any
     * define; setting a tile size (TS_M, TS_N, TS_K, WPT_M, WPT_N, VW, or GEMM_DOUBLE_BUFFER 0/1) pins the
     * configuration (the others keep the defaults of the largest candidate, VW the largest of 8, 4, 2, 1
     * dividing WPT_N, single-buffered), and one the device cannot run is an error.
     */
    GemmTiles(ClContext ctx, String family, Map<String, ?> overrides, Map<String, ?> familyDefines) {
        this.ctx = ctx;
        this.family = family;
        Map<String, Object> extra = new HashMap<>(familyDefines);
        Map<String, Integer> tiles = new HashMap<>();
        for (Map.Entry<String, ?> e : overrides.entrySet()) {
            if (TILE_KEYS.contains(e.getKey())) {
                tiles.put(e.getKey(), toInt(e.getKey(), e.getValue()));
            } else {
                extra.put(e.getKey(), e.getValue());
            }
        }
        this.extraDefines = extra;
        this.pinned = !tiles.isEmpty();
        ClDevice dev = ctx.device();
        if (pinned) {
            Config base = CANDIDATES.get(0);
            int wptN = tiles.getOrDefault("WPT_N", base.wptN());
            int vw = 8;
            while (vw > 1 && wptN % vw != 0) {
                vw /= 2;
            }
            Config c = new Config(tiles.getOrDefault("TS_M", base.tsM()), tiles.getOrDefault("TS_N", base.tsN()),
                    tiles.getOrDefault("TS_K", base.tsK()), tiles.getOrDefault("WPT_M", base.wptM()),
                    wptN, tiles.getOrDefault("VW", vw), tiles.getOrDefault("GEMM_DOUBLE_BUFFER", 0) != 0);
            if (!c.valid()) {
                throw new IllegalArgumentException(family + " tile sizes " + c
                        + ": need positive sizes with TS_M a multiple of WPT_M, TS_N of WPT_N, WPT_N of VW,"
                        + " and VW one of 1, 2, 4, 8, 16");
            }
            if (!c.fits(dev)) {
                throw new IllegalArgumentException(family + " tile sizes " + c + " need " + c.workGroup()
                        + " work-items and " + c.localBytes() + " bytes of local memory; device " + dev.label()
                        + " allows " + dev.maxWorkGroupSize() + " and " + dev.localMemBytes());
            }
            config = c;
        } else {
            candidate = -1;
            stepDown();
        }
    }

    Config config() { return config; }

    /** Launches {@code kernel} over an M x N output with the current tiles; args as for ClKernel.launch. */
    void launch(String kernel, int m, int n, Object... args) {
        launchLayers(kernel, m, n, 0, args);
    }

    /**
     * As {@link #launch}, with a third grid dimension of {@code layers} (one work-group deep each) when
     * {@code layers} > 0, e.g. the chunks of a split-K product.
     */
    void launchLayers(String kernel, int m, int n, int layers, Object... args) {
        while (true) {
            ClKernel k = program().kernel(kernel);
            try {
                long[] global = config.global(m, n), local = config.local();
                if (layers > 0) {
                    global = new long[] {global[0], global[1], layers};
                    local = new long[] {local[0], local[1], 1};
                }
                k.launch(global, local, args);
                return;
            } catch (ClException e) {
                // CL_INVALID_WORK_GROUP_SIZE / CL_OUT_OF_RESOURCES: the kernel allows fewer work-items
                // than the device maximum (e.g. register pressure on a GPU); retry with smaller tiles.
                boolean tooBig = e.code() == -54 || e.code() == -5;
                if (!tooBig || pinned || candidate + 1 >= CANDIDATES.size()) {
                    throw e;
                }
                stepDown();
            }
        }
    }

    /** The program built with the current tiles and the other defines (for the family's non-GEMM kernels too). */
    ClProgram program() {
        if (program == null) {
            Map<String, Object> defines = new HashMap<>(extraDefines);
            defines.putAll(config.defines());
            program = ctx.program(family, defines);
        }
        return program;
    }

    private void stepDown() {
        ClDevice dev = ctx.device();
        for (int i = candidate + 1; i < CANDIDATES.size(); i++) {
            if (CANDIDATES.get(i).fits(dev)) {
                candidate = i;
                config = CANDIDATES.get(i);
                program = null;
                return;
            }
        }
        throw new IllegalStateException("device " + dev.label() + " cannot run even the smallest " + family
                + " tiles " + CANDIDATES.get(CANDIDATES.size() - 1));
    }

    private static int toInt(String key, Object v) {
        if (v instanceof Number num) {
            return num.intValue();
        }
        try {
            return Integer.parseInt(String.valueOf(v).trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("define " + key + "=" + v + " is not an integer");
        }
    }
}
