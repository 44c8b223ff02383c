package org.clstyle.ops;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * 2x2 max and average pooling with stride 2 over [C, H, W] (kernels/pool.cl). Output [C, H/2, W/2]
 * rounded down, as PyTorch: an odd last row or column is dropped, and gets gradient 0.
 *
 * <p>Two kernel forms, picked per device ({@link Variant#forDevice}), with identical results: GPUs
 * run one work-item per output (forward) or input (backward) element; CPU devices run one
 * work-item per row, which walks the row with vector loads and stores. Measured on PoCL 3.1, 2 EPYC
 * cores, busy machine, [64, 512, 512]: max forward 88 -> 6.3 ms, max backward 109 -> 10.4 ms, avg
 * 8.9 -> 5.5 and 14.7 -> 4.7 ms, with a buffer copy of x at 10.4 ms in the same run.
 */
public final class Pool2x2 {
    /** Which kernels run. */
    public enum Variant {
        /** One work-item per element over a [W, H, C] grid: coalesced on GPUs. */
        ELEMENTS,
        /** One work-item per row, POOL_VW windows per vector step: for CPU devices. */
        ROWS;

        /** ROWS for CPU devices (that are not also GPUs), ELEMENTS for everything else. */
        public static Variant forDevice(ClDevice d) {
            return d.isCpu() ? ROWS : ELEMENTS;
        }
    }

    /** Work-items (rows) per group of the ROWS variant, unless overridden by the POOL_WG define. */
    static final int ROWS_WG = 4;

    private final ClContext ctx;
    private final ClProgram program;
    private final Map<String, Object> kernelDefines;
    private ClProgram halfProgram; // built with ACT_HALF=1 at the first call on half activations
    private final Variant variant;
    private final int rowsGroup;
    /** Per shape class instances from the device's tuning table; null for explicitly configured instances. */
    private final TunedInstances<Pool2x2> tuned;

    /** The variant for this device with the built-in defaults. */
    public Pool2x2(ClContext ctx) {
        this(ctx, OpSettings.NONE);
    }

    /**
     * The variant for this device, with {@code settings} (the device's tuning table, chosen by tune/)
     * for each call's shape class, where it has one.
     */
    public Pool2x2(ClContext ctx, OpSettings settings) {
        this(ctx, Variant.forDevice(ctx.device()), Map.of(), settings);
    }

    /**
     * With an explicit variant and {@code defines} overriding kernel defines (POOL_VW of the row
     * kernels) and POOL_WG, the row variant's work-items per group (host side).
     */
    public Pool2x2(ClContext ctx, Variant variant, Map<String, ?> defines) {
        this(ctx, variant, defines, null);
    }

    private Pool2x2(ClContext ctx, Variant variant, Map<String, ?> defines, OpSettings settings) {
        this.ctx = ctx;
        this.variant = variant;
        Map<String, Object> kernelDefines = new HashMap<>(defines);
        Object wg = kernelDefines.remove("POOL_WG");
        this.rowsGroup = wg == null ? ROWS_WG : Integer.parseInt(wg.toString());
        if (rowsGroup < 1) {
            throw new IllegalArgumentException("Pool2x2: POOL_WG must be positive but is " + rowsGroup);
        }
        this.program = ctx.program("pool", kernelDefines);
        this.kernelDefines = kernelDefines;
        this.tuned = settings != null ? new TunedInstances<>(settings, ShapeClass.POOL, this, variant.name(),
                (v, m) -> new Pool2x2(ctx, Variant.valueOf(v), m)) : null;
    }

    /** The kernel form this instance runs. */
    public Variant variant() {
        return variant;
    }

    /**
     * y = the maximum of each 2x2 window of x. x and y are both float or both half ({@link ClBuffer#isHalf}:
     * then the per-element kernels, whatever the variant; likewise maxBackward's x and avgForward's x, y).
     */
    public void maxForward(ClBuffer x /* [C, H, W] */, ClBuffer y /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.maxForward", x, "x", y, "y");
        if (ActivationStorage.half("Pool2x2.maxForward", x, "x", y, "y")) {
            launchHalf(y, x, "max_pool_forward", x, y);
            return;
        }
        Pool2x2 t = tunedFor(x);
        if (t != this) {
            t.maxForward(x, y);
            return;
        }
        launch(y, x, false, "max_pool_forward", x, y);
    }

    /** dx = dy at each window's first maximum (row-major order), 0 elsewhere; overwrites dx. */
    public void maxBackward(ClBuffer x /* [C, H, W] */, ClBuffer dy /* [C, H/2, W/2] */, ClBuffer dx /* [C, H, W] */) {
        checkShapes("Pool2x2.maxBackward", x, "x", dy, "dy");
        Reduction.checkSameShape("Pool2x2.maxBackward", x, "x", dx, "dx");
        ActivationStorage.requireFloat("Pool2x2.maxBackward", dy, "dy");
        ActivationStorage.requireFloat("Pool2x2.maxBackward", dx, "dx");
        if (x.isHalf()) {
            launchHalf(dx, x, "max_pool_backward", x, dy, dx);
            return;
        }
        Pool2x2 t = tunedFor(x);
        if (t != this) {
            t.maxBackward(x, dy, dx);
            return;
        }
        launch(dx, x, true, "max_pool_backward", x, dy, dx);
    }

    /** y = the mean of each 2x2 window of x. */
    public void avgForward(ClBuffer x /* [C, H, W] */, ClBuffer y /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.avgForward", x, "x", y, "y");
        if (ActivationStorage.half("Pool2x2.avgForward", x, "x", y, "y")) {
            launchHalf(y, x, "avg_pool_forward", x, y);
            return;
        }
        Pool2x2 t = tunedFor(x);
        if (t != this) {
            t.avgForward(x, y);
            return;
        }
        launch(y, x, false, "avg_pool_forward", x, y);
    }

    /** dx = dy / 4 spread over each window, 0 in a dropped row or column; overwrites dx. */
    public void avgBackward(ClBuffer dy /* [C, H/2, W/2] */, ClBuffer dx /* [C, H, W] */) {
        checkShapes("Pool2x2.avgBackward", dx, "dx", dy, "dy");
        ActivationStorage.requireFloat("Pool2x2.avgBackward", dy, "dy");
        ActivationStorage.requireFloat("Pool2x2.avgBackward", dx, "dx");
        Pool2x2 t = tunedFor(dx);
        if (t != this) {
            t.avgBackward(dy, dx);
            return;
        }
        launch(dx, dx, true, "avg_pool_backward", dy, dx);
    }

    /**
     * Backward through a ReLU and then max pooling, in place: {@code x} is the pool's input and a ReLU
     * output; it is overwritten by dx = dy at each window's first maximum (row-major order) where
     * x &gt; 0, 0 elsewhere (incl. a dropped row or column): the max backward followed by the ReLU's mask,
     * without a buffer for the gradient. x's values are gone afterwards.
     */
    public void maxBackwardMaskedInPlace(ClBuffer x /* [C, H, W] ReLU output, overwritten by dx */,
            ClBuffer dy /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.maxBackwardMaskedInPlace", x, "x", dy, "dy");
        ActivationStorage.requireFloat("Pool2x2.maxBackwardMaskedInPlace", x, "x (overwritten by the gradient)");
        Pool2x2 t = tunedFor(x);
        if (t != this) {
            t.maxBackwardMaskedInPlace(x, dy);
            return;
        }
        int c = x.dim(0), h = x.dim(1), w = x.dim(2);
        // One work-item per window (partial ones at an odd edge): it reads its window before writing it.
        launchMasked("max_pool_backward_masked", x, dy, new long[] {(w + 1) / 2, (h + 1) / 2, c});
    }

    /**
     * Backward through a ReLU and then average pooling, in place: {@code x} (the pool's input, a ReLU
     * output) is overwritten by dx = dy / 4 where x &gt; 0, 0 elsewhere (incl. a dropped row or column).
     */
    public void avgBackwardMaskedInPlace(ClBuffer x /* [C, H, W] ReLU output, overwritten by dx */,
            ClBuffer dy /* [C, H/2, W/2] */) {
        checkShapes("Pool2x2.avgBackwardMaskedInPlace", x, "x", dy, "dy");
        ActivationStorage.requireFloat("Pool2x2.avgBackwardMaskedInPlace", x, "x (overwritten by the gradient)");
        Pool2x2 t = tunedFor(x);
        if (t != this) {
            t.avgBackwardMaskedInPlace(x, dy);
            return;
        }
        launchMasked("avg_pool_backward_masked", x, dy, new long[] {x.dim(2), x.dim(1), x.dim(0)});
    }

    /** The masked in-place kernels: ROWS as the other backward kernels, ELEMENTS over {@code grid}. */
    private void launchMasked(String name, ClBuffer x, ClBuffer dy, long[] grid) {
        int c = x.dim(0), h = x.dim(1), w = x.dim(2);
        Object[] args = {x, dy, c, h, w, h / 2, w / 2};
        if (variant == Variant.ROWS) {
            long rows = (long) c * ((h + 1) / 2);
            Reduction.launch(program.kernel(name + "_rows"), new long[] {rows},
                    new long[] {Math.min(rowsGroup, rows)}, args);
        } else {
            Reduction.launch(program.kernel(name), grid, Reduction.local3d(ctx.device()), args);
        }
    }

    /**
     * Launches kernel {@code name} (ELEMENTS: one work-item per element of {@code grid}, the buffer
     * it writes; ROWS: {@code name + "_rows"}, one work-item per output row, or per pair of input
     * rows for a {@code backward} kernel) for input {@code full} [C, H, W]; the kernel takes
     * {@code bufs} then C, H, W, H/2, W/2.
     */
    private void launch(ClBuffer grid, ClBuffer full, boolean backward, String name, ClBuffer... bufs) {
        int c = full.dim(0), h = full.dim(1);
        Object[] args = args(full, bufs);
        if (variant == Variant.ROWS) {
            long rows = (long) c * (backward ? (h + 1) / 2 : h / 2);
            ClKernel k = program.kernel(name + "_rows");
            Reduction.launch(k, new long[] {rows}, new long[] {Math.min(rowsGroup, rows)}, args);
        } else {
            ClKernel k = program.kernel(name);
            Reduction.launch(k, new long[] {grid.dim(2), grid.dim(1), grid.dim(0)}, Reduction.local3d(ctx.device()), args);
        }
    }

    /** A pool kernel's arguments: {@code bufs}, then C, H, W, H/2, W/2 of {@code full} [C, H, W]. */
    private static Object[] args(ClBuffer full, ClBuffer... bufs) {
        int c = full.dim(0), h = full.dim(1), w = full.dim(2);
        Object[] args = new Object[bufs.length + 5];
        System.arraycopy(bufs, 0, args, 0, bufs.length);
        args[bufs.length] = c;
        args[bufs.length + 1] = h;
        args[bufs.length + 2] = w;
        args[bufs.length + 3] = h / 2;
        args[bufs.length + 4] = w / 2;
        return args;
    }

    /** The per-element kernel {@code name} built for half activations, over {@code grid} (the buffer it writes). */
    private void launchHalf(ClBuffer grid, ClBuffer full, String name, ClBuffer... bufs) {
        if (halfProgram == null) {
            halfProgram = ctx.program("pool", ActivationStorage.halfDefines(kernelDefines));
        }
        Reduction.launch(halfProgram.kernel(name), new long[] {grid.dim(2), grid.dim(1), grid.dim(0)},
                Reduction.local3d(ctx.device()), args(full, bufs));
    }

    /** The instance for calls on the full-size tensor {@code full} [C, H, W]. */
    private Pool2x2 tunedFor(ClBuffer full) {
        return tuned == null ? this : tuned.forClass(ShapeClass.pool(full.dim(0), full.dim(1), full.dim(2)));
    }

    private static void checkShapes(String what, ClBuffer full, String fullName, ClBuffer half, String halfName) {
        int[] s = full.shape();
        if (s.length != 3) {
            throw new IllegalArgumentException(what + ": " + fullName + " must be [C, H, W] but is " + full);
        }
        if (s[1] < 2 || s[2] < 2) {
            throw new IllegalArgumentException(what + ": " + fullName + " " + full
                    + " is smaller than the 2x2 window");
        }
        int[] h = half.shape();
        if (h.length != 3 || h[0] != s[0] || h[1] != s[1] / 2 || h[2] != s[2] / 2) {
            throw new IllegalArgumentException(what + ": " + halfName + " must be [" + s[0] + ", " + s[1] / 2 + ", "
                    + s[2] / 2 + "] for " + fullName + " " + full + " but is " + half);
        }
    }
}
