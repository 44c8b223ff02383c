package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.Conv3x3Reference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Conv3x3 kernels, every variant (GEMM, DIRECT, WINOGRAD, WINOGRAD4) forced on whatever device runs the tests, against
 * the double-precision reference on random inputs in [-1, 1]. Tolerance:
 * float sums of K products of magnitude <= 1 (K = Cin*9, Cout*9 or H*W) round with an error that
 * grows with K, so atol = 1e-5 + 1e-6 * K, rtol = 1e-4. A wrong index or tap gives errors of order 0.1.
 */
class Conv3x3Test {
    private static ClContext ctx;
    private static Conv3x3 conv;
    private static Conv3x3 gemm;
    private static Conv3x3 direct;
    private static Conv3x3 winograd;
    private static Conv3x3 winograd4;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        conv = new Conv3x3(ctx);
        gemm = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.GEMM);
        direct = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.DIRECT);
        winograd = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.WINOGRAD);
        winograd4 = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.WINOGRAD4);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Every shape with each variant. */
    static Stream<Arguments> variantShapes() {
        return Stream.of(Conv3x3.Variant.values()).flatMap(v -> shapes().map(a -> {
            Object[] in = a.get();
            return Arguments.of(v, in[0], in[1], in[2], in[3]);
        }));
    }

    private static Conv3x3 of(Conv3x3.Variant v) {
        return switch (v) {
            case GEMM -> gemm;
            case DIRECT -> direct;
            case WINOGRAD -> winograd;
            case WINOGRAD4 -> winograd4;
        };
    }

    static Stream<Arguments> shapes() {
        // cin, cout, h, w: channel counts 1, 3, 5, 64, 67 in several pairings; planes 1x1, 7x5, 13x11
        // (several N tiles), and 67 channels (several M and K tiles with a ragged last one).
        return Stream.of(
                Arguments.of(1, 1, 1, 1), Arguments.of(3, 5, 7, 5), Arguments.of(5, 3, 13, 11),
                Arguments.of(1, 64, 13, 11), Arguments.of(64, 1, 7, 5), Arguments.of(67, 64, 1, 1),
                Arguments.of(64, 67, 13, 11), Arguments.of(67, 5, 7, 5), Arguments.of(3, 67, 13, 11),
                Arguments.of(67, 67, 5, 7));
    }

    private static double atol(int k) {
        return 1e-5 + 1e-6 * k;
    }

    @ParameterizedTest(name = "{0} cin={1} cout={2} {3}x{4}")
    @MethodSource("variantShapes")
    void forwardMatchesReference(Conv3x3.Variant v, int cin, int cout, int h, int w) {
        checkForward(of(v), cin, cout, h, w);
    }

    @ParameterizedTest(name = "{0} cin={1} cout={2} {3}x{4}")
    @MethodSource("variantShapes")
    void backwardsMatchReference(Conv3x3.Variant v, int cin, int cout, int h, int w) {
        checkBackward(of(v), cin, cout, h, w);
    }

    @Test
    void defaultVariantFollowsDeviceType() {
        Conv3x3.Variant expected = ctx.device().isGpu() ? Conv3x3.Variant.GEMM
                : ctx.device().type().contains("CPU") ? Conv3x3.Variant.DIRECT : Conv3x3.Variant.GEMM;
        assertTrue(conv.variant() == expected, "device " + ctx.device().type() + " got " + conv.variant());
    }

    /**
     * Other register blocks of the direct variant (one channel x 8 pixels, ragged channel blocks,
     * 24 and 32 pixels wider than the 7- and 13-wide rows, several work-items per group, both work
     * orders) agree too; 17 wide makes the last block of a row partial after a full one, and 70 wide
     * gives more pixel blocks per row than work-items per group (a ragged last group).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("directConfigs")
    void otherDirectBlocksMatchReference(Map<String, Integer> defines) {
        Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.DIRECT);
        checkForward(c, 67, 5, 13, 11);
        checkForward(c, 5, 13, 3, 17);
        checkBackward(c, 5, 67, 7, 5);
        checkBackward(c, 13, 5, 3, 17);
        checkForward(c, 3, 7, 2, 70);
        checkBackward(c, 7, 3, 2, 70);
    }

    static Stream<Map<String, Integer>> directConfigs() {
        return Stream.of(
                Map.of("MR", 1, "NV", 1),
                Map.of("MR", 4, "NV", 3),
                Map.of("MR", 3, "NV", 4),
                Map.of("MR", 8, "NV", 1, "DIRECT_WG", 3, "ROWS_INNER", 1),
                Map.of("MR", 6, "NV", 2, "DIRECT_WG", 1, "ROWS_INNER", 1),
                Map.of("MR", 6, "NV", 2, "ROWS_INNER", 0));
    }

    /**
     * Cache blocking of the direct variant: Cin split into passes that add into the output (pass sizes
     * not dividing Cin, one channel per pass), row bands with a ragged last band, row segments with a
     * ragged last segment and work-groups ragged inside a segment, and all of them at once.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("directBlockings")
    void directBlockingsMatchReference(Map<String, Integer> defines) {
        Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.DIRECT);
        checkForward(c, 67, 5, 13, 11);
        checkForward(c, 5, 13, 3, 17);
        checkBackward(c, 5, 67, 7, 5);
        checkForward(c, 3, 7, 2, 70);
        checkBackward(c, 7, 3, 5, 70);
    }

    static Stream<Map<String, Integer>> directBlockings() {
        return Stream.of(
                Map.of("DIRECT_KC", 16),
                Map.of("DIRECT_KC", 1),
                Map.of("DIRECT_BAND", 3),
                Map.of("DIRECT_SEG", 2, "DIRECT_WG", 3),
                Map.of("DIRECT_KC", 2, "DIRECT_BAND", 2, "DIRECT_SEG", 3, "DIRECT_WG", 2),
                Map.of("MR", 4, "NV", 3, "DIRECT_KC", 20, "DIRECT_BAND", 4, "DIRECT_SEG", 1));
    }

    /**
     * The direct variant pads and convolves in bands of output rows when the padded input exceeds the
     * cap (DIRECT_PAD_KB, forced small here; checked, so that every shape really runs several bands,
     * except h = 1): bands not dividing h, prime h, bands of one row, tile bands inside a padded band
     * (explicit, ROWS_INNER both ways), Cin passes inside a band and other register blocks; forward and
     * backwardInput with and without the ReLU mask against the reference, and bit-identical to the same
     * instance settings with one band of all rows (each output sums the same terms in the same order).
     */
    @ParameterizedTest(name = "{0} cin={1} cout={2} {3}x{4}")
    @MethodSource("bandedShapes")
    void directRowBandsMatchReferenceAndOneBand(Map<String, Integer> defines, int cin, int cout, int h, int w) {
        Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.DIRECT);
        Map<String, Integer> whole = new java.util.HashMap<>(defines);
        whole.remove("DIRECT_PAD_KB");
        Conv3x3 one = new Conv3x3(ctx, whole, Conv3x3.Variant.DIRECT);
        for (int[] kc : new int[][] {{cin, cout}, {cout, cin}}) { // forward, then backwardInput
            Conv3x3.Blocking b = c.blocking(kc[0], kc[1], h, w);
            assertTrue(h == 1 ? b.rows() == 1 : b.rows() < h, "expected several bands of " + h + " rows, got " + b);
            assertTrue(b.rows() % b.band() == 0 || b.rows() == h, "bands hold whole tiles: " + b);
            assertTrue(one.blocking(kc[0], kc[1], h, w).rows() == h, "the default cap holds these images whole");
        }
        checkForward(c, cin, cout, h, w);
        checkBackward(c, cin, cout, h, w);
        float[] x = Tensors.uniform(41, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(42, cout * cin * 9, -1, 1);
        float[] g = Tensors.uniform(43, cout * h * w, -1, 1);
        float[] mask = Tensors.uniform(44, cout * h * w, -1, 1);
        try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(wt, cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(Tensors.uniform(45, cout, -1, 1), cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer bm = ctx.buffer(mask, cout, h, w);
                ClBuffer dx = ctx.buffer(cin, h, w)) {
            float[][] got = new float[4][];
            Conv3x3[] both = {c, one};
            for (int i = 0; i < 2; i++) {
                both[i].forward(bx, bw, bb, by, true);
                got[2 * i] = by.read();
                both[i].backwardInput(bg, bw, bm, dx);
                got[2 * i + 1] = dx.read();
            }
            assertTrue(java.util.Arrays.equals(got[0], got[2]), "forward in bands differs from one band");
            assertTrue(java.util.Arrays.equals(got[1], got[3]), "masked backwardInput in bands differs from one band");
        }
        c.close();
        one.close();
    }

    static Stream<Arguments> bandedShapes() {
        // Rows per band with these caps (one padded row of c channels and S segments: c * S * 136 bytes at NV = 2):
        // 3 ch, 20 wide at 4 KiB: 8 rows (37 = 4 * 8 + 5), backward 16 ch: 1 row.
        Map<String, Integer> kb4 = Map.of("DIRECT_PAD_KB", 4);
        return Stream.of(
                Arguments.of(kb4, 3, 16, 37, 20),
                Arguments.of(kb4, 16, 3, 37, 20),
                Arguments.of(kb4, 3, 16, 1, 20), // h = 1: one band of one row
                Arguments.of(Map.of("DIRECT_PAD_KB", 1), 5, 7, 13, 70), // prime h, one row per band, 3 segments
                // explicit tile band 3 inside padded bands of 3 rows (above the cap for the 7-channel backward)
                Arguments.of(Map.of("DIRECT_PAD_KB", 8, "DIRECT_BAND", 3), 5, 7, 29, 40),
                // Cin passes of 2 channels inside bands of 10 rows (23 = 2 * 10 + 3), backward 20 rows
                Arguments.of(Map.of("DIRECT_PAD_KB", 8, "DIRECT_KC", 2), 9, 5, 23, 11),
                Arguments.of(Map.of("DIRECT_PAD_KB", 4, "ROWS_INNER", 1), 3, 7, 31, 17),
                Arguments.of(Map.of("DIRECT_PAD_KB", 4, "ROWS_INNER", 0), 7, 3, 31, 17),
                Arguments.of(Map.of("DIRECT_PAD_KB", 4, "MR", 4, "NV", 3), 3, 13, 19, 50),
                Arguments.of(Map.of("DIRECT_PAD_KB", 8, "DIRECT_SEG", 1, "DIRECT_WG", 3), 67, 5, 11, 33));
    }

    /**
     * The direct variant's scratch stays within the cap on a tall image (a forward reserves room for its
     * backward's band of 64 channels), and with the default settings within
     * {@link Conv3x3#directScratchFloats}, which MemoryEstimate counts, far below the whole padded input.
     */
    @Test
    void directScratchIsBoundedByTheBandCap() {
        int cin = 3, cout = 64, h = 200, w = 1000;
        long whole = (long) cout * (h + 2) * ((w + 31) / 32 * 34) * Float.BYTES; // the padded backward input
        for (Map<String, Integer> defines : List.of(Map.<String, Integer>of("DIRECT_PAD_KB", 2048), Map.<String, Integer>of())) {
            Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.DIRECT);
            try (ClBuffer bx = ctx.buffer(Tensors.uniform(51, cin * h * w, -1, 1), cin, h, w);
                    ClBuffer bw = ctx.buffer(Tensors.uniform(52, cout * cin * 9, -1, 1), cout, cin, 3, 3);
                    ClBuffer bb = ctx.buffer(Tensors.uniform(53, cout, -1, 1), cout); ClBuffer by = ctx.buffer(cout, h, w)) {
                c.prepare(bw);
                long before = ctx.allocatedBytes();
                c.forward(bx, bw, bb, by, true);
                ctx.finish();
                long scratch = ctx.allocatedBytes() - before;
                long cap = defines.isEmpty() ? Conv3x3.PAD_BYTES : 2048 << 10;
                assertTrue(scratch > 0 && scratch <= cap, defines + ": scratch " + scratch + " bytes, cap " + cap);
                if (defines.isEmpty()) {
                    assertTrue(scratch <= 4 * Conv3x3.directScratchFloats(cin, cout, h, w),
                            "scratch " + scratch + " above the estimate's " + 4 * Conv3x3.directScratchFloats(cin, cout, h, w));
                    assertTrue(whole > 1.5 * Conv3x3.PAD_BYTES, "this image pads to more than the cap: " + whole);
                }
                float[] ref = toFloat(Conv3x3Reference.forward(Tensors.toDouble(bx.read()), cin, h, w,
                        Tensors.toDouble(bw.read()), Tensors.toDouble(bb.read()), cout, true));
                Tensors.assertClose("forward " + defines, ref, by.read(), atol(cin * 9), 1e-4);
            }
            c.close();
        }
    }

    /**
     * close() releases everything an instance allocated (workspace, packed weights; also those of the
     * per-layer default's variants): the context's allocated bytes return to their value before its first
     * call, and the instance still works afterwards (packing again).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"DIRECT", "WINOGRAD", "WINOGRAD4", "GEMM", "default"})
    void closeReleasesWorkspaceAndPackedWeights(String variant) {
        int cin = 64, cout = 67, h = 11, w = 21; // the default runs it as WINOGRAD4 on CPUs
        float[] x = Tensors.uniform(61, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(62, cout * cin * 9, -1, 1);
        float[] b = Tensors.uniform(63, cout, -1, 1);
        float[] g = Tensors.uniform(64, cout * h * w, -1, 1);
        double[] ref = Conv3x3Reference.forward(Tensors.toDouble(x), cin, h, w, Tensors.toDouble(wt), Tensors.toDouble(b), cout, true);
        try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(wt, cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(b, cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer dx = ctx.buffer(cin, h, w)) {
            long start = ctx.allocatedBytes();
            Conv3x3 c = variant.equals("default") ? new Conv3x3(ctx)
                    : new Conv3x3(ctx, Map.of(), Conv3x3.Variant.valueOf(variant));
            for (int round = 0; round < 2; round++) { // the second round after close: packs and allocates again
                c.prepare(bw);
                c.forward(bx, bw, bb, by, true);
                c.backwardInput(bg, bw, by, dx);
                ctx.finish();
                Tensors.assertClose("forward round " + round, toFloat(ref), by.read(), atol(cin * 9), 1e-4);
                assertTrue(variant.equals("GEMM") || ctx.allocatedBytes() > start, "nothing allocated by " + variant);
                c.close();
                assertTrue(ctx.allocatedBytes() == start, variant + ": " + (ctx.allocatedBytes() - start)
                        + " bytes still allocated after close (round " + round + ")");
            }
        }
    }

    /**
     * The default blocking splits Cin into passes when many channels of wide rows do not fit a tile
     * (checked, so that this test exercises the split), and the result matches the reference and is
     * bit-identical from run to run (the passes add in a fixed order).
     */
    @Test
    void defaultSplitOfManyChannelsIsCorrectAndDeterministic() {
        int many = 512, few = 7, h = 48, w = 30; // padded input 3.5 MB: more than INPUT_IN_CACHE
        Conv3x3 c = new Conv3x3(ctx, Map.of(), Conv3x3.Variant.DIRECT);
        Conv3x3.Blocking fwd = c.blocking(many, few, h, w);
        assertTrue(fwd.kc() < many, "expected a split of Cin=" + many + ", got " + fwd);
        checkForward(c, many, few, h, w);
        checkBackward(c, few, many, h, w);
        float[] x = Tensors.uniform(31, many * h * w, -1, 1);
        float[] wt = Tensors.uniform(32, few * many * 9, -1, 1);
        float[] g = Tensors.uniform(33, many * h * w, -1, 1);
        try (ClBuffer bx = ctx.buffer(x, many, h, w); ClBuffer bw = ctx.buffer(wt, few, many, 3, 3);
                ClBuffer bb = ctx.buffer(Tensors.uniform(34, few, -1, 1), few); ClBuffer by = ctx.buffer(few, h, w);
                ClBuffer bw2 = ctx.buffer(Tensors.uniform(35, many * few * 9, -1, 1), many, few, 3, 3);
                ClBuffer bg = ctx.buffer(g, many, h, w); ClBuffer dx = ctx.buffer(few, h, w)) {
            c.forward(bx, bw, bb, by, true);
            c.backwardInput(bg, bw2, null, dx);
            float[] y0 = by.read(), dx0 = dx.read();
            for (int rep = 0; rep < 3; rep++) {
                c.forward(bx, bw, bb, by, true);
                c.backwardInput(bg, bw2, null, dx);
                assertTrue(java.util.Arrays.equals(y0, by.read()), "forward differs between identical runs");
                assertTrue(java.util.Arrays.equals(dx0, dx.read()), "backwardInput differs between identical runs");
            }
        }
    }

    /**
     * After one forward, the direct variant's backwardInput and further passes of the same layer
     * allocate nothing, even when the backward pads more channels (Cout > Cin) than the forward did.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Conv3x3.Variant.class, names = {"DIRECT", "WINOGRAD", "WINOGRAD4"})
    void allocatesNothingAfterTheFirstForward(Conv3x3.Variant v) {
        int cin = 3, cout = 16, h = 9, w = 20;
        Conv3x3 c = new Conv3x3(ctx, Map.of(), v);
        try (ClBuffer bx = ctx.buffer(Tensors.uniform(21, cin * h * w, -1, 1), cin, h, w);
                ClBuffer bw = ctx.buffer(Tensors.uniform(22, cout * cin * 9, -1, 1), cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(Tensors.uniform(23, cout, -1, 1), cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer dx = ctx.buffer(cin, h, w)) {
            c.forward(bx, bw, bb, by, true);
            long before = ctx.allocatedBytes();
            c.backwardInput(by, bw, by, dx);
            c.forward(bx, bw, bb, by, true);
            c.backwardInput(by, bw, null, dx);
            ctx.finish();
            assertTrue(ctx.allocatedBytes() == before, "allocated " + (ctx.allocatedBytes() - before) + " bytes");
        }
    }

    /**
     * The direct and Winograd variants cache packed weights per buffer; prepare() repacks after the
     * contents change (also the default instance, which runs 128-channel layers as WINOGRAD4 on CPUs).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"DIRECT", "WINOGRAD", "WINOGRAD4", "default"})
    void prepareRepacksChangedWeights(String variant) {
        int cin = 128, cout = 130, h = 13, w = 14; // the default runs it as WINOGRAD4 on CPUs
        float[] x = Tensors.uniform(11, cin * h * w, -1, 1);
        float[] w1 = Tensors.uniform(12, cout * cin * 9, -1, 1);
        float[] w2 = Tensors.uniform(13, cout * cin * 9, -1, 1);
        float[] b = Tensors.uniform(14, cout, -1, 1);
        float[] g = Tensors.uniform(15, cout * h * w, -1, 1);
        Conv3x3 c = variant.equals("default") ? new Conv3x3(ctx)
                : new Conv3x3(ctx, Map.of(), Conv3x3.Variant.valueOf(variant));
        try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(w1, cout, cin, 3, 3);
                ClBuffer bb = ctx.buffer(b, cout); ClBuffer by = ctx.buffer(cout, h, w);
                ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer dx = ctx.buffer(cin, h, w)) {
            c.prepare(bw);
            for (float[] wt : new float[][] {w1, w2}) {
                bw.write(wt);
                c.prepare(bw);
                for (int rep = 0; rep < 2; rep++) { // the second call uses the cached packing
                    c.forward(bx, bw, bb, by, false);
                    c.backwardInput(bg, bw, null, dx);
                    double[] ref = Conv3x3Reference.forward(Tensors.toDouble(x), cin, h, w, Tensors.toDouble(wt),
                            Tensors.toDouble(b), cout, false);
                    double[] refDx = Conv3x3Reference.backwardInput(Tensors.toDouble(g), Tensors.toDouble(wt), null,
                            cin, cout, h, w);
                    Tensors.assertClose("forward", toFloat(ref), by.read(), atol(cin * 9), 1e-4);
                    Tensors.assertClose("backwardInput", toFloat(refDx), dx.read(), atol(cout * 9), 1e-4);
                }
            }
        }
    }

    /**
     * The Winograd variant on planes wide enough for its vector paths (8 tiles of one tile row inside
     * the image, odd and even sizes, borders), with the tiles cut into several chunks with a ragged
     * last one (WINO_KB=64), ragged GEMM groups (WINO_WG=3) and other register blocks.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("winogradConfigs")
    void winogradChunksAndBlocksMatchReference(Map<String, Integer> defines) {
        Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.WINOGRAD);
        checkForward(c, 5, 7, 37, 41);
        checkForward(c, 67, 13, 20, 36);
        checkBackward(c, 7, 5, 36, 40);
        checkBackward(c, 13, 67, 21, 17);
    }

    /**
     * The same for F(4x4, 3x3): planes with 8 tiles of one tile row inside the image (the vector
     * paths need 36 columns), sizes that are not multiples of 4 (1, 2 or 3 columns or rows of the last
     * tile outside), several chunks with a ragged last one, ragged GEMM groups, other register blocks.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("winogradConfigs")
    void winograd4ChunksAndBlocksMatchReference(Map<String, Integer> defines) {
        Conv3x3 c = new Conv3x3(ctx, defines, Conv3x3.Variant.WINOGRAD4);
        checkForward(c, 5, 7, 37, 41);
        checkForward(c, 67, 13, 20, 70);
        checkForward(c, 3, 5, 42, 38);
        checkBackward(c, 7, 5, 36, 40);
        checkBackward(c, 13, 67, 21, 75);
        checkBackward(c, 5, 3, 39, 37);
    }

    static Stream<Map<String, Integer>> winogradConfigs() {
        return Stream.of(
                Map.of(),
                Map.of("WINO_KB", 64),
                Map.of("WINO_KB", 64, "WINO_WG", 3),
                Map.of("MR", 4, "NV", 1, "WINO_WG", 1, "WINO_KB", 64),
                Map.of("MR", 3, "NV", 3, "WINO_WG", 2));
    }

    /**
     * On CPU devices the default instance runs layers with at least 64 input and output channels as
     * WINOGRAD4 (measured fastest there) and the rest as DIRECT, with correct results either way; a
     * forced variant is never switched.
     */
    @Test
    void defaultPicksWinogradPerLayerOnCpus() {
        Assumptions.assumeTrue(conv.variant() == Conv3x3.Variant.DIRECT, "not a CPU device");
        Assumptions.assumeFalse("false".equals(System.getProperty(Conv3x3.WINOGRAD4_PROPERTY)), "WINOGRAD4 turned off");
        assertTrue(conv.variantFor(128, 128, 32, 32) == Conv3x3.Variant.WINOGRAD4);
        assertTrue(conv.variantFor(64, 128, 32, 32) == Conv3x3.Variant.WINOGRAD4);
        assertTrue(conv.variantFor(64, 64, 256, 256) == Conv3x3.Variant.WINOGRAD4);
        assertTrue(conv.variantFor(512, 512, 16, 16) == Conv3x3.Variant.WINOGRAD4);
        assertTrue(conv.variantFor(63, 128, 32, 32) == Conv3x3.Variant.DIRECT);
        assertTrue(conv.variantFor(512, 512, 8, 8) == Conv3x3.Variant.WINOGRAD4);
        assertTrue(conv.variantFor(3, 64, 256, 256) == Conv3x3.Variant.DIRECT);
        assertTrue(conv.variantFor(64, 3, 256, 256) == Conv3x3.Variant.DIRECT);
        assertTrue(direct.variantFor(64, 64, 32, 32) == Conv3x3.Variant.DIRECT);
        assertTrue(winograd.variantFor(512, 512, 16, 16) == Conv3x3.Variant.WINOGRAD);
        assertTrue(winograd4.variantFor(3, 5, 7, 5) == Conv3x3.Variant.WINOGRAD4);
        checkForward(conv, 128, 131, 9, 7);
        checkBackward(conv, 128, 131, 9, 7);
        checkForward(conv, 64, 67, 13, 11);
        checkBackward(conv, 64, 67, 13, 11);

        checkForward(conv, 3, 64, 7, 5);
        checkBackward(conv, 3, 64, 7, 5);
    }

    /**
     * With the system property clstyle.conv3x3.winograd4=false (for measuring the choice before
     * WINOGRAD4) the default instance picks as before: WINOGRAD from 128 channels, DIRECT below.
     */
    @Test
    void winograd4PropertyRestoresThePreviousChoice() {
        Assumptions.assumeTrue(conv.variant() == Conv3x3.Variant.DIRECT, "not a CPU device");
        String old = System.getProperty(Conv3x3.WINOGRAD4_PROPERTY);
        try {
            System.setProperty(Conv3x3.WINOGRAD4_PROPERTY, "false");
            assertTrue(conv.variantFor(128, 128, 32, 32) == Conv3x3.Variant.WINOGRAD);
            assertTrue(conv.variantFor(64, 128, 32, 32) == Conv3x3.Variant.DIRECT);
            assertTrue(winograd4.variantFor(64, 64, 32, 32) == Conv3x3.Variant.WINOGRAD4);
        } finally {
            if (old == null) {
                System.clearProperty(Conv3x3.WINOGRAD4_PROPERTY);
            } else {
                System.setProperty(Conv3x3.WINOGRAD4_PROPERTY, old);
            }
        }
    }

    /**
     * F(4x4, 3x3) is less accurate than F(2x2, 3x3) and the direct convolution: its error on VGG-like
     * magnitudes (ReLU inputs of N(0, 1) magnitude, He-scaled N(0, 2 / (9 Cin)) weights, 64 to 512
     * channels, planes not multiples of 4) as max |error| / max |reference| of each variant, forward and
     * backwardInput (masked), printed for the record. Bound for WINOGRAD4: 3e-5 (measured 1-4e-6 on PoCL;
     * a wrong transform coefficient gives 1e-2 or more), and within 25x DIRECT's error. Every element also
     * stays inside the tolerance of the other tests (atol 1e-5 + 1e-6 K, rtol 1e-4).
     */
    @ParameterizedTest(name = "cin={0} cout={1} {2}x{3}")
    @MethodSource("vggLikeShapes")
    void winograd4ErrorOnVggMagnitudes(int cin, int cout, int h, int w) {
        float[] x = Tensors.normal(41, cin * h * w, 1);
        for (int k = 0; k < x.length; k++) x[k] = Math.max(0, x[k]);
        float[] wt = Tensors.normal(42, cout * cin * 9, Math.sqrt(2.0 / (9 * cin)));
        float[] b = Tensors.normal(43, cout, 0.01);
        float[] g = Tensors.normal(44, cout * h * w, 1);
        float[] mask = Tensors.normal(45, cout * h * w, 1);
        double[] ref = Conv3x3Reference.forward(Tensors.toDouble(x), cin, h, w, Tensors.toDouble(wt),
                Tensors.toDouble(b), cout, false);
        double[] refDx = Conv3x3Reference.backwardInput(Tensors.toDouble(g), Tensors.toDouble(wt),
                Tensors.toDouble(mask), cin, cout, h, w);
        Map<Conv3x3.Variant, double[]> err = new java.util.EnumMap<>(Conv3x3.Variant.class);
        for (Conv3x3.Variant v : new Conv3x3.Variant[] {Conv3x3.Variant.DIRECT, Conv3x3.Variant.WINOGRAD,
                Conv3x3.Variant.WINOGRAD4}) {
            try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(wt, cout, cin, 3, 3);
                    ClBuffer bb = ctx.buffer(b, cout); ClBuffer by = ctx.buffer(cout, h, w);
                    ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer bm = ctx.buffer(mask, cout, h, w);
                    ClBuffer dx = ctx.buffer(cin, h, w)) {
                Conv3x3 c = of(v);
                c.forward(bx, bw, bb, by, false);
                c.backwardInput(bg, bw, bm, dx);
                float[] y = by.read(), gx = dx.read();
                err.put(v, new double[] {relativeMaxError(ref, y), relativeMaxError(refDx, gx)});
                if (v == Conv3x3.Variant.WINOGRAD4) {
                    Tensors.assertClose("WINOGRAD4 forward", toFloat(ref), y, atol(cin * 9), 1e-4);
                    Tensors.assertClose("WINOGRAD4 backwardInput", toFloat(refDx), gx, atol(cout * 9), 1e-4);
                }
            }
        }
        System.out.printf("conv3x3 max error / max |ref|, %d->%d %dx%d, forward / backwardInput: "
                        + "DIRECT %.2e / %.2e, WINOGRAD %.2e / %.2e, WINOGRAD4 %.2e / %.2e%n", cin, cout, h, w,
                err.get(Conv3x3.Variant.DIRECT)[0], err.get(Conv3x3.Variant.DIRECT)[1],
                err.get(Conv3x3.Variant.WINOGRAD)[0], err.get(Conv3x3.Variant.WINOGRAD)[1],
                err.get(Conv3x3.Variant.WINOGRAD4)[0], err.get(Conv3x3.Variant.WINOGRAD4)[1]);
        for (int pass = 0; pass < 2; pass++) {
            double e4 = err.get(Conv3x3.Variant.WINOGRAD4)[pass], ed = err.get(Conv3x3.Variant.DIRECT)[pass];
            String name = pass == 0 ? "forward" : "backwardInput";
            assertTrue(e4 <= 3e-5, "WINOGRAD4 " + name + " relative error " + e4 + " > 3e-5");
            assertTrue(e4 <= 25 * Math.max(ed, 1e-7), "WINOGRAD4 " + name + " error " + e4 + " vs DIRECT " + ed);
        }
    }

    static Stream<Arguments> vggLikeShapes() {
        return Stream.of(Arguments.of(64, 64, 30, 27), Arguments.of(256, 256, 18, 19), Arguments.of(512, 512, 13, 14));
    }

    private static double relativeMaxError(double[] ref, float[] got) {
        double e = 0, m = 0;
        for (int i = 0; i < ref.length; i++) {
            e = Math.max(e, Math.abs(got[i] - ref[i]));
            m = Math.max(m, Math.abs(ref[i]));
        }
        return e / m;
    }

    /**
     * Other tile configurations (the fallbacks, non-square ones an autotuner may pick, vector widths
     * 8, 4, 2, 1, a one-work-item group) give the same results (GEMM variant forced, whatever the device).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("tileConfigs")
    void otherTileSizesMatchReference(Map<String, Integer> tiles) {
        Conv3x3 c = new Conv3x3(ctx, tiles, Conv3x3.Variant.GEMM);
        checkForward(c, 67, 5, 13, 11);
        checkBackward(c, 5, 67, 7, 5);
    }

    static Stream<Map<String, Integer>> tileConfigs() {
        return Stream.of(
                Map.of("TS_M", 16, "TS_N", 16, "TS_K", 16, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 4, "TS_N", 4, "TS_K", 4, "WPT_M", 4, "WPT_N", 4),
                Map.of("TS_M", 32, "TS_N", 64, "TS_K", 8, "WPT_M", 4, "WPT_N", 8),
                Map.of("TS_M", 24, "TS_N", 40, "TS_K", 5, "WPT_M", 3, "WPT_N", 5),
                Map.of("TS_M", 16, "TS_N", 32, "TS_K", 8, "WPT_M", 2, "WPT_N", 8, "VW", 2),
                Map.of("TS_M", 6, "TS_N", 16, "TS_K", 32, "WPT_M", 6, "WPT_N", 16), // one work-item, no barriers
                Map.of("TS_M", 128, "TS_N", 128, "TS_K", 16, "WPT_M", 8, "WPT_N", 8, "VW", 4), // the tuner's GPU-sized tile
                // Two pairs of local tiles, K steps alternating: the GPU tile, and an awkward one (K steps of 5).
                Map.of("TS_M", 128, "TS_N", 128, "TS_K", 8, "WPT_M", 8, "WPT_N", 8, "VW", 4, "GEMM_DOUBLE_BUFFER", 1),
                Map.of("TS_M", 24, "TS_N", 40, "TS_K", 5, "WPT_M", 3, "WPT_N", 5, "GEMM_DOUBLE_BUFFER", 1));
    }

    private static void checkForward(Conv3x3 c, int cin, int cout, int h, int w) {
        float[] x = Tensors.uniform(100 + cin, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(200 + cout, cout * cin * 9, -1, 1);
        float[] b = Tensors.uniform(300, cout, -1, 1);
        for (boolean relu : new boolean[] {false, true}) {
            double[] ref = Conv3x3Reference.forward(Tensors.toDouble(x), cin, h, w, Tensors.toDouble(wt),
                    Tensors.toDouble(b), cout, relu);
            try (ClBuffer dx = ctx.buffer(x, cin, h, w); ClBuffer dw = ctx.buffer(wt, cout, cin, 3, 3);
                    ClBuffer db = ctx.buffer(b, cout); ClBuffer dy = ctx.buffer(cout, h, w)) {
                c.forward(dx, dw, db, dy, relu);
                Tensors.assertClose("forward relu=" + relu, toFloat(ref), dy.read(), atol(cin * 9), 1e-4);
            }
        }
    }

    private static void checkBackward(Conv3x3 c, int cin, int cout, int h, int w) {
        float[] x = Tensors.uniform(400 + cin, cin * h * w, -1, 1);
        float[] wt = Tensors.uniform(500 + cout, cout * cin * 9, -1, 1);
        float[] g = Tensors.uniform(600, cout * h * w, -1, 1);
        // A ReLU output with about half its entries zero, as the mask.
        float[] y = Tensors.uniform(700, cout * h * w, -1, 1);
        for (int k = 0; k < y.length; k++) y[k] = Math.max(0, y[k]);
        for (boolean relu : new boolean[] {false, true}) {
            double[] mask = relu ? Tensors.toDouble(y) : null;
            double[] refDx = Conv3x3Reference.backwardInput(Tensors.toDouble(g), Tensors.toDouble(wt), mask, cin, cout, h, w);
            double[] refDw = Conv3x3Reference.backwardWeight(Tensors.toDouble(x), Tensors.toDouble(g), mask, cin, cout, h, w);
            double[] refDb = Conv3x3Reference.backwardBias(Tensors.toDouble(g), mask, cout, h, w);
            try (ClBuffer bx = ctx.buffer(x, cin, h, w); ClBuffer bw = ctx.buffer(wt, cout, cin, 3, 3);
                    ClBuffer bg = ctx.buffer(g, cout, h, w); ClBuffer by = ctx.buffer(y, cout, h, w);
                    ClBuffer dx = ctx.buffer(cin, h, w); ClBuffer dw = ctx.buffer(cout, cin, 3, 3);
                    ClBuffer db = ctx.buffer(cout)) {
                // Garbage in the outputs: the kernels must overwrite, not add.
                dx.write(Tensors.uniform(1, cin * h * w, 50, 60));
                dw.write(Tensors.uniform(2, cout * cin * 9, 50, 60));
                db.write(Tensors.uniform(3, cout, 50, 60));
                ClBuffer m = relu ? by : null;
                c.backwardInput(bg, bw, m, dx);
                c.backwardWeights(bx, bg, m, dw, db);
                Tensors.assertClose("backwardInput relu=" + relu, toFloat(refDx), dx.read(), atol(cout * 9), 1e-4);
                Tensors.assertClose("backwardWeights dW relu=" + relu, toFloat(refDw), dw.read(), atol(h * w), 1e-4);
                Tensors.assertClose("backwardWeights dBias relu=" + relu, toFloat(refDb), db.read(), atol(h * w), 1e-4);
            }
        }
    }

    @Test
    void biasReductionIsDeterministic() {
        int cout = 3, h = 67, w = 61;
        float[] g = Tensors.normal(9, cout * h * w, 1);
        try (ClBuffer x = ctx.buffer(1, h, w); ClBuffer bg = ctx.buffer(g, cout, h, w);
                ClBuffer dw = ctx.buffer(cout, 1, 3, 3); ClBuffer db = ctx.buffer(cout)) {
            x.write(new float[h * w]);
            conv.backwardWeights(x, bg, null, dw, db);
            float[] first = db.read();
            double[] ref = Conv3x3Reference.backwardBias(Tensors.toDouble(g), null, cout, h, w);
            Tensors.assertClose("dBias", toFloat(ref), first, atol(h * w), 1e-4);
            for (int rep = 0; rep < 3; rep++) {
                conv.backwardWeights(x, bg, null, dw, db);
                assertTrue(java.util.Arrays.equals(first, db.read()), "dBias differs between identical runs");
            }
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        try (ClBuffer x = ctx.buffer(3, 5, 5); ClBuffer w = ctx.buffer(4, 3, 3, 3); ClBuffer b = ctx.buffer(4);
                ClBuffer y = ctx.buffer(4, 5, 5); ClBuffer wrongW = ctx.buffer(4, 2, 3, 3);
                ClBuffer fiveByFive = ctx.buffer(4, 5, 5, 1); ClBuffer wrongB = ctx.buffer(5);
                ClBuffer wrongY = ctx.buffer(4, 5, 6)) {
            assertMessage(() -> conv.forward(x, wrongW, b, y, false), "channels");
            assertMessage(() -> conv.forward(x, fiveByFive, b, y, false), "weight");
            assertMessage(() -> conv.forward(x, w, wrongB, y, false), "bias");
            assertMessage(() -> conv.forward(x, w, b, wrongY, false), "y has shape");
            assertMessage(() -> conv.backwardInput(wrongY, w, null, x), "dy has shape");
            assertMessage(() -> conv.backwardInput(y, w, wrongY, x), "reluOutput");
            assertMessage(() -> conv.backwardWeights(x, y, null, wrongW, b), "channels");
        }
        assertMessage(() -> new Conv3x3(ctx, Map.of("TS_M", 30, "WPT_M", 8)), "multiple of WPT_M");
        assertMessage(() -> new Conv3x3(ctx, Map.of("WPT_N", 8, "VW", 16)), "WPT_N of VW");
        assertMessage(() -> new Conv3x3(ctx, Map.of("MR", 0), Conv3x3.Variant.DIRECT), "MR=0");
        assertMessage(() -> new Conv3x3(ctx, Map.of("NV", 5), Conv3x3.Variant.DIRECT), "NV=5");
        try (ClBuffer notWeight = ctx.buffer(4, 3, 3)) {
            assertMessage(() -> direct.prepare(notWeight), "weight has shape");
        }
    }

    private static void assertMessage(Runnable r, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should mention '" + part + "'");
    }

    static float[] toFloat(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) f[i] = (float) d[i];
        return f;
    }

    @ParameterizedTest
    @EnumSource(value = Conv3x3.Variant.class, names = {"DIRECT", "WINOGRAD", "WINOGRAD4"})
    void packedKernelsNeedNotKeepTheWeightBuffer(Conv3x3.Variant v) {
        Conv3x3 c = new Conv3x3(ctx, Map.of(), v);
        int cin = 5, cout = 7, h = 9, w = 6;
        assertTrue(!c.readsWeights(cin, cout), v + " reads only its packed copies");
        assertTrue(new Conv3x3(ctx, Map.of(), Conv3x3.Variant.GEMM).readsWeights(cin, cout), "GEMM reads the raw weights");
        double[] x = Tensors.toDouble(Tensors.uniform(11, cin * h * w, -1, 1));
        double[] wt = Tensors.toDouble(Tensors.uniform(12, cout * cin * 9, -1, 1));
        double[] b = Tensors.toDouble(Tensors.uniform(13, cout, -1, 1));
        double[] dy = Tensors.toDouble(Tensors.uniform(14, cout * h * w, -1, 1));
        try (ClBuffer bx = ctx.buffer(toFloat(x), cin, h, w); ClBuffer bb = ctx.buffer(toFloat(b), cout);
                ClBuffer by = ctx.buffer(cout, h, w); ClBuffer bdy = ctx.buffer(toFloat(dy), cout, h, w);
                ClBuffer bdx = ctx.buffer(cin, h, w)) {
            ClBuffer bw = ctx.buffer(toFloat(wt), cout, cin, 3, 3);
            c.prepare(bw);
            bw.close(); // the packed copies stay, keyed by the closed buffer
            c.forward(bx, bw, bb, by, false);
            c.backwardInput(bdy, bw, null, bdx);
            Tensors.assertClose(v + " forward after closing the weights",
                    toFloat(Conv3x3Reference.forward(x, cin, h, w, wt, b, cout, false)), by.read(), atol(cin * 9), 1e-4);
            Tensors.assertClose(v + " backwardInput after closing the weights",
                    toFloat(Conv3x3Reference.backwardInput(dy, wt, null, cin, cout, h, w)), bdx.read(), atol(cout * 9), 1e-4);
            long before = ctx.allocatedBytes();
            c.forget(bw);
            assertTrue(ctx.allocatedBytes() < before, "forget releases the packed copies");
        }
    }
}
