package org.clstyle.cli;

import org.clstyle.ops.ShapeClass;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.tune.Autotuner;
import org.clstyle.tune.ConvTuning;
import org.clstyle.tune.GramTuning;
import org.clstyle.tune.OpTuning;
import org.clstyle.tune.PoolTuning;
import org.clstyle.tune.ReluTuning;
import org.clstyle.tune.TuningTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle tune}: searches kernel defines per op and shape class on one device (every
 * candidate checked against the reference before it is timed) and stores the winners in the user
 * cache, where the ops pick them up; devices never tuned run the ops' defaults.
 */
@Command(name = "tune", mixinStandardHelpOptions = true,
        description = "Autotune kernel settings for this device and store them in the user cache.")
final class TuneCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    CommonOptions.Device device;

    @Option(names = "--quick", description = "Fewer candidates, smaller shapes, fewer timed runs.")
    boolean quick;

    @Option(names = "--ops", paramLabel = "LIST", split = ",",
            description = "Ops to tune, comma-separated from conv, gram, pool, relu (default: all). Others keep their stored settings.")
    List<String> ops;

    @Option(names = "--dry-run", description = "Tune and print the table, but write nothing.")
    boolean dryRun;

    @Option(names = "--verbose", description = "One line per candidate on standard error.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        Set<String> chosen = new LinkedHashSet<>();
        if (ops == null || ops.isEmpty()) {
            chosen.addAll(ShapeClass.OPS);
        } else {
            for (String o : ops) {
                String op = o.trim().toLowerCase(Locale.ROOT);
                if (!ShapeClass.OPS.contains(op)) {
                    throw new UserError("--ops: unknown op '" + o.trim() + "' (expected a comma-separated list of "
                            + String.join(", ", ShapeClass.OPS) + ")");
                }
                chosen.add(op);
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        ClDevice dev;
        try {
            dev = ClDevice.select(device.device);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        Path root = TuningTable.cacheRoot();
        TuningTable table = TuningTable.load(root, dev.name(), dev.driverVersion());
        table.problem().ifPresent(p -> err.println("clstyle: warning: " + p));
        out.printf(Locale.ROOT, "device %s, driver %s%n", dev.label(), dev.driverVersion().trim());
        out.printf(Locale.ROOT, "tuning %s%s: every candidate is checked against the reference before it is timed%n",
                String.join(", ", chosen), quick ? " (quick)" : "");
        out.flush();

        long t0 = System.nanoTime();
        List<Autotuner.Result> results = new ArrayList<>();
        boolean deviceClock = true;
        int runs = 0;
        for (String op : chosen) {
            OpTuning t = tuning(op);
            // A context per op: the candidates' scratch buffers are released with it.
            try (ClContext ctx = new ClContext(dev, true)) {
                Autotuner tuner = new Autotuner(ctx, quick, verbose ? err : null);
                for (OpTuning.ClassPlan plan : t.plans(quick)) {
                    err.printf(Locale.ROOT, "  %s on %s ...%n", plan.cls(), t.describe(plan.timeShape()));
                    err.flush();
                    results.add(tuner.tune(t, plan, t.stages(dev, quick)));
                }
                deviceClock &= tuner.deviceClock();
                runs = tuner.runs();
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;

        out.println();
        Autotuner.report(results, out);
        out.printf(Locale.ROOT, "%ntimes: median of %d runs, %s; tuning took %.0f s%n", runs,
                deviceClock ? "device time from profiling events" : "host clock (the driver gave no profiling times for markers)",
                seconds);
        for (Autotuner.Result r : results) {
            for (Autotuner.Attempt a : r.attempts()) {
                if (a.status() == Autotuner.Status.REJECTED) {
                    out.printf(Locale.ROOT, "rejected %s %s: %s%n", r.plan().cls(), a.candidate(), a.why());
                }
            }
        }

        for (String op : chosen) {
            table.clear(op);
        }
        for (Autotuner.Result r : results) {
            TuningTable.Entry e = r.entry();
            if (e != null) {
                table.put(r.op(), r.plan().cls(), e);
            }
        }
        if (dryRun) {
            out.printf("dry run: nothing written (would write %s)%n", TuningTable.file(root, dev.name(), dev.driverVersion()));
            return 0;
        }
        Path file;
        try {
            file = table.save(root);
        } catch (IOException e) {
            throw new UserError("cannot write the tuning table under " + root + ": " + e.getMessage(), 1);
        }
        out.printf("wrote %s%n", file);
        return 0;
    }

    private static OpTuning tuning(String op) {
        return switch (op) {
            case ShapeClass.CONV -> new ConvTuning();
            case ShapeClass.GRAM -> new GramTuning();
            case ShapeClass.POOL -> new PoolTuning();
            case ShapeClass.RELU -> new ReluTuning();
            default -> throw new IllegalStateException(op);
        };
    }
}
