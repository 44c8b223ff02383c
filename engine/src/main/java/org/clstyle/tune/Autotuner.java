package org.clstyle.tune;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClTimer;
import org.clstyle.tune.OpTuning.Candidate;
import org.clstyle.tune.OpTuning.ClassPlan;
import org.clstyle.tune.OpTuning.Stage;
import org.clstyle.tune.OpTuning.Tolerance;
import org.clstyle.tune.OpTuning.Workload;

/**
 * Searches the define space of an op per shape class on the context's device. For each class: the
 * op's default (its device's variant, no overrides) is tried first, then each stage's candidates
 * built on the best so far. Every candidate is built, run once on a small input of the class and
 * compared with the double-precision reference at the op's unit-test tolerances (a mismatch
 * rejects it, an invalid combination, a build error or a launch error skips it, the reason kept);
 * only then is it timed on the class's representative shape: the median of 5 runs (7 without
 * quick) after a warm-up, each measured with profiling events. The fastest valid candidate wins if, re-timed alternately with
 * the default, it is still faster by {@link #MIN_GAIN}; otherwise the default stays, so tuning
 * never makes a class slower than untuned.
 */
public final class Autotuner {
    /** Relative gain a candidate must show over the default in the confirming re-timing. */
    public static final double MIN_GAIN = 0.02;

    public enum Status { OK, REJECTED, SKIPPED }

    /** One candidate's outcome: time in ms when OK, else NaN and the reason. */
    public record Attempt(Candidate candidate, Status status, String why, double ms) {}

    /** The outcome of one class. {@code best} is the default when nothing beat it; null when nothing was valid. */
    public record Result(String op, ClassPlan plan, String shape, Candidate defaultCandidate, List<Attempt> attempts,
                         Candidate best, double defaultMs, double bestMs) {
        public int tried() { return attempts.size(); }

        public long rejected() { return attempts.stream().filter(a -> a.status() == Status.REJECTED).count(); }

        public long skipped() { return attempts.stream().filter(a -> a.status() == Status.SKIPPED).count(); }

        public double speedup() { return defaultMs / bestMs; }

        /** The table entry for this class, or null when no candidate was valid. */
        public TuningTable.Entry entry() {
            return best == null ? null : new TuningTable.Entry(best.variant(), best.defines(), defaultMs, bestMs);
        }
    }

    /** Sees (and may change) each output of each checked run before the comparison: for tests. */
    public interface OutputHook {
        void apply(String op, Candidate candidate, String output, float[] values);
    }

    private final ClContext ctx;
    private final ClTimer timer;
    private final boolean quick;
    private final int runs;
    private final PrintWriter progress;
    private OutputHook hook;

    /**
     * A tuner on {@code ctx} (which must profile); {@code quick} takes fewer candidates, smaller
     * shapes and fewer timed runs; {@code progress} (or null) gets one line per candidate.
     */
    public Autotuner(ClContext ctx, boolean quick, PrintWriter progress) {
        this.ctx = ctx;
        this.timer = new ClTimer(ctx);
        this.quick = quick;
        this.runs = quick ? 5 : 7;
        this.progress = progress;
    }

    public Autotuner outputHook(OutputHook h) {
        this.hook = h;
        return this;
    }

    /** Timed runs per median. */
    public int runs() { return runs; }

    /** Whether times come from profiling events (false: the driver refused, host clock used). */
    public boolean deviceClock() { return timer.deviceClock(); }

    /** Tunes every class of {@code t}. */
    public List<Result> tune(OpTuning t) {
        List<Result> out = new ArrayList<>();
        for (ClassPlan p : t.plans(quick)) {
            out.add(tune(t, p, t.stages(ctx.device(), quick)));
        }
        return out;
    }

    /** Tunes one class of {@code t} over the default and {@code stages}. */
    public Result tune(OpTuning t, ClassPlan plan, List<Stage> stages) {
        String shape = t.describe(plan.timeShape());
        try (Workload check = t.workload(ctx, plan.checkShape(), true);
             Workload time = t.workload(ctx, plan.timeShape(), false)) {
            Map<Candidate, Attempt> done = new LinkedHashMap<>();
            Candidate dflt = t.defaultCandidate(ctx.device());
            Attempt d = evaluate(t, plan, dflt, check, time);
            done.put(dflt, d);
            Candidate best = d.status() == Status.OK ? dflt : null;
            double bestMs = d.ms();
            for (Stage s : stages) {
                Candidate base = best != null ? best : dflt;
                for (Candidate c : s.next(base)) {
                    if (done.containsKey(c)) {
                        continue;
                    }
                    Attempt a = evaluate(t, plan, c, check, time);
                    done.put(c, a);
                    if (a.status() == Status.OK && (best == null || a.ms() < bestMs)) {
                        best = c;
                        bestMs = a.ms();
                    }
                }
            }
            double defaultMs = d.ms();
            if (best != null && !best.equals(dflt) && d.status() == Status.OK) {
                Object dfltOp = t.create(ctx, dflt), bestOp = t.create(ctx, best);
                double[] both;
                try {
                    both = confirm(dfltOp, bestOp, time);
                } finally {
                    release(dfltOp);
                    release(bestOp);
                }
                defaultMs = both[0];
                bestMs = both[1];
                if (!(bestMs < defaultMs * (1 - MIN_GAIN))) {
                    log("%s: %s not faster than the default when re-timed (%.3f vs %.3f ms): keeping the default",
                            plan.cls(), best, bestMs, defaultMs);
                    best = dflt;
                    bestMs = defaultMs;
                }
            }
            return new Result(t.op(), plan, shape, dflt, List.copyOf(done.values()), best, defaultMs, bestMs);
        }
    }

    /** Build, check against the reference, then time. */
    private Attempt evaluate(OpTuning t, ClassPlan plan, Candidate c, Workload check, Workload time) {
        Attempt a = attempt(t, c, check, time);
        if (a.status() == Status.OK) {
            log("%s %s: %.3f ms", plan.cls(), c, a.ms());
        } else {
            log("%s %s: %s, %s", plan.cls(), c, a.status().name().toLowerCase(Locale.ROOT), a.why());
        }
        return a;
    }

    private Attempt attempt(OpTuning t, Candidate c, Workload check, Workload time) {
        Object op;
        try {
            op = t.create(ctx, c);
        } catch (RuntimeException e) {
            return new Attempt(c, Status.SKIPPED, firstLine(e), Double.NaN);
        }
        try {
            return attempt(t, c, op, check, time);
        } finally {
            release(op); // its workspace and packed weights (Conv3x3, Conv2d): one candidate's at a time
        }
    }

    /** Closes a candidate's op once it is done with, when it holds device buffers of its own. */
    private void release(Object op) {
        if (op instanceof AutoCloseable a) {
            try {
                a.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + op.getClass().getSimpleName() + ": " + e.getMessage(), e);
            }
        }
    }

    private Attempt attempt(OpTuning t, Candidate c, Object op, Workload check, Workload time) {
        List<float[]> out;
        try {
            out = check.outputs(op);
        } catch (RuntimeException e) {
            return new Attempt(c, Status.SKIPPED, firstLine(e), Double.NaN);
        }
        List<String> names = check.names();
        if (hook != null) {
            for (int i = 0; i < out.size(); i++) {
                hook.apply(t.op(), c, names.get(i), out.get(i));
            }
        }
        String bad = compare(check, names, out);
        if (bad != null) {
            return new Attempt(c, Status.REJECTED, bad, Double.NaN);
        }
        try {
            return new Attempt(c, Status.OK, null, median(op, time, runs));
        } catch (RuntimeException e) {
            return new Attempt(c, Status.SKIPPED, "while timing: " + firstLine(e), Double.NaN);
        }
    }

    /** Null when every output is within tolerance, else the worst element of the first bad output. */
    static String compare(Workload check, List<String> names, List<float[]> out) {
        List<double[]> ref = check.reference();
        for (int i = 0; i < ref.size(); i++) {
            double[] e = ref.get(i);
            float[] a = out.get(i);
            if (a.length != e.length) {
                return names.get(i) + ": " + a.length + " values, reference " + e.length;
            }
            Tolerance tol = check.tolerance(i);
            int worst = -1;
            double worstExcess = 0;
            for (int k = 0; k < e.length; k++) {
                double excess = Math.abs(a[k] - e[k]) - (tol.atol() + tol.rtol() * Math.abs(e[k]));
                if (Double.isNaN(a[k]) != Double.isNaN(e[k]) || excess > worstExcess) {
                    worst = k;
                    worstExcess = Double.isNaN(excess) ? Double.POSITIVE_INFINITY : excess;
                }
            }
            if (worst >= 0) {
                return String.format(Locale.ROOT, "%s[%d] = %.6g, reference %.6g (atol %.2g, rtol %.2g)",
                        names.get(i), worst, a[worst], e[worst], tol.atol(), tol.rtol());
            }
        }
        return null;
    }

    /** Median ms of {@code n} timed runs after one untimed warm-up. */
    private double median(Object op, Workload w, int n) {
        w.run(op);
        ctx.finish();
        double[] ms = new double[n];
        for (int i = 0; i < n; i++) {
            ms[i] = timer.nanos(() -> w.run(op)) / 1e6;
        }
        Arrays.sort(ms);
        return ms[n / 2];
    }

    /**
     * {default ms, best ms}: medians over rounds that alternate the two, so that drifting load (other
     * processes on a CPU device) hits both alike; the search's single medians can be off by 2x then.
     */
    private double[] confirm(Object dflt, Object best, Workload w) {
        int rounds = 5;
        double[] d = new double[rounds], b = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            d[r] = median(dflt, w, runs);
            b[r] = median(best, w, runs);
        }
        Arrays.sort(d);
        Arrays.sort(b);
        return new double[] {d[rounds / 2], b[rounds / 2]};
    }

    private void log(String fmt, Object... args) {
        if (progress != null) {
            progress.println(String.format(Locale.ROOT, fmt, args));
            progress.flush();
        }
    }

    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        m = m.strip();
        int nl = m.indexOf('\n');
        if (nl >= 0) {
            m = m.substring(0, nl);
        }
        return m.length() > 200 ? m.substring(0, 200) + "..." : m;
    }

    /** The results as a table, one row per op and class. */
    public static void report(List<Result> results, PrintWriter out) {
        out.printf(Locale.ROOT, "%-5s %-18s %-34s %5s %5s %5s %10s %10s %8s  %s%n",
                "op", "class", "timed on", "tried", "rej", "skip", "default ms", "best ms", "speed-up", "chosen");
        for (Result r : results) {
            out.printf(Locale.ROOT, "%-5s %-18s %-34s %5d %5d %5d %10s %10s %8s  %s%n",
                    r.op(), r.plan().cls().name(), r.shape(), r.tried(), r.rejected(), r.skipped(),
                    ms(r.defaultMs()), ms(r.bestMs()),
                    Double.isNaN(r.speedup()) ? "-" : String.format(Locale.ROOT, "%.2fx", r.speedup()),
                    r.best() == null ? "none valid (defaults kept)"
                            : r.best().equals(r.defaultCandidate()) ? "default (" + r.best().variant() + ")" : r.best().toString());
        }
        out.flush();
    }

    private static String ms(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.3f", v);
    }
}
