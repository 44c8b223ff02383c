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
