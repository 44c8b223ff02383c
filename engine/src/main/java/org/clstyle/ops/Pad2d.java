package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Spatial padding of x [N, C, H, W] to y [N, C, top + H + bottom, left + W + right] (kernels/pad.cl),
 * as PyTorch's F.pad with mode "constant" (zero), "replicate", "circular" or "reflect"; a negative
 * amount crops. The backward pass gathers, for each input element, the output positions that read
 * it, in a fixed order (no atomics), so it is deterministic. GPUs run one work-item per element; CPU
 * devices one per row (the {@code _rows} kernels), whose interior is a plain copy loop.
 */
public final class Pad2d {
    /** The padding modes (F.pad's names: constant 0, replicate, circular, reflect). */
    public enum Mode {
        ZERO, REPLICATE, CIRCULAR, REFLECT;

        /** The mode named as in PyTorch's F.pad ("constant" or "zero", "replicate", "circular", "reflect"). */
        public static Mode parse(String name) {
            return switch (name) {
                case "constant", "zero", "zeros" -> ZERO;
                case "replicate" -> REPLICATE;
                case "circular" -> CIRCULAR;
                case "reflect", "reflection" -> REFLECT;
                default -> throw new IllegalArgumentException("padding mode must be zero, replicate, circular or reflect"
                        + " but is \"" + name + "\"");
            };
        }
    }

    /** Amounts per side; negative crops. */
    public record Amounts(int top, int bottom, int left, int right) {
        /** The same amount on every side. */
        public static Amounts of(int p) {
            return new Amounts(p, p, p, p);
        }
    }

    private final ClContext ctx;
    private final ClProgram program;
    private final boolean rows;

    /** One work-item per row on CPU devices, per element elsewhere. */
    public Pad2d(ClContext ctx) {
        this(ctx, ctx.device().isCpu());
    }

    /** With {@code rows}: the per-row kernels (CPU devices); else the per-element ones. */
    public Pad2d(ClContext ctx, boolean rows) {
        this.ctx = ctx;
        this.program = ctx.program("pad");
        this.rows = rows;
    }

    /** The output shape of padding x [N, C, H, W] by {@code a}; checks what {@code mode} allows. */
    public static int[] outputShape(int[] x, Mode mode, Amounts a) {
        if (x.length != 4) {
            throw new IllegalArgumentException("Pad2d: x must be [N, C, H, W] but has shape " + java.util.Arrays.toString(x));
        }
        int h = x[2], w = x[3];
        int ho = h + a.top() + a.bottom(), wo = w + a.left() + a.right();
        if (ho < 1 || wo < 1 || a.top() <= -h || a.left() <= -w) {
            throw new IllegalArgumentException("Pad2d: padding " + a + " leaves nothing of " + h + "x" + w);
        }
        int most = Math.max(Math.max(a.top(), a.bottom()), Math.max(a.left(), a.right()));
        int mostH = Math.max(a.top(), a.bottom()), mostW = Math.max(a.left(), a.right());
        if (mode == Mode.REFLECT && (mostH >= h || mostW >= w)) {
            throw new IllegalArgumentException("Pad2d: reflect padding " + a + " must be smaller than the input "
                    + h + "x" + w);
        }
        if (mode == Mode.CIRCULAR && (mostH > h || mostW > w)) {
            throw new IllegalArgumentException("Pad2d: circular padding " + a + " must be at most the input " + h + "x" + w);
        }
        if (mode != Mode.ZERO && most > 0 && Math.min(Math.min(a.top(), a.bottom()), Math.min(a.left(), a.right())) < 0) {
            throw new IllegalArgumentException("Pad2d: only zero padding may mix cropping and padding, got " + a);
        }
        return new int[] {x[0], x[1], ho, wo};
    }

    /** y = pad(x). */
    public void forward(ClBuffer x, ClBuffer y, Mode mode, Amounts a) {
        int[] out = check("forward", x, y, mode, a);
        if (rows) {
            program.kernel("pad_forward_rows").launch(new long[] {out[2], (long) out[0] * out[1]}, null, x, y,
                    out[0] * out[1], x.dim(2), x.dim(3), out[2], out[3], a.top(), a.left(), mode.ordinal());
            return;
        }
        Reduction.launch(program.kernel("pad_forward"), new long[] {out[3], out[2], (long) out[0] * out[1]},
                Reduction.local3d(ctx.device()), x, y, out[0] * out[1], x.dim(2), x.dim(3), out[2], out[3], a.top(),
                a.left(), mode.ordinal());
    }

    /** dx = the gradient of the forward w.r.t. x given dy; overwrites dx. */
    public void backward(ClBuffer dy, ClBuffer dx, Mode mode, Amounts a) {
        int[] out = check("backward", dx, dy, mode, a);
        if (rows) {
            program.kernel("pad_backward_rows").launch(new long[] {dx.dim(2), (long) out[0] * out[1]}, null, dy, dx,
                    out[0] * out[1], dx.dim(2), dx.dim(3), out[2], out[3], a.top(), a.left(), mode.ordinal());
            return;
        }
        Reduction.launch(program.kernel("pad_backward"), new long[] {dx.dim(3), dx.dim(2), (long) out[0] * out[1]},
                Reduction.local3d(ctx.device()), dy, dx, out[0] * out[1], dx.dim(2), dx.dim(3), out[2], out[3],
                a.top(), a.left(), mode.ordinal());
    }

    private static int[] check(String method, ClBuffer x, ClBuffer y, Mode mode, Amounts a) {
        int[] out = outputShape(x.shape(), mode, a);
        if (!java.util.Arrays.equals(out, y.shape())) {
            throw new IllegalArgumentException("Pad2d." + method + ": padded shape must be " + java.util.Arrays.toString(out)
                    + " but is " + y);
        }
        return out;
    }
}
