package org.clstyle.ops;

import java.util.Arrays;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;

/**
 * Gram matrix of a feature map, G = F F^T / n with F viewed as [C, N] (N = all elements after the
 * first dimension), and its gradient; on the tiled core in gemm.cl (kernels/gram.cl).
 */
public final class GramMatrix {
    private final GemmTiles tiles;

    public GramMatrix(ClContext ctx) {
        this(ctx, Map.of());
    }

    /** With {@code defines} overriding gemm.cl's tile sizes (TS_M, TS_N, TS_K, WPT_M, WPT_N). */
    public GramMatrix(ClContext ctx, Map<String, ?> defines) {
        this.tiles = new GemmTiles(ctx, "gram", defines, Map.of());
    }

    /** g [C, C] = f f^T / n, for f of any shape [C, ...]. */
    public void forward(ClBuffer f, ClBuffer g, double n) {
        int c = f.dim(0);
        int cols = columns(f);
        expect("forward", "g", g, c, c);
        checkN("forward", n);
        tiles.launch("gram_forward", c, c, f, g, c, cols, (float) (1.0 / n));
    }

    /** df (+)= (dg + dg^T) f / n; df has f's shape; adds into df when {@code accumulate}, else overwrites. */
    public void backward(ClBuffer dg, ClBuffer f, ClBuffer df, double n, boolean accumulate) {
        int c = f.dim(0);
        int cols = columns(f);
        expect("backward", "dg", dg, c, c);
        if (!Arrays.equals(df.shape(), f.shape())) {
            throw new IllegalArgumentException("GramMatrix.backward: df has shape " + Arrays.toString(df.shape())
                    + ", expected f's shape " + Arrays.toString(f.shape()));
        }
        checkN("backward", n);
        tiles.launch("gram_backward", c, cols, dg, f, df, c, cols, (float) (1.0 / n), accumulate ? 1 : 0);
    }

    /** The tile sizes in use (for logs and benchmarks). */
    public String tileConfig() {
        return tiles.config().toString();
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
