package org.clstyle.ops;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClKernel;

/**
 * 3x3 convolution, stride 1, zero padding 1, bias, optional fused ReLU, as implicit GEMM on the
 * tiled core in gemm.cl (kernels/conv3x3.cl). Tensors are single images: x [Cin, H, W],
 * weight [Cout, Cin, 3, 3], bias [Cout], y [Cout, H, W]. Every method only enqueues work.
 */
public final class Conv3x3 {
    private static final String FAMILY = "conv3x3";

    private final GemmTiles tiles;
    private final int biasGroup;

    public Conv3x3(ClContext ctx) {
        this(ctx, Map.of());
    }

    /**
     * With {@code defines} overriding kernel defines (tile sizes TS_M, TS_N, TS_K, WPT_M, WPT_N of
     * gemm.cl, BIAS_WG), e.g. from an autotuner.
     */
    public Conv3x3(ClContext ctx, Map<String, ?> defines) {
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
        this.tiles = new GemmTiles(ctx, FAMILY, rest, own);
    }

    /** Floating-point operations of one forward pass (multiply and add counted separately). */
    public static double flops(int cin, int cout, int h, int w) {
        return 2.0 * cout * cin * 9 * h * w;
    }

    /** y = conv(x, weight) + bias, then ReLU when {@code relu}. */
    public void forward(ClBuffer x, ClBuffer weight, ClBuffer bias, ClBuffer y, boolean relu) {
        Shape s = shapes("forward", x, "x", weight, bias);
        expect("forward", "y", y, s.cout, s.h, s.w);
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
        ClBuffer mask = reluOutput != null ? reluOutput : dy;
        int masked = reluOutput != null ? 1 : 0;
        tiles.launch("conv3x3_backward_weight", s.cout, s.cin * 9,
                x, dy, mask, masked, dWeight, s.cin, s.cout, s.h, s.w);
        ClKernel bias = tiles.program().kernel("conv3x3_backward_bias");
        bias.launch(new long[] {(long) s.cout * biasGroup}, new long[] {biasGroup},
                dy, mask, masked, dBias, s.h * s.w);
    }

    /** The tile sizes in use (for logs and benchmarks). */
    public String tileConfig() {
        return tiles.config().toString();
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
