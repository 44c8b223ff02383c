package org.clstyle.nn;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The generators as data: parameter counts worked out by hand (below), output shapes, and the layer
 * kinds each option selects.
 */
class GeneratorsTest {
    /**
     * Pyramid, RGB or noise in: each of 6 branches 3x3 3->8 (216 + 8), 3x3 8->8 (576 + 8), 1x1 8->8
     * (64 + 8), three norms of 8 (48): 928, so 5568. Join i = 2..6 at width w = 8i: a norm of 8(i-1)
     * after the upsample (16(i-1)), two 3x3 w->w (2 (9w^2 + w)), a 1x1 (w^2 + w), three norms (6w):
     * 5024 + 11192 + 19792 + 30824 + 44288 = 111120. Output 1x1 48->3: 147. Total 116835.
     */
    static final long PYRAMID = 116_835;
    /** With 3 noise planes beside the image, each branch's first conv has 3 more input channels: 6 * 216 more. */
    static final long PYRAMID_NOISE = PYRAMID + 6 * 216;
    /**
     * Johnson: c9s1-32 3*32*81 + 32 = 7808, d64 18496, d128 73856, five residual blocks of two 3x3
     * 128->128 (2 * 147584), upsampling convs 128->64 73792 and 64->32 18464, c9s1-3 7779, and instance
     * norms 2C each (64 + 128 + 256 + 5 * 512 + 128 + 64): 1679235.
     */
    static final long JOHNSON = 1_679_235;

    @Test
    void pyramidHasTheAuthorsParameterCount() {
        Network n = Generators.pyramid(Generators.PyramidOptions.current(true));
        assertEquals(PYRAMID, n.parameterCount());
        assertEquals(PYRAMID, Generators.pyramid(Generators.PyramidOptions.current(false)).parameterCount());
        // The paper's version (batch norm, LeakyReLU, circular padding) has the same parameters; with noise
        // beside the image, the first convs are wider.
        assertEquals(PYRAMID, Generators.pyramid(Generators.PyramidOptions.paper(false)).parameterCount());
        assertEquals(PYRAMID_NOISE, Generators.pyramid(Generators.PyramidOptions.paper(true)).parameterCount());
        assertArrayEquals(new int[] {8, 3, 3, 3}, n.parameterShapes().get("s1.b1.conv.weight"));
        assertArrayEquals(new int[] {48}, n.parameterShapes().get("j6.b3.norm.weight"));
        assertArrayEquals(new int[] {3, 48, 1, 1}, n.parameterShapes().get("out.weight"));
    }

    @Test
    void johnsonHasItsParameterCount() {
        Network n = Generators.johnson();
        assertEquals(JOHNSON, n.parameterCount());
        assertArrayEquals(new int[] {32, 3, 9, 9}, n.parameterShapes().get("c1.conv.weight"));
        assertArrayEquals(new int[] {128, 128, 3, 3}, n.parameterShapes().get("r5.b.conv.weight"));
        assertArrayEquals(new int[] {3}, n.parameterShapes().get("c2.conv.bias"));
    }

    @Test
    void outputsHaveTheInputsSize() {
        for (Network n : List.of(Generators.pyramid(Generators.PyramidOptions.current(true)),
                Generators.pyramid(Generators.PyramidOptions.paper(true)), Generators.johnson())) {
            for (int[] hw : new int[][] {{256, 256}, {64, 96}, {32, 32}}) {
                Map<String, int[]> s = n.shapes(hw[0], hw[1], null);
                assertArrayEquals(new int[] {3, hw[0], hw[1]}, s.get("out"), n.name() + " at " + hw[0] + "x" + hw[1]);
            }
        }
        Map<String, int[]> s = Generators.pyramid(Generators.PyramidOptions.paper(true)).shapes(64, 96, null);
        assertArrayEquals(new int[] {6, 2, 3}, s.get("s1.input"));
        assertArrayEquals(new int[] {48, 64, 96}, s.get("j6.cat"));
        assertArrayEquals(new int[] {128, 16, 24}, Generators.johnson().shapes(64, 96, null).get("r3.add"));
    }

    @Test
    void pyramidRejectsSizesThatDoNotJoin() {
        Network n = Generators.pyramid(Generators.PyramidOptions.current(true));
        assertThrows(IllegalArgumentException.class, () -> n.shapes(100, 100, null));
        assertThrows(IllegalArgumentException.class, () -> n.shapes(16, 64, null));
    }

    @Test
    void optionsSelectTheirLayerKinds() {
        Network current = Generators.pyramid(Generators.PyramidOptions.current(true));
        assertTrue(current.node("s1.b1.norm").layer() instanceof Layer.InstanceNorm);
        assertTrue(current.node("s1.b1.act").layer() instanceof Layer.Relu);
        assertEquals(new Layer.Pad(Layer.PadMode.REPLICATE, 1), current.node("s1.b1.pad").layer());
        assertEquals(-1, current.indexOf("s1.noise"));
        Network paper = Generators.pyramid(Generators.PyramidOptions.paper(false));
        assertTrue(paper.node("j3.up_norm").layer() instanceof Layer.BatchNorm);
        assertEquals(new Layer.LeakyRelu(0.01f), paper.node("j3.b2.act").layer());
        assertEquals(new Layer.Pad(Layer.PadMode.CIRCULAR, 1), paper.node("j3.b2.pad").layer());
        assertEquals(List.of("s4.pool"), paper.node("s4.noise").inputs());
        Network j = Generators.johnson();
        assertEquals(List.of("r1.add", "r2.b.norm"), j.node("r2.add").inputs());
        assertEquals(new Layer.Tanh(150f), j.node("out").layer());
        assertEquals(new Layer.Pad(Layer.PadMode.REFLECT, 4), j.node("c1.pad").layer());
    }

    @Test
    void nodesCheckTheirInputCount() {
        assertThrows(IllegalArgumentException.class, () -> new Node("a", new Layer.Add(), List.of("input")));
        assertThrows(IllegalArgumentException.class, () -> new Node("c", new Layer.Concat(), List.of("input")));
        assertThrows(IllegalArgumentException.class, () -> new Node("r", new Layer.Relu(), List.of("input", "input")));
    }
}
