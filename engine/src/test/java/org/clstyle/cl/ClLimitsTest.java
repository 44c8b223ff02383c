package org.clstyle.cl;

import static org.junit.jupiter.api.Assertions.*;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Device discovery and the limits every launch is held to (queried from the device, or lowered for tests). */
class ClLimitsTest {
    private static final String LOCAL_COPY = """
            __kernel void local_copy(__global float* y, __global const float* x, __local float* tmp, int n) {
                int i = get_global_id(0), l = get_local_id(0);
                tmp[l] = i < n ? x[i] : 0;
                barrier(CLK_LOCAL_MEM_FENCE);
                if (i < n) y[i] = tmp[get_local_size(0) - 1 - l];
            }
            """;

    @Test
    void deviceTypeAllIsTheUnsigned32BitMask() {
        // LWJGL's CL_DEVICE_TYPE_ALL is the int 0xFFFFFFFF: as a long it would be -1 (all 64 bits set).
        assertEquals(0xFFFFFFFFL, ClDevice.DEVICE_TYPE_ALL);
        assertTrue(ClDevice.DEVICE_TYPE_ALL > 0);
    }

    @Test
    void discoveryReportsLimitsAndTheTestDeviceMeetsTheMinimum() {
        List<ClDevice> all = ClDevice.list();
        assertFalse(all.isEmpty(), "tests need an OpenCL device");
        for (ClDevice d : all) {
            assertTrue(d.maxWorkItemSizes().length >= 1, d.label() + " reports work-item sizes");
            assertTrue(d.localMemBytes() > 0 && d.maxWorkGroupSize() > 0, d.label());
        }
        ClDevice d = ClDevice.select(null);
        assertEquals(List.of(), d.unmetRequirements(), d.label());
    }

    @Test
    void devicesBelowTheMinimumSayWhy() {
        ClDevice small = ClDevice.select(null).withLimits(32, 8 << 10);
        List<String> why = small.unmetRequirements();
        assertEquals(2, why.size(), why.toString());
        assertTrue(why.get(0).contains("work-group size 32"), why.toString());
        assertTrue(why.get(1).contains("local memory 8192 bytes"), why.toString());
    }

    @Test
    void oldOrBrokenDevicesAreMarkedWithEveryReason() {
        ClDevice d = ClDevice.select(null);
        ClDevice old = new ClDevice(d.index(), d.platformId(), d.deviceId(), "p", "n", "v", "GPU", "1", "OpenCL 1.1",
                "OpenCL C 1.1", 1, 1 << 30, 1 << 28, 256, 32 << 10, false, false, "", new long[] {256, 256, 256},
                false, false);
        assertEquals(List.of("the driver reports it unavailable (CL_DEVICE_AVAILABLE is false)",
                "no OpenCL C compiler (CL_DEVICE_COMPILER_AVAILABLE is false)",
                "OpenCL C 1.2 or later needed, device reports \"OpenCL C 1.1\""), old.unmetRequirements());
        ClDevice narrow = new ClDevice(d.index(), d.platformId(), d.deviceId(), "p", "n", "v", "GPU", "1", "OpenCL 3.0",
                "OpenCL C 3.0 driver", 1, 1 << 30, 1 << 28, 256, 64 << 10, false, false, "", new long[] {32, 256, 1},
                true, true);
        assertEquals(List.of("max work-items along dimension 0 32 < 64"), narrow.unmetRequirements());
    }

    @Test
    void launchesBeyondTheLoweredLimitsAreRefusedWithTheDriversCodes() {
        ClDevice small = ClDevice.select(null).withLimits(64, 1024);
        try (ClContext ctx = new ClContext(small, false);
             ClBuffer x = ctx.buffer(new float[200], 200); ClBuffer y = ctx.buffer(200)) {
            ClKernel k = ctx.programFromSource("local_copy", LOCAL_COPY, "").kernel("local_copy");
            // Within the limits: 64 work-items, 256 bytes of local memory.
            k.launch(new long[] {200}, new long[] {64}, y, x, ClKernel.Local.floats(64), 200);
            ctx.finish();
            ClException wg = assertThrows(ClException.class,
                    () -> k.launch(new long[] {200}, new long[] {128}, y, x, ClKernel.Local.floats(128), 200));
            assertEquals(-55, wg.code(), wg.getMessage()); // 128 along dimension 0 > 64
            assertTrue(wg.getMessage().contains("exceeds the device's 64"), wg.getMessage());
            ClException mem = assertThrows(ClException.class,
                    () -> k.launch(new long[] {200}, new long[] {64}, y, x, ClKernel.Local.floats(512), 200));
            assertEquals("CL_OUT_OF_RESOURCES", mem.errorName());
            assertTrue(mem.getMessage().contains("2048 bytes of local memory, the device has 1024"), mem.getMessage());
        }
    }

    @Test
    void anOutputNoKernelWroteIsCaught() {
        try (ClContext ctx = new ClContext(ClDevice.select(null), false); ClBuffer y = ctx.buffer(5, 7)) {
            y.fillSentinel();
            KernelDidNotRunException e = assertThrows(KernelDidNotRunException.class, () -> y.requireWritten("k"));
            assertTrue(e.getMessage().startsWith("k left 35 of 35 output elements unwritten on "), e.getMessage());
            assertTrue(e.getMessage().contains("clstyle selftest"), e.getMessage());
            float[] partly = new float[34];
            y.write(partly); // a NaN computed from data is not the sentinel: only element 34 is left
            y.write(new float[] {Float.NaN}, 33);
            e = assertThrows(KernelDidNotRunException.class, () -> y.requireWritten("k"));
            assertTrue(e.getMessage().startsWith("k left 1 of 35"), e.getMessage());
            y.write(new float[35]);
            y.requireWritten("k");
        }
    }

    @Test
    void withLimitsNeverRaisesALimit() {
        ClDevice d = ClDevice.select(null);
        ClDevice same = d.withLimits(Long.MAX_VALUE, Long.MAX_VALUE);
        assertEquals(d.maxWorkGroupSize(), same.maxWorkGroupSize());
        assertEquals(d.localMemBytes(), same.localMemBytes());
    }
}
