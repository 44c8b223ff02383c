package org.clstyle.selftest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Locale;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Mesa's rusticl as a second CPU implementation (package mesa-opencl-icd with RUSTICL_ENABLE=llvmpipe):
 * discovery passes the device type as the unsigned CL_DEVICE_TYPE_ALL (rusticl rejects LWJGL's
 * sign-extended int with CL_INVALID_DEVICE_TYPE) and skips Mesa's platforms that have no devices; then
 * kernels run and match their references there. Skipped where no rusticl device is found (it is not
 * installed on the machines that run the other tests: its empty platforms would only add noise).
 */
class RusticlTest {
    @Test
    void discoversRusticlAndRunsKernelsThere() {
        List<ClDevice> all = ClDevice.list();
        ClDevice rusticl = all.stream().filter(d -> d.platformName().toLowerCase(Locale.ROOT).contains("rusticl"))
                .findFirst().orElse(null);
        Assumptions.assumeTrue(rusticl != null, "no rusticl device (install mesa-opencl-icd, set RUSTICL_ENABLE=llvmpipe)");
        // What ClDevice.list would have hit with LWJGL's constant: the int 0xFFFFFFFF widened to -1L.
        try (org.lwjgl.system.MemoryStack stack = org.lwjgl.system.MemoryStack.stackPush()) {
            java.nio.IntBuffer n = stack.mallocInt(1);
            long signExtended = org.lwjgl.opencl.CL10.CL_DEVICE_TYPE_ALL;
            assertEquals(-1L, signExtended);
            int rc = org.lwjgl.opencl.CL10.clGetDeviceIDs(rusticl.platformId(), signExtended, null, n);
            System.out.println("rusticl: clGetDeviceIDs(CL_DEVICE_TYPE_ALL as LWJGL passes it) = " + rc);
            assertEquals(0, org.lwjgl.opencl.CL10.clGetDeviceIDs(rusticl.platformId(), ClDevice.DEVICE_TYPE_ALL, null, n));
        }
        try (ClContext ctx = new ClContext(rusticl, false)) {
            List<KernelSelftest.Row> rows = new KernelSelftest(ctx, 3)
                    .run(n -> n.startsWith("relu") || n.startsWith("loss") || n.equals("conv3x3 DIRECT forward"));
            assertEquals(4, rows.size());
            for (KernelSelftest.Row r : rows) {
                assertTrue(r.passed(), r.kernel() + " on " + rusticl.label() + ": " + r.detail());
            }
        }
    }
}
