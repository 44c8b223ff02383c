package org.clstyle.ops;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClProgram;

/**
 * Rectified linear unit, elementwise over buffers of any (equal) shape (kernels/relu.cl). Two kernel
 * forms with identical results, picked per device ({@link Variant#forDevice}): one work-item per
 * element (GPUs), or one per RELU_CHUNK elements walked with vector loads (CPU devices; on PoCL, 2
 * EPYC cores, the per-element form ran at 3-9 GB/s against 11-18 GB/s for a buffer copy).
 */
public final class Relu {
    /** Which kernels run. */
    public enum Variant {
        /** One work-item per element: coalesced on GPUs. */
        ELEMENTS,
        /** One work-item per RELU_CHUNK contiguous elements, float8 steps: for CPU devices. */
        CHUNKS;

        /** CHUNKS for CPU devices (that are not also GPUs), ELEMENTS for everything else. */
        public static Variant forDevice(ClDevice d) {
            return d.isCpu() ? CHUNKS : ELEMENTS;
        }
    }

    /** Work-items per group of the CHUNKS variant. */
    private static final int CHUNKS_WG = 4;
    static final int DEFAULT_CHUNK = 2048;

    private final ClContext ctx;
    private final ClProgram program;
    private final Map<String, Object> defines;
    private ClProgram halfProgram; // built with ACT_HALF=1 at the first call on half activations
    private final Variant variant;
    private final int chunk;
    /** Per shape class instances from the device's tuning table; null for explicitly configured instances. */
    private final TunedInstances<Relu> tuned;

    /** The variant for this device with the built-in defaults. */
    public Relu(ClContext ctx) {
        this(ctx, OpSettings.NONE);
    }

    /**
     * The variant for this device, with {@code settings} (the device's tuning table, chosen by tune/)
     * for each call's shape class, where it has one.
     */
    public Relu(ClContext ctx, OpSettings settings) {
        this(ctx, Variant.forDevice(ctx.device()), Map.of(), settings);
    }

    /** With an explicit variant and kernel defines (RELU_CHUNK, a positive multiple of 8). */
    public Relu(ClContext ctx, Variant variant, Map<String, ?> defines) {
        this(ctx, variant, defines, null);
    }

    private Relu(ClContext ctx, Variant variant, Map<String, ?> defines, OpSettings settings) {
        this.ctx = ctx;
        this.variant = variant;
        Map<String, Object> d = new HashMap<>(defines);
        Object c = d.get("RELU_CHUNK");
        this.chunk = c == null ? DEFAULT_CHUNK : Integer.parseInt(c.toString());
        if (chunk < 8 || chunk % 8 != 0) {
            throw new IllegalArgumentException("Relu: RELU_CHUNK must be a positive multiple of 8 but is " + chunk);
        }
        this.program = ctx.program("relu", d);
        this.defines = d;
        this.tuned = settings != null ? new TunedInstances<>(settings, ShapeClass.RELU, this, variant.name(),
                (v, m) -> new Relu(ctx, Variant.valueOf(v), m)) : null;
    }

    /** The per-class instances made from the tuning table so far (empty when untuned or explicitly configured). */
    java.util.Collection<Relu> tunedInstances() {
        return tuned == null ? java.util.List.of() : tuned.made();
    }

    /** RELU_CHUNK of this instance. */
    int chunk() {
        return chunk;
    }

    /** The kernel form this instance runs. */
    public Variant variant() {
        return variant;
    }

    /**
     * y = max(x, 0); y may be x (in place). x and y are both float or both half ({@link ClBuffer#isHalf}:
     * then the per-element kernel, whatever the variant).
     */
    public void forward(ClBuffer x, ClBuffer y) {
        Reduction.checkSameShape("Relu.forward", x, "x", y, "y");
        if (ActivationStorage.half("Relu.forward", x, "x", y, "y")) {
            launchHalf("relu_forward", x.size(), x, y, x.size());
            return;
        }
        Relu t = tuned == null ? this : tuned.forClass(ShapeClass.relu(x.elements()));
        if (t != this) {
            t.forward(x, y);
            return;
        }
        launch("relu_forward", x.size(), x, y, x.size());
    }

    /** dx = dy * (y > 0) with y the forward output (float or half); dx may be dy (both float). */
    public void backward(ClBuffer y, ClBuffer dy, ClBuffer dx) {
        Reduction.checkSameShape("Relu.backward", y, "y", dy, "dy");
        Reduction.checkSameShape("Relu.backward", dy, "dy", dx, "dx");
        ActivationStorage.requireFloat("Relu.backward", dy, "dy");
        ActivationStorage.requireFloat("Relu.backward", dx, "dx");
        if (y.isHalf()) {
            launchHalf("relu_backward", y.size(), y, dy, dx, y.size());
            return;
        }
        Relu t = tuned == null ? this : tuned.forClass(ShapeClass.relu(y.elements()));
        if (t != this) {
            t.backward(y, dy, dx);
            return;
        }
        launch("relu_backward", y.size(), y, dy, dx, y.size());
    }

    /** The per-element kernel {@code name} built for half activations. */
    private void launchHalf(String name, int n, Object... args) {
        if (halfProgram == null) {
            halfProgram = ctx.program("relu", ActivationStorage.halfDefines(defines));
        }
        Reduction.launch(halfProgram.kernel(name), new long[] {n}, Reduction.local1d(ctx.device(), n), args);
    }

    private void launch(String name, int n, Object... args) {
        if (variant == Variant.CHUNKS) {
            long items = Math.max(1, ((long) n + chunk - 1) / chunk);
            Reduction.launch(program.kernel(name + "_chunks"), new long[] {items},
                    new long[] {Math.min(CHUNKS_WG, items)}, args);
        } else {
            Reduction.launch(program.kernel(name), new long[] {n}, Reduction.local1d(ctx.device(), n), args);
        }
    }
}
