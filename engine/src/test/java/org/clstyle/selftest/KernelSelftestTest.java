package org.clstyle.selftest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.stream.Collectors;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every kernel variant against its reference on the test device as it is, and on the same device
 * with its limits lowered to those of small GPUs ({@link ClDevice#withLimits}): 256 work-items and
 * 32 KiB of local memory (many AMD and Intel parts), and the minimum clstyle supports (64 work-items,
 * 16 KiB). ClKernel refuses any launch beyond the lowered limits, so a pass means every op chose
 * kernels and work-groups that fit.
 */
class KernelSelftestTest {

    @ParameterizedTest(name = "work-group <= {0}, local memory <= {1} bytes")
    @CsvSource({"1000000, 1000000000", "256, 32768", "64, 16384"})
    void everyKernelMatchesItsReference(long maxWorkGroup, long localBytes) {
        ClDevice device = ClDevice.select(null).withLimits(maxWorkGroup, localBytes);
        try (ClContext ctx = new ClContext(device, false)) {
            List<KernelSelftest.Row> rows = new KernelSelftest(ctx, 7).run(n -> true);
            assertEquals(KernelSelftest.names(device).size(), rows.size());
            // Every row runs where the limits allow; only the tuner's 128 x 128 rows (single and double-buffered)
            // need more than the smallest.
            assertEquals(KernelSelftest.names().size() - (maxWorkGroup < 256 ? 6 : 0), rows.size());
            String failed = rows.stream().filter(r -> !r.passed())
                    .map(r -> r.kernel() + ": " + r.detail() + " (" + r.worstToTolerance() + " x tolerance)")
                    .collect(Collectors.joining("\n"));
            assertTrue(failed.isEmpty(), failed);
        }
    }

    @Test
    void aKernelThatCannotRunFailsItsRow() {
        // With 100 bytes of local memory not even the smallest GEMM tile (144 bytes) fits: the row
        // fails with the op's message instead of passing or throwing out of the suite.
        ClDevice device = ClDevice.select(null).withLimits(1, 100);
        try (ClContext ctx = new ClContext(device, false)) {
            List<KernelSelftest.Row> rows = new KernelSelftest(ctx, 7).run(n -> n.equals("gram GEMM forward"));
            assertEquals(1, rows.size());
            assertTrue(!rows.get(0).passed(), "row passed on a device with 100 bytes of local memory");
            assertTrue(rows.get(0).detail().contains("cannot run even the smallest"), rows.get(0).detail());
        }
    }
}
