package org.clstyle.bench;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.DevicePeak;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the kernel benchmarks through JMH and prints one table: time per call, GFLOP/s or GB/s, and the
 * fraction of the device's peak measured in this JVM by {@link DevicePeak} (FMA kernel for FLOP/s,
 * float4 copy for GB/s). Arguments are JMH's (a benchmark regex, -f, -wi, -i, ...);
 * {@code java -cp bench/target/benchmarks.jar org.clstyle.bench.KernelTable -f 1 -wi 2 -i 3 Conv3x3}.
 */
public final class KernelTable {
    private KernelTable() {}

    public static void main(String[] args) throws Exception {
        CommandLineOptions cli = new CommandLineOptions(args);
        Options opts = new OptionsBuilder().parent(cli).build();
        DevicePeak.Peak peak;
        String device;
        try (ClContext ctx = new ClContext(ClDevice.select(System.getProperty("clstyle.device")), true)) {
            device = ctx.device().label();
            peak = new DevicePeak(ctx).measure();
        }
        Collection<RunResult> results = new Runner(opts).run();
        System.out.println();
        System.out.println(table(device, peak, results));
    }

    /** A Markdown table of the results against the measured peak. */
    static String table(String device, DevicePeak.Peak peak, Collection<RunResult> results) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "Device %s; measured peak %.1f GFLOP/s (FMA), %.1f GB/s (copy)%n%n",
                device, peak.gflopPerSecond(), peak.gbPerSecond()));
        sb.append("| benchmark | parameters | ms/call | GFLOP/s | GB/s | % of peak |\n");
        sb.append("|---|---|---:|---:|---:|---:|\n");
        List<RunResult> sorted = new ArrayList<>(results);
        for (RunResult r : sorted) {
            BenchmarkParams p = r.getParams();
            String name = p.getBenchmark().replaceFirst("^.*\\.(\\w+Benchmark\\.\\w+)$", "$1");
            StringBuilder params = new StringBuilder();
            for (String k : p.getParamsKeys()) {
                params.append(params.length() == 0 ? "" : " ").append(k).append('=').append(p.getParam(k));
            }
            double opsPerSecond = r.getPrimaryResult().getScore();
            Map<String, Result> secondary = r.getSecondaryResults();
            double gflops = score(secondary, "gflop");
            double gbs = score(secondary, "gbytes");
            String pct = gflops > 0 ? pct(gflops / peak.gflopPerSecond())
                    : gbs > 0 ? pct(gbs / peak.gbPerSecond()) : "";
            sb.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %s | %s | %s |%n", name, params,
                    1e3 / opsPerSecond, gflops > 0 ? String.format(Locale.ROOT, "%.1f", gflops) : "",
                    gbs > 0 ? String.format(Locale.ROOT, "%.2f", gbs) : "", pct));
        }
        return sb.toString();
    }

    private static double score(Map<String, Result> secondary, String key) {
        Result r = secondary.get(key);
        return r == null ? 0 : r.getScore();
    }

    private static String pct(double fraction) {
        return String.format(Locale.ROOT, "%.0f%%", 100 * fraction);
    }
}
