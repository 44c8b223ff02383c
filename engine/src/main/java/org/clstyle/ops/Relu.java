package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/** Rectified linear unit, elementwise over buffers of any (equal) shape (kernels/relu.cl). */
public final class Relu {
    private final ClContext ctx;
    private final ClProgram program;

    public Relu(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("relu");
    }

    /** y = max(x, 0); y may be x (in place). */
    public void forward(ClBuffer x, ClBuffer y) {
        Reduction.checkSameShape("Relu.forward", x, "x", y, "y");
        int n = x.size();
        Reduction.launch(program.kernel("relu_forward"), new long[] {n}, Reduction.local1d(ctx.device(), n), x, y, n);
    }

    /** dx = dy * (y > 0) with y the forward output; dx may be dy. */
    public void backward(ClBuffer y, ClBuffer dy, ClBuffer dx) {
        Reduction.checkSameShape("Relu.backward", y, "y", dy, "dy");
        Reduction.checkSameShape("Relu.backward", dy, "dy", dx, "dx");
        int n = y.size();
        Reduction.launch(program.kernel("relu_backward"), new long[] {n}, Reduction.local1d(ctx.device(), n),
                y, dy, dx, n);
    }
}
