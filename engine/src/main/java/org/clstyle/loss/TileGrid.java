package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import org.clstyle.nn.Network;
import org.clstyle.nn.ReceptiveField;

/**
 * How a tiled evaluation cuts an H x W image: a grid of tiles whose cores partition the image, each
 * evaluated on its core plus a halo, so that every feature of every layer up to the deepest one used
 * is computed exactly inside the core.
 *
 * <p><b>The halo rule.</b> Let D be the deepest layer the loss reads, J = its stride (the product of the
 * pool sizes before it: 2^pools for VGG) and r = {@link ReceptiveField#radius()} of D (from the layer
 * table: each 3x3 conv adds the stride it runs at; VGG19 relu5_1: J = 16, r = 70; relu4_2: J = 8, r = 38).
 * Core boundaries are multiples of J (the image's own end excepted), and the halo is r rounded up to a
 * multiple of J (relu5_1: 80). Then a tile's region starts on a multiple of J, so every pool of the tile
 * pools the same 2x2 windows as the untiled run; the features of a core pixel at any layer up to D read
 * only input pixels within r of the core, all inside the region; and where the region stops at the
 * image's border the tile's zero padding is the untiled run's padding. So each core feature, and its
 * derivative with respect to every input pixel, is the untiled one. A halo of J less (or, without pools,
 * one pixel less) than the rule lets the zero padding at the region's edge reach the core; the tests
 * check both that the rule gives equality and that one step less breaks it.
 *
 * <p>Cores along an axis of length L with core size N (rounded down to a multiple of J, at least J):
 * ceil(ceil(L / J) / (N / J)) cores of whole multiples of J as even as possible, the last one ending at L.
 * At layer stride j (dividing J) a core [c0, c1) covers feature rows [c0 / j, c1 / j) (floor; for the
 * last core floor(L / j), the untiled run's size), which again partition the layer.
 */
public final class TileGrid {
    /**
     * One tile: its region [y0, y0 + h) x [x0, x0 + w) of the image and its core [coreY0, coreY1) x
     * [coreX0, coreX1), in image pixels; {@code index} is its place in the grid (row-major).
     */
    public record Tile(int index, int y0, int x0, int h, int w, int coreY0, int coreX0, int coreY1, int coreX1) {
        /** The core's rows at a layer of stride {@code j}, as [start, end) in the tile's own feature rows. */
        public int[] coreRows(int j, int imageH) {
            return span(y0, coreY0, coreY1, imageH, j);
        }

        /** The core's columns at a layer of stride {@code j}, as [start, end) in the tile's own feature columns. */
        public int[] coreCols(int j, int imageW) {
            return span(x0, coreX0, coreX1, imageW, j);
        }

        private static int[] span(int origin, int c0, int c1, int length, int j) {
            int end = c1 == length ? length / j : c1 / j;
            return new int[] {c0 / j - origin / j, end - origin / j};
        }
    }

    private final int height, width, core, halo, alignment;
    private final List<Tile> tiles;
    private final int rows, cols;

    /**
     * The grid for an h x w image with cores of about {@code core} pixels, the given halo and
     * alignment (core boundaries and halo multiples of it). Use {@link #forLayers} for the halo rule;
     * this constructor takes any halo so that tests can try a smaller one.
     */
    public TileGrid(int h, int w, int core, int halo, int alignment) {
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + h + "x" + w);
        }
        if (alignment < 1 || core < 1 || halo < 0) {
            throw new IllegalArgumentException("tile core " + core + ", halo " + halo + ", alignment " + alignment);
        }
        if (halo % alignment != 0) {
            throw new IllegalArgumentException("halo " + halo + " is not a multiple of the alignment " + alignment);
        }
        this.height = h;
        this.width = w;
        this.alignment = alignment;
        this.core = Math.max(alignment, core / alignment * alignment);
        this.halo = halo;
        int[] ys = bounds(h, this.core, alignment), xs = bounds(w, this.core, alignment);
        rows = ys.length - 1;
        cols = xs.length - 1;
        List<Tile> t = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int y0 = Math.max(0, ys[r] - halo), y1 = Math.min(h, ys[r + 1] + halo);
                int x0 = Math.max(0, xs[c] - halo), x1 = Math.min(w, xs[c + 1] + halo);
                t.add(new Tile(t.size(), y0, x0, y1 - y0, x1 - x0, ys[r], xs[c], ys[r + 1], xs[c + 1]));
            }
        }
        this.tiles = List.copyOf(t);
    }

    /** The grid the halo rule gives for the deepest of {@code layers} in {@code network}. */
    public static TileGrid forLayers(Network network, Collection<String> layers, int h, int w, int core) {
        ReceptiveField rf = ReceptiveField.of(network, network.deepest(layers));
        return new TileGrid(h, w, core, halo(rf), rf.stride());
    }

    /** The halo rule: the receptive-field radius rounded up to a multiple of the stride. */
    public static int halo(ReceptiveField rf) {
        int j = rf.stride();
        return (rf.radius() + j - 1) / j * j;
    }

    /** Core boundaries along one axis: 0 = b_0 < b_1 < ... < b_n = length, inner ones multiples of {@code align}. */
    static int[] bounds(int length, int core, int align) {
        int units = (length + align - 1) / align;
        int perCore = core / align;
        int n = (units + perCore - 1) / perCore;
        int[] b = new int[n + 1];
        int base = units / n, extra = units % n;
        for (int i = 0; i < n; i++) {
            b[i + 1] = Math.min(length, b[i] + (base + (i < extra ? 1 : 0)) * align);
        }
        b[n] = length;
        return b;
    }

    public List<Tile> tiles() { return tiles; }

    public int rows() { return rows; }

    public int cols() { return cols; }

    public int height() { return height; }

    public int width() { return width; }

    /** The core size asked for, rounded down to the alignment (at least one alignment step). */
    public int core() { return core; }

    public int halo() { return halo; }

    public int alignment() { return alignment; }

    /** The largest tile region, h x w: what the network's buffers are sized for. */
    public int[] largestRegion() {
        int mh = 0, mw = 0;
        for (Tile t : tiles) {
            mh = Math.max(mh, t.h());
            mw = Math.max(mw, t.w());
        }
        return new int[] {mh, mw};
    }

    /** The largest core, h x w (cores are split evenly, so most are close to it). */
    public int[] largestCore() {
        int mh = 0, mw = 0;
        for (Tile t : tiles) {
            mh = Math.max(mh, t.coreY1() - t.coreY0());
            mw = Math.max(mw, t.coreX1() - t.coreX0());
        }
        return new int[] {mh, mw};
    }

    /** "2x2 tiles, cores up to 1920x1088 px, halo 80 px (largest region 2000x1168)", sizes as width x height. */
    @Override
    public String toString() {
        int[] m = largestRegion(), c = largestCore();
        return rows + "x" + cols + " tiles, cores up to " + c[1] + "x" + c[0] + " px, halo " + halo + " px (largest region "
                + m[1] + "x" + m[0] + ")";
    }
}
