package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * The elementwise ops of the generator networks (kernels/pointwise.cl), over buffers of any equal
 * shape (typically [N, C, H, W]): LeakyReLU (PyTorch's, default slope 0.01), tanh with an output
 * scale (Johnson's network ends in 150 * tanh), scaling by a constant, and sums (residual adds and
 * gradient accumulation). Outputs may be inputs (in place). ReLU is ops.Relu.
 */
public final class Pointwise {
    /** nn.LeakyReLU's default negative slope. */
    public static final float LEAKY_SLOPE = 0.01f;

    private final ClContext ctx;
    private final ClProgram program;

    public Pointwise(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("pointwise");
    }

    /** y = x > 0 ? x : slope x */
    public void leakyReluForward(ClBuffer x, ClBuffer y, float slope) {
        same("leakyReluForward", x, y);
        launch("leaky_relu_forward", x.size(), x, y, slope, x.size());
    }

    /**
     * dx = dy where the forward's input is positive, else slope dy. {@code y} is the forward's input,
     * or its output when slope > 0 (the same sign), so the forward may run in place.
     */
    public void leakyReluBackward(ClBuffer y, ClBuffer dy, ClBuffer dx, float slope) {
        same("leakyReluBackward", y, dy);
        same("leakyReluBackward", dy, dx);
        launch("leaky_relu_backward", y.size(), y, dy, dx, slope, y.size());
    }

    /** y = scale * tanh(x) */
    public void tanhForward(ClBuffer x, ClBuffer y, float scale) {
        same("tanhForward", x, y);
        if (scale == 0) {
            throw new IllegalArgumentException("Pointwise.tanhForward: scale must not be 0");
        }
        launch("tanh_forward", x.size(), x, y, scale, x.size());
    }

    /** dx = dy * scale * (1 - (y / scale)^2), y the forward output. */
    public void tanhBackward(ClBuffer y, ClBuffer dy, ClBuffer dx, float scale) {
        same("tanhBackward", y, dy);
        same("tanhBackward", dy, dx);
        launch("tanh_backward", y.size(), y, dy, dx, scale, y.size());
    }

    /** y = a x (its own backward: dx = a dy). */
    public void scale(ClBuffer x, ClBuffer y, float a) {
        same("scale", x, y);
        launch("scale", x.size(), x, y, a, x.size());
    }

    /** y = a + b (a residual add; the backward passes dy to both). */
    public void add(ClBuffer a, ClBuffer b, ClBuffer y) {
        same("add", a, b);
        same("add", a, y);
        launch("add", a.size(), a, b, y, a.size());
    }

    /** acc += x (gradient accumulation). */
    public void accumulate(ClBuffer x, ClBuffer acc) {
        add(acc, x, acc);
    }

    private void launch(String name, int n, Object... args) {
        Reduction.launch(program.kernel(name), new long[] {n}, Reduction.local1d(ctx.device(), n), args);
    }

    private static void same(String method, ClBuffer a, ClBuffer b) {
        Reduction.checkSameShape("Pointwise." + method, a, "first", b, "second");
    }
}
