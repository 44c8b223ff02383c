package org.clstyle.cl;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The OpenCL layer: buffers, launches, the program cache, and readable errors. */
class ClLayerTest {
    private static final String SAXPY = """
            __kernel void saxpy(__global float* y, __global const float* x, float a, int n) {
                int i = get_global_id(0);
                if (i < n) y[i] += a * x[i];
            }
            """;

    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = new ClContext(ClDevice.select(null), true);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @Test
    void launchesWithTypedArgumentsAndReadsBack() {
        int n = 1000; // not a multiple of the local size: the kernel bound-checks
        float[] x = new float[n], y = new float[n];
        for (int i = 0; i < n; i++) { x[i] = i; y[i] = 1; }
        try (ClBuffer bx = ctx.buffer(x, n); ClBuffer by = ctx.buffer(y, n)) {
            long ns = ctx.programFromSource("saxpy", SAXPY, "").kernel("saxpy")
                    .launch(new long[] {n}, new long[] {64}, by, bx, 2f, n);
            assertTrue(ns >= 0, "profiling context reports device time");
            float[] out = by.read();
            for (int i = 0; i < n; i++) assertEquals(1 + 2f * i, out[i]);
            assertEquals(1 + 2f * 7, by.read(7));
            long maxWg = ctx.programFromSource("saxpy", SAXPY, "").kernel("saxpy").maxWorkGroupSize();
            assertTrue(maxWg >= 1 && maxWg <= ctx.device().maxWorkGroupSize(), "kernel work-group limit " + maxWg);
        }
    }

    @Test
    void profiledLaunchesAreCountedPerKernel() {
        ctx.resetKernelTimes();
        try (ClBuffer bx = ctx.buffer(new float[64], 64); ClBuffer by = ctx.buffer(new float[64], 64)) {
            ClKernel k = ctx.programFromSource("saxpy", SAXPY, "").kernel("saxpy");
            long total = 0;
            for (int i = 0; i < 3; i++) {
                total += k.launch(new long[] {64}, null, by, bx, 1f, 64);
            }
            long[] t = ctx.kernelTimes().get("saxpy");
            assertEquals(3, t[0], "launches");
            assertEquals(total, t[1], "device nanoseconds, the sum of what the launches returned");
            ctx.resetKernelTimes();
            assertTrue(ctx.kernelTimes().isEmpty());
        }
    }

    @Test
    void programsAreCachedPerSourceAndOptions() {
        ClProgram a = ctx.programFromSource("saxpy", SAXPY, "");
        assertSame(a, ctx.programFromSource("saxpy", SAXPY, ""));
        assertNotSame(a, ctx.programFromSource("saxpy", SAXPY, "-DUNUSED=1"));
    }

    @Test
    void buildFailureCarriesTheLogAndOptions() {
        ClException e = assertThrows(ClException.class,
                () -> ctx.programFromSource("broken", "__kernel void k() { undeclared_name = 1; }", "-DFOO=3"));
        assertEquals("CL_BUILD_PROGRAM_FAILURE", e.errorName());
        assertTrue(e.getMessage().contains("clBuildProgram(broken"), e.getMessage());
        assertTrue(e.getMessage().contains("-DFOO=3"), e.getMessage());
        assertTrue(e.getMessage().contains("undeclared_name"), "build log is included: " + e.getMessage());
    }

    @Test
    void errorsNameTheCallAndTheError() {
        ClException e = assertThrows(ClException.class,
                () -> ctx.programFromSource("saxpy", SAXPY, "").kernel("no_such_kernel"));
        assertEquals("CL_INVALID_KERNEL_NAME", e.errorName());
        assertTrue(e.getMessage().startsWith("clCreateKernel(no_such_kernel) failed: CL_INVALID_KERNEL_NAME"), e.getMessage());
        assertEquals("CL_OUT_OF_RESOURCES", ClError.name(-5));
        assertEquals("CL_UNKNOWN_ERROR(-9999)", ClError.name(-9999));
    }

    @Test
    void launchErrorsNameTheKernelAndSizes() {
        try (ClBuffer b = ctx.buffer(16)) {
            long tooBig = ctx.device().maxWorkGroupSize() * 2;
            ClException e = assertThrows(ClException.class, () -> ctx.programFromSource("saxpy", SAXPY, "")
                    .kernel("saxpy").launch(new long[] {tooBig}, new long[] {tooBig}, b, b, 1f, 16));
            assertTrue(e.getMessage().contains("clEnqueueNDRangeKernel(saxpy"), e.getMessage());
        }
    }

    @Test
    void wrongArgumentTypeIsRefusedByTheHelper() {
        try (ClBuffer b = ctx.buffer(4)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ctx
                    .programFromSource("saxpy", SAXPY, "").kernel("saxpy").launch(new long[] {4}, null, b, b, 1.0, 4));
            assertTrue(e.getMessage().contains("argument 2"), e.getMessage());
        }
    }

    @Test
    void buffersKnowTheirShapeAndAreAccounted() {
        long before = ctx.allocatedBytes();
        try (ClBuffer b = ctx.buffer(3, 5, 7)) {
            assertArrayEquals(new int[] {3, 5, 7}, b.shape());
            assertEquals(105, b.size());
            assertEquals(before + 420, ctx.allocatedBytes());
            assertTrue(ctx.peakBytes() >= before + 420);
        }
        assertEquals(before, ctx.allocatedBytes());
        assertThrows(IllegalArgumentException.class, () -> ctx.buffer(3, 0));
    }

    @Test
    void familyProgramsBuildWithDefines() {
        // common.cl alone is a valid program source for the header check.
        String src = KernelSource.load("common");
        assertTrue(src.contains("IDX3"));
        ClProgram p = ctx.program("common", Map.of("SOME_TILE", 8));
        assertTrue(p.options().contains("-DSOME_TILE=8"));
    }

    /** copyRegionFrom against plain loops: odd shapes, windows touching every edge, 1-wide, empty, and out of range refused. */
    @Test
    void regionCopyMatchesLoops() {
        int[][] cases = { // C, srcH, srcW, dstH, dstW, srcY, srcX, dstY, dstX, h, w
                {3, 7, 11, 5, 13, 2, 3, 0, 1, 5, 8},
                {1, 5, 5, 5, 5, 0, 0, 0, 0, 5, 5},
                {5, 13, 17, 3, 2, 10, 15, 0, 0, 3, 2},
                {2, 9, 1, 9, 4, 0, 0, 0, 3, 9, 1},
                {4, 6, 6, 8, 9, 1, 1, 2, 2, 0, 3}};
        for (int[] k : cases) {
            int c = k[0], sh = k[1], sw = k[2], dh = k[3], dw = k[4];
            float[] src = new float[c * sh * sw], dst = new float[c * dh * dw];
            for (int i = 0; i < src.length; i++) src[i] = i + 0.5f;
            for (int i = 0; i < dst.length; i++) dst[i] = -1 - i;
            float[] want = dst.clone();
            for (int ch = 0; ch < c; ch++)
                for (int i = 0; i < k[9]; i++)
                    for (int j = 0; j < k[10]; j++)
                        want[(ch * dh + k[7] + i) * dw + k[8] + j] = src[(ch * sh + k[5] + i) * sw + k[6] + j];
            try (ClBuffer bs = ctx.buffer(src, c, sh, sw); ClBuffer bd = ctx.buffer(dst, c, dh, dw)) {
                bd.copyRegionFrom(bs, k[5], k[6], k[7], k[8], k[9], k[10]);
                assertArrayEquals(want, bd.read(), java.util.Arrays.toString(k));
            }
        }
        try (ClBuffer a = ctx.buffer(2, 4, 4); ClBuffer b = ctx.buffer(2, 3, 3); ClBuffer c3 = ctx.buffer(3, 4, 4)) {
            assertThrows(IllegalArgumentException.class, () -> b.copyRegionFrom(a, 1, 1, 0, 0, 3, 4));
            assertThrows(IllegalArgumentException.class, () -> b.copyRegionFrom(a, 0, 0, 1, 0, 3, 3));
            assertThrows(IllegalArgumentException.class, () -> c3.copyRegionFrom(a, 0, 0, 0, 0, 2, 2));
        }
    }

    /** A view shares its buffer's memory with another shape, allocates nothing, and closing it releases nothing. */
    @Test
    void viewsShareMemory() {
        try (ClBuffer b = ctx.buffer(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 2, 6)) {
            long before = ctx.allocatedBytes();
            ClBuffer v = b.view(1, 2, 3);
            assertEquals(before, ctx.allocatedBytes());
            assertArrayEquals(new int[] {1, 2, 3}, v.shape());
            assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, v.read());
            v.write(new float[] {-1, -2, -3, -4, -5, -6});
            v.close();
            assertArrayEquals(new float[] {-1, -2, -3, -4, -5, -6, 7, 8, 9, 10, 11, 12}, b.read(), "written through the view, still open");
            ClBuffer w = v.view(12); // a view of a view is a view of the buffer
            assertEquals(12, w.read().length);
            assertThrows(IllegalArgumentException.class, () -> b.view(13));
            assertThrows(IllegalArgumentException.class, () -> b.view(0, 3));
        }
    }
}
