package org.clstyle.cli;

import java.util.List;
import java.util.concurrent.Callable;
import org.clstyle.cl.ClDevice;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code clstyle devices}: every OpenCL device with what matters for choosing one. */
@Command(name = "devices", description = "List OpenCL platforms and devices.", mixinStandardHelpOptions = true)
final class DevicesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        var out = spec.commandLine().getOut();
        List<ClDevice> devices = ClDevice.list();
        if (devices.isEmpty()) {
            throw new UserError("no OpenCL device found: install a driver (on Debian: apt-get install pocl-opencl-icd)");
        }
        ClDevice dflt = ClDevice.select(null);
        for (ClDevice d : devices) {
            List<String> unmet = d.unmetRequirements();
            out.printf("[%d] %s%s%s%n", d.index(), d.name().trim(), d.index() == dflt.index() ? "  (default)" : "",
                    unmet.isEmpty() ? "" : "  (UNSUPPORTED)");
            out.printf("    platform        %s%n", d.platformName().trim());
            out.printf("    type            %s%n", d.type());
            out.printf("    vendor/driver   %s / %s%n", d.vendor().trim(), d.driverVersion().trim());
            out.printf("    version         %s, %s%n", d.deviceVersion().trim(), d.openclCVersion().trim());
            out.printf("    compute units   %d%n", d.computeUnits());
            out.printf("    global memory   %s (max allocation %s)%n", mib(d.globalMemBytes()), mib(d.maxAllocBytes()));
            out.printf("    local memory    %s%n", kib(d.localMemBytes()));
            out.printf("    max work-group  %d (per dimension %s)%n", d.maxWorkGroupSize(), dims(d.maxWorkItemSizes()));
            out.printf("    fp16 / fp64     %s / %s%n", d.fp16() ? "yes" : "no", d.fp64() ? "yes" : "no");
            if (unmet.isEmpty()) {
                out.printf("    requirements    met (run 'clstyle selftest --device %d' to check its results)%n", d.index());
            } else {
                out.printf("    requirements    NOT MET: %s%n", String.join("; ", unmet));
            }
        }
        return 0;
    }

    private static String dims(long[] sizes) {
        StringBuilder sb = new StringBuilder();
        for (long v : sizes) {
            sb.append(sb.length() == 0 ? "" : " x ").append(v);
        }
        return sb.toString();
    }

    private static String mib(long b) { return String.format("%.0f MiB", b / 1048576.0); }

    private static String kib(long b) { return String.format("%.0f KiB", b / 1024.0); }
}
