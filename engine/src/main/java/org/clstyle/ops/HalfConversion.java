package org.clstyle.ops;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Conversions between float tensors and tensors stored as IEEE half (kernels/storage.cl): into half
 * rounds to nearest even, as {@link org.clstyle.cl.Half#fromFloat} (the reference), out of half is exact.
 */
public final class HalfConversion {
    private final ClContext ctx;
    private final ClProgram program;

    public HalfConversion(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("storage");
    }

    /** y (half) = x (float) rounded to the nearest half; same shape. */
    public void toHalf(ClBuffer x, ClBuffer y) {
        check("HalfConversion.toHalf", x, false, y, true);
        launch("float_to_half", x, y);
    }

    /** y (float) = x (half); same shape. */
    public void toFloat(ClBuffer x, ClBuffer y) {
        check("HalfConversion.toFloat", x, true, y, false);
        launch("half_to_float", x, y);
    }

    private void launch(String kernel, ClBuffer x, ClBuffer y) {
        int n = x.size();
        Reduction.launch(program.kernel(kernel), new long[] {n}, Reduction.local1d(ctx.device(), n), x, y, n);
    }

    private static void check(String what, ClBuffer x, boolean xHalf, ClBuffer y, boolean yHalf) {
        Reduction.checkSameShape(what, x, "x", y, "y");
        if (x.isHalf() != xHalf || y.isHalf() != yHalf) {
            throw new IllegalArgumentException(what + ": x must be " + (xHalf ? "half" : "float") + " and y "
                    + (yHalf ? "half" : "float") + ", got " + x + " and " + y);
        }
    }
}
