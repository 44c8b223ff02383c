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
}
