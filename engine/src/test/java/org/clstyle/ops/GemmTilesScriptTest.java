package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** .ci/compile-kernels.sh compiles every GEMM tile configuration the host can pick, no more, no fewer. */
class GemmTilesScriptTest {
    @Test
    void offlineCompileScriptListsEveryCandidate() throws IOException {
        Path script = Path.of("..", ".ci", "compile-kernels.sh");
        String text = Files.readString(script);
        int listed = text.split("\"-DTS_M=", -1).length - 1;
        for (GemmTiles.Config c : GemmTiles.CANDIDATES) {
            String defines = String.format("\"-DTS_M=%d -DTS_N=%d -DTS_K=%d -DWPT_M=%d -DWPT_N=%d -DVW=%d\"",
                    c.tsM(), c.tsN(), c.tsK(), c.wptM(), c.wptN(), c.vw());
            assertTrue(text.contains(defines), script + " lacks " + defines);
        }
        assertTrue(listed == GemmTiles.CANDIDATES.size(), script + " lists " + listed + " tile sets, GemmTiles has "
                + GemmTiles.CANDIDATES.size());
    }
}
