package org.clstyle.cli;

import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.perf.IterationCheck;
import org.clstyle.selftest.KernelSelftest;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle selftest}: every kernel variant against its plain-Java reference on small shapes,
 * then one VGG19 iteration (random weights) against the reference, on the chosen device. One row per
 * kernel; exit 0 when all pass, 1 when any fails.
 */
@Command(name = "selftest", mixinStandardHelpOptions = true,
        description = {"Check every kernel, then one VGG19 iteration, against the plain-Java reference on this device.",
                "Run it first on a new GPU or driver; exit 0 when every row passes, 1 otherwise."})
final class SelftestCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--device", paramLabel = "D", description = "OpenCL device: index or part of its name (see 'clstyle devices').")
    String device;

    @Option(names = "--kernels-only", description = "Skip the VGG19 iteration (e.g. on a simulator).")
    boolean kernelsOnly;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the random inputs (default ${DEFAULT-VALUE}).")
    long seed = 1;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        ClDevice dev;
        try {
            dev = ClDevice.select(device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        out.printf(Locale.ROOT, "clstyle selftest on %s%n", dev.label());
        out.printf(Locale.ROOT, "  %s, %s, driver %s; %d compute units, local memory %d KiB, work-group %d%n",
                dev.type(), dev.deviceVersion().trim(), dev.driverVersion().trim(), dev.computeUnits(),
                dev.localMemBytes() / 1024, dev.maxWorkGroupSize());
        List<String> unmet = dev.unmetRequirements();
        if (!unmet.isEmpty()) {
            out.printf(Locale.ROOT, "  below clstyle's minimum: %s%n", String.join("; ", unmet));
        }
        out.printf(Locale.ROOT, "%n%-42s %-4s %12s %10s %8s%n", "kernel", "", "worst error", "x tol", "seconds");
        out.flush();
        int failed = 0;
        long t0 = System.nanoTime();
        try (ClContext ctx = new ClContext(dev, false)) {
            KernelSelftest suite = new KernelSelftest(ctx, seed);
            for (String name : KernelSelftest.names(dev)) { // the rows that apply to this device
                KernelSelftest.Row r = suite.run(name::equals).get(0);
                out.printf(Locale.ROOT, "%-42s %-4s %12.3e %10.3f %8.2f%n", r.kernel(), r.passed() ? "ok" : "FAIL",
                        r.worstAbsError(), r.worstToTolerance(), r.seconds());
                if (!r.passed()) {
                    failed++;
                    out.printf(Locale.ROOT, "    %s%n", r.detail());
                }
                out.flush();
            }
        }
        if (!kernelsOnly) {
            long t1 = System.nanoTime();
            String name = "vgg19 iteration 16x16 (loss, d/d image)";
            try (ClContext ctx = new ClContext(dev, true)) {
                IterationCheck.Result r = IterationCheck.run(ctx, 16, seed);
                double ratio = Math.max(r.lossToTolerance(), r.gradientToTolerance());
                out.printf(Locale.ROOT, "%-42s %-4s %12.3e %10.3f %8.2f%n", name, r.passed() ? "ok" : "FAIL",
                        r.gradientWorstAbs(), ratio, (System.nanoTime() - t1) / 1e9);
                if (!r.passed()) {
                    failed++;
                    out.printf(Locale.ROOT, "    loss %.9g, reference %.9g; gradient worst error %.3e (max |reference| %.3e)%n",
                            r.loss(), r.expectedLoss(), r.gradientWorstAbs(), r.gradientMax());
                }
            } catch (RuntimeException e) {
                failed++;
                out.printf(Locale.ROOT, "%-42s %-4s%n    %s%n", name, "FAIL", UserError.describe(e));
            }
        }
        double total = (System.nanoTime() - t0) / 1e9;
        out.printf(Locale.ROOT, "%n%s: %d failed, %.1f s%n", failed == 0 ? "PASS" : "FAIL", failed, total);
        if (failed > 0) {
            out.printf(Locale.ROOT, "Please report this output (and 'clstyle devices') in an issue: it names the device,"
                    + " driver and failing kernels.%n");
        }
        out.flush();
        return failed == 0 ? 0 : 1;
    }
}
