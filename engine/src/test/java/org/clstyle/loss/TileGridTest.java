package org.clstyle.loss;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.clstyle.nn.Network;
import org.clstyle.nn.ReceptiveField;
import org.clstyle.vgg.Pooling;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.VggArchitecture;
import org.junit.jupiter.api.Test;

/** {@link TileGrid}: cores partition the image at every layer stride, alignment, halos, core sizes, the rule. */
class TileGridTest {
    @Test
    void coresPartitionTheImageAtEveryStride() {
        int[][] cases = { // h, w, core, halo, alignment
                {197, 230, 48, 80, 16}, {2160, 3840, 1024, 80, 16}, {53, 67, 20, 12, 4}, {5, 7, 100, 0, 1}, {17, 16, 16, 16, 16},
                {33, 100, 1, 4, 2}, {1, 1, 1, 0, 1}};
        for (int[] c : cases) {
            TileGrid g = new TileGrid(c[0], c[1], c[2], c[3], c[4]);
            String what = java.util.Arrays.toString(c) + " " + g;
            assertEquals(g.rows() * g.cols(), g.tiles().size(), what);
            int core = Math.max(c[4], c[2] / c[4] * c[4]);
            assertEquals(core, g.core(), what);
            for (int j = 1; j <= c[4]; j *= 2) {
                if (c[4] % j != 0) continue;
                int lh = c[0] / j, lw = c[1] / j;
                int[] covered = new int[lh * lw];
                for (TileGrid.Tile t : g.tiles()) {
                    int[] r = t.coreRows(j, c[0]), cc = t.coreCols(j, c[1]);
                    assertTrue(r[0] >= 0 && cc[0] >= 0 && r[1] <= t.h() / j && cc[1] <= t.w() / j, what + " core inside the tile at stride " + j);
                    for (int y = r[0]; y < r[1]; y++) {
                        for (int x = cc[0]; x < cc[1]; x++) {
                            covered[(y + t.y0() / j) * lw + x + t.x0() / j]++;
                        }
                    }
                }
                for (int k = 0; k < covered.length; k++) {
                    assertEquals(1, covered[k], what + ": stride " + j + " feature " + k + " covered once");
                }
            }
            for (TileGrid.Tile t : g.tiles()) {
                assertEquals(0, t.y0() % c[4], what + " region starts aligned");
                assertEquals(0, t.x0() % c[4], what);
                assertTrue(t.coreY0() % c[4] == 0 && t.coreX0() % c[4] == 0, what + " core starts aligned");
                assertTrue(t.coreY1() - t.coreY0() <= core && t.coreX1() - t.coreX0() <= core, what + " core at most the core size");
                assertEquals(Math.max(0, t.coreY0() - c[3]), t.y0(), what + " halo above");
                assertEquals(Math.max(0, t.coreX0() - c[3]), t.x0(), what + " halo left");
                assertEquals(Math.min(c[0], t.coreY1() + c[3]), t.y0() + t.h(), what + " halo below");
                assertEquals(Math.min(c[1], t.coreX1() + c[3]), t.x0() + t.w(), what + " halo right");
            }
        }
    }

    @Test
    void evenCoresAndCounts() {
        assertEquals(List.of(0, 960, 1920, 2880, 3840), boxed(TileGrid.bounds(3840, 1024, 16))); // 4 even cores, not 3 x 1024 + 768
        assertEquals(List.of(0, 720, 1440, 2160), boxed(TileGrid.bounds(2160, 1024, 16)));
        assertEquals(List.of(0, 16, 32, 33), boxed(TileGrid.bounds(33, 16, 16))); // the last core is the image's last pixel
        assertEquals(List.of(0, 1088, 2160), boxed(TileGrid.bounds(2160, 1200, 16)));
        assertEquals(List.of(0, 100), boxed(TileGrid.bounds(100, 1000, 16)));
    }

    @Test
    void theRuleFromTheTable() {
        Network n = Vgg.network(TiledLossTest.randomWeights(VggArchitecture.VGG19, 1), Pooling.MAX);
        assertEquals(80, TileGrid.halo(ReceptiveField.of(n, "relu5_1")));
        assertEquals(40, TileGrid.halo(ReceptiveField.of(n, "relu4_2")));
        assertEquals(2, TileGrid.halo(ReceptiveField.of(n, "relu1_2")));
        TileGrid g = TileGrid.forLayers(n, List.of("relu1_1", "relu4_2", "relu5_1"), 2160, 3840, 1000);
        assertEquals(80, g.halo());
        assertEquals(16, g.alignment());
        assertEquals(992, g.core());
        assertThrows(IllegalArgumentException.class, () -> new TileGrid(10, 10, 4, 3, 2));
        assertThrows(IllegalArgumentException.class, () -> new TileGrid(0, 10, 4, 2, 2));
    }

    private static List<Integer> boxed(int[] a) {
        return java.util.Arrays.stream(a).boxed().toList();
    }
}
