package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.*;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The peak kernels compute what they claim: FMA chains match their closed form, the copy copies. No timing asserted. */
class DevicePeakTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = new ClContext(ClDevice.select(null), true);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    /** Every work-item's sum of chains against the closed form of the affine recurrence. */
    private static void checkFma(int n, int width, int chains, int iterations, float mul, float add, double rtol) {
        try (ClBuffer out = ctx.buffer(n)) { // [n]
            new DevicePeak(ctx).runFma(out, width, chains, iterations, mul, add);
            float[] got = out.read();
            double[] expected = new double[n];
            for (int g = 0; g < n; g++) {
                expected[g] = DevicePeak.fmaExpected(g, width, chains, iterations, mul, add);
            }
            float[] exp = new float[n];
            for (int g = 0; g < n; g++) exp[g] = (float) expected[g];
            // Float rounding of the start values and of each step, summed over width*chains lanes.
            Tensors.assertClose("fma_peak w" + width + " c" + chains + " it" + iterations + " mul " + mul,
                    exp, got, 1e-4, rtol);
        }
    }

    @Test
    void fmaChainsWithUnitMultiplierCountEveryIteration() {
        // x = x0 + n*add: one iteration more or less moves each sum by width*chains*add (relative ~1e-3 here).
        checkFma(2053, 8, 8, 1000, 1.0f, 0.5f, 2e-6);
        checkFma(1000, 4, 16, 999, 1.0f, 0.5f, 2e-6);
        checkFma(77, 2, 3, 17, 1.0f, 0.25f, 2e-6);
    }

    @Test
    void fmaChainsWithContractionMatchClosedForm() {
        // mul^n x0 + add (mul^n - 1)/(mul - 1): depends on the start values (per chain, lane and work-item).
        checkFma(1500, 8, 8, 5, 0.5f, 1.0f, 1e-5);
        checkFma(1500, 8, 12, 3, -0.75f, 0.125f, 1e-5);
        checkFma(300, 16, 4, 40, 0.9f, 0.01f, 1e-5);
    }

    @Test
    void copyCopiesEveryElement() {
        for (int n : new int[] {4, 4 * 1001, 1 << 20}) {
            float[] data = Tensors.uniform(n, n, -3, 3);
            try (ClBuffer src = ctx.buffer(data, n); ClBuffer dst = ctx.buffer(n)) {
                new DevicePeak(ctx).runCopy(src, dst);
                assertArrayEquals(data, dst.read(), "copy4 of " + n + " floats");
            }
        }
    }

    @Test
    void copyRejectsMismatchedSizes() {
        try (ClBuffer a = ctx.buffer(8); ClBuffer b = ctx.buffer(12); ClBuffer c = ctx.buffer(6)) {
            assertThrows(IllegalArgumentException.class, () -> new DevicePeak(ctx).runCopy(a, b));
            assertThrows(IllegalArgumentException.class, () -> new DevicePeak(ctx).runCopy(c, c));
        }
    }

    @Test
    void needsProfilingContext() {
        try (ClContext plain = new ClContext(ClDevice.select(null), false)) {
            assertThrows(IllegalArgumentException.class, () -> new DevicePeak(plain));
        }
    }

    @Test
    void flopCountIsTwoPerFmaLane() {
        assertEquals(2.0 * 10 * 8 * 4 * 100, DevicePeak.fmaFlops(10, 8, 4, 100));
    }
}
