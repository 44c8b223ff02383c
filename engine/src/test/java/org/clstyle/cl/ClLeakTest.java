package org.clstyle.cl;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Creating and releasing a context, a program, kernels and buffers many times must not grow the
 * process: every OpenCL object is released.
 */
class ClLeakTest {
    private static final String SRC = "__kernel void fill(__global float* y, float v) { y[get_global_id(0)] = v; }";

    @Test
    void thousandContextsDoNotGrowTheProcess() throws IOException {
        ClDevice device = ClDevice.select(null);
        cycle(device, 100); // warm up: driver caches, JIT, thread pools
        long before = residentKiB();
        cycle(device, 1000);
        long after = residentKiB();
        // Each cycle allocates 4 MiB of buffers: a leak of them alone would be ~4 GB; a leaked context,
        // program or kernel would be tens of KiB each. Allow 64 MiB of allocator noise.
        assertTrue(after - before < 64 * 1024,
                "resident memory grew from " + before + " KiB to " + after + " KiB over 1000 cycles");
    }

    private static void cycle(ClDevice device, int times) {
        for (int i = 0; i < times; i++) {
            try (ClContext ctx = new ClContext(device, false)) {
                ClBuffer a = ctx.buffer(512, 1024);
                ClBuffer b = ctx.buffer(512, 1024);
                ctx.programFromSource("fill", SRC, "").kernel("fill").launch(new long[] {a.size()}, null, a, 1f);
                ctx.finish();
                b.close(); // one closed by hand, one left for the context to release
            }
        }
    }

    private static long residentKiB() throws IOException {
        System.gc();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D+", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
