package org.clstyle.optim;

import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;

/**
 * L-BFGS on device buffers, a line-by-line port of PyTorch's {@code torch/optim/lbfgs.py} (1.13): the
 * same two-loop recursion with H0 = ys/yy, the same first step {@code lr * min(1, 1/|g|_1)}, fixed
 * step {@code lr} afterwards (Torch's optim.lbfgs and PyTorch's default) or PyTorch's strong-Wolfe line
 * search with cubic interpolation, and the same stopping tests (tolerance_grad on max|g|,
 * tolerance_change on g.d, on max|t d| and on the loss change).
 *
 * <p>One {@link #step} is one iteration of PyTorch's inner loop, so a caller can report progress, save
 * and stop between iterations. The sequence of objective evaluations equals that of one PyTorch
 * {@code step(closure)} with a large {@code max_iter}, except that the point reached by the last
 * iteration is always evaluated (PyTorch skips that evaluation on its last iteration).
 *
 * <p>Vectors never leave the device. Scalars come back to the host only where a decision branches on
 * them (ys > 1e-10, H0 = ys/yy, g.d against the tolerance, the line search's tests, the first step's
 * |g|_1); the two-loop coefficients s.q and y.r stay on the device (VectorOps.axpy with a device
 * coefficient), so the recursion queues without a single blocking read.
 *
 * <p>Projection (clamping the image to [0,1]): applied to x after each step, before x is evaluated,
 * and to every line-search trial point. Without a line search this evaluates exactly the points that
 * the PyTorch tutorial's clamp-at-the-start-of-the-closure evaluates, but it also keeps the stored
 * image in range between iterations (so an interrupted run saves an in-range image without an extra
 * pass). As in PyTorch the history keeps s = t d, not the clamped change.
 *
 * <p>Memory: every buffer is allocated in the constructor. The history holds min(history,
 * maxIterations) pairs (a run of N iterations never stores more than N), plus one spare pair.
 */
public final class Lbfgs implements AutoCloseable {

    /** Step-length rule. */
    public enum LineSearch { NONE, STRONG_WOLFE }

    /** PyTorch's LBFGS arguments (max_iter/max_eval are the caller's loop). */
    public record Options(double lr, int history, LineSearch lineSearch, double toleranceGrad,
            double toleranceChange) {
        public Options {
            if (!(lr > 0) || history < 1) {
                throw new IllegalArgumentException("L-BFGS needs lr > 0 and history >= 1, got lr " + lr
                        + ", history " + history);
            }
        }

        /** PyTorch's defaults: lr 1, history 100, no line search, tolerance_grad 1e-7, tolerance_change 1e-9. */
        public static Options defaults() {
            return new Options(1, 100, LineSearch.NONE, 1e-7, 1e-9);
        }

        public Options withLineSearch(LineSearch ls) {
            return new Options(lr, history, ls, toleranceGrad, toleranceChange);
        }

        public Options withLr(double newLr) {
            return new Options(newLr, history, lineSearch, toleranceGrad, toleranceChange);
        }

        public Options withHistory(int h) {
            return new Options(lr, h, lineSearch, toleranceGrad, toleranceChange);
        }
    }

    /**
     * The outcome of one iteration: the loss at the new x, the objective evaluations it took, and why
     * the optimiser stopped (null while it can go on).
     */
    public record Step(double loss, int evaluations, String stopReason) {
        public boolean converged() { return stopReason != null; }
    }

    private static final double C1 = 1e-4;
    private static final double C2 = 0.9;
    private static final int MAX_LS = 25;

    private final VectorOps ops;
    private final Options opt;
    private final Projection projection;
    private final int n;

    private final ClBuffer g;          // shape of x: gradient at x
    private final ClBuffer prevG;      // [n] gradient at the previous x
    private final ClBuffer d;          // [n] search direction
    private final ClBuffer[] ys;       // [pairs][n] y = g - prevG
    private final ClBuffer[] ss;       // [pairs][n] s = t d
    private final double[] ro;         // [pairs] 1 / (y.s), host: it is a ratio of read-back scalars
    private final ClBuffer alDot;      // [pairs] s_i . q of the two-loop recursion
    private final ClBuffer beDot;      // [pairs] y_i . r of the two-loop recursion
    private final ClBuffer scalars;    // [4] dots read back together in one blocking read
    // Line search only (null without): trial point and the gradients PyTorch clones.
    private final ClBuffer xTrial, gNew, gPrev, bracketG0, bracketG1;

    private final List<Integer> order = new ArrayList<>(); // pair indices in the history, oldest first
    private final int capacity;
    private int spare;
    private int nextFresh;

    private boolean started;
    private int nIter;
    private int evaluations;
    private double loss = Double.NaN;
    private double prevLoss;
    private double t;
    private double hDiag = 1;
    private String stopped;

    /**
     * An optimiser for points of {@code shape}; at most {@code maxIterations} steps are planned (it
     * bounds the history memory). {@code projection} is applied to x after every step (or NONE).
     */
    public Lbfgs(ClContext ctx, int[] shape, Options options, int maxIterations, Projection projection) {
        this.ops = new VectorOps(ctx);
        this.opt = options;
        this.projection = projection == null ? Projection.NONE : projection;
        long elements = 1;
        for (int s : shape) {
            elements *= s;
        }
        this.n = Math.toIntExact(elements);
        this.capacity = Math.max(1, Math.min(options.history(), maxIterations));
        g = ctx.buffer(shape);
        prevG = ctx.buffer(shape);
        d = ctx.buffer(shape);
        ys = new ClBuffer[capacity + 1];
        ss = new ClBuffer[capacity + 1];
        for (int i = 0; i <= capacity; i++) {
            ys[i] = ctx.buffer(shape);
            ss[i] = ctx.buffer(shape);
        }
        ro = new double[capacity + 1];
        alDot = ctx.buffer(capacity + 1);
        beDot = ctx.buffer(capacity + 1);
        scalars = ctx.buffer(4);
        if (options.lineSearch() == LineSearch.STRONG_WOLFE) {
            xTrial = ctx.buffer(shape);
            gNew = ctx.buffer(shape);
            gPrev = ctx.buffer(shape);
            bracketG0 = ctx.buffer(shape);
            bracketG1 = ctx.buffer(shape);
        } else {
            xTrial = gNew = gPrev = bracketG0 = bracketG1 = null;
        }
        spare = 0;
        nextFresh = 1;
    }

    public Options options() { return opt; }

    /** Loss at the current x (NaN before the first step). */
    public double loss() { return loss; }

    /** Objective evaluations so far. */
    public int evaluations() { return evaluations; }

    /** Iterations so far. */
    public int iterations() { return nIter; }

    /** Why the optimiser stopped, or null. */
    public String stopReason() { return stopped; }

    /** Bytes of device memory this optimiser holds. */
    public long deviceBytes() {
        long b = (3L + 2L * (capacity + 1) + (xTrial == null ? 0 : 5)) * n * Float.BYTES;
        return b + 2L * (capacity + 1) * Float.BYTES + 16;
    }

    /** One iteration of PyTorch's LBFGS loop on x (updated in place). */
    public Step step(ClBuffer x, Objective f) {
        if (x.elements() != n) {
            throw new IllegalArgumentException("L-BFGS set up for " + n + " elements, got buffer " + x);
        }
        if (stopped != null) {
            return new Step(loss, 0, stopped);
        }
        int evals = 0;
        if (!started) {
            // evaluate initial f(x) and df/dx
            projection.apply(x);
            loss = f.evaluate(x, g);
            evals++;
            started = true;
            if (scaledMaxAbsAtMost(g, 1, opt.toleranceGrad())) {
                return finish(evals, "gradient below tolerance_grad");
            }
        }
        nIter++;

        // ---- compute the descent direction
        if (nIter == 1) {
            ops.copy(g, d);
            ops.scale(d, -1f);
            hDiag = 1;
        } else {
            ClBuffer y = ys[spare], s = ss[spare];
            ops.copy(g, y);
            ops.axpy(-1f, prevG, y);           // y = g - prev_g
            ops.copy(d, s);
            ops.scale(s, (float) t);          // s = d t
            ops.dot(y, s, scalars, 0);
            ops.dot(y, y, scalars, 1);
            float[] sc = new float[2];
            scalars.read(sc, 0);              // host: the branch on ys and H0 = ys/yy need them
            double ysDot = sc[0];
            if (ysDot > 1e-10) {
                ro[spare] = 1.0 / ysDot;
                order.add(spare);
                spare = order.size() > capacity ? order.remove(0) : nextFresh++;
                hDiag = ysDot / sc[1];
            }
            // two-loop recursion, q and r both live in d; coefficients stay on the device
            ops.copy(g, d);
            ops.scale(d, -1f);
            for (int k = order.size() - 1; k >= 0; k--) {
                int i = order.get(k);
                ops.dot(ss[i], d, alDot, i);                          // al_i = ro_i (s_i . q)
                ops.axpy(alDot, i, (float) -ro[i], ys[i], d);         // q -= al_i y_i
            }
            ops.scale(d, (float) hDiag);
            for (int k = 0; k < order.size(); k++) {
                int i = order.get(k);
                ops.dot(ys[i], d, beDot, i);                          // be_i = ro_i (y_i . r)
                ops.axpy(alDot, i, (float) ro[i], ss[i], d);          // r += (al_i - be_i) s_i
                ops.axpy(beDot, i, (float) -ro[i], ss[i], d);
            }
        }
        ops.copy(g, prevG);
        prevLoss = loss;

        // ---- step length and directional derivative
        ops.dot(g, d, scalars, 0);
        if (nIter == 1) {
            ops.sumAbs(g, scalars, 1);
        }
        float[] sc = new float[2];
        scalars.read(sc, 0);                  // host: g.d is tested against the tolerance
        double gtd = sc[0];
        t = nIter == 1 ? Math.min(1.0, 1.0 / sc[1]) * opt.lr() : opt.lr();
        if (gtd > -opt.toleranceChange()) {
            return finish(evals, "directional derivative below tolerance_change");
        }

        boolean optCond;
        if (opt.lineSearch() == LineSearch.STRONG_WOLFE) {
            LineSearchResult r = strongWolfe(x, f, t, loss, gtd);
            loss = r.f;
            t = r.t;
            evals += r.evals;
            ops.axpy((float) t, d, x);
            projection.apply(x);
            optCond = scaledMaxAbsAtMost(g, 1, opt.toleranceGrad());
        } else {
            ops.axpy((float) t, d, x);
            projection.apply(x);
            loss = f.evaluate(x, g);
            evals++;
            optCond = scaledMaxAbsAtMost(g, 1, opt.toleranceGrad());
        }

        // ---- stopping tests, in PyTorch's order
        if (optCond) {
            return finish(evals, "gradient below tolerance_grad");
        }
        if (scaledMaxAbsAtMost(d, Math.abs(t), opt.toleranceChange())) {
            return finish(evals, "step below tolerance_change");
        }
        if (Math.abs(loss - prevLoss) < opt.toleranceChange()) {
            return finish(evals, "loss change below tolerance_change");
        }
        evaluations += evals;
        return new Step(loss, evals, null);
    }

    private Step finish(int evals, String reason) {
        evaluations += evals;
        stopped = reason;
        return new Step(loss, evals, reason);
    }

    /**
     * Whether scale * max|v| <= tol. Bounded first by the device's L1 norm (sum/n <= max <= sum), which
     * decides every case but a narrow band; only there is v read back for the exact maximum (VectorOps
     * has no max-abs reduction).
     */
    private boolean scaledMaxAbsAtMost(ClBuffer v, double scale, double tol) {
        double max = boundedMaxAbs(v, scale, tol);
        return scale * max <= tol;
    }

    /** max|v|, or a bound on it that settles the comparison scale * max|v| against tol. */
    private double boundedMaxAbs(ClBuffer v, double scale, double tol) {
        ops.sumAbs(v, scalars, 2);
        double sum = scalars.read(2);
        if (scale * sum <= tol * (1 - 1e-4)) {
            return sum;                              // max <= sum: below
        }
        if (scale * sum / n > tol * (1 + 1e-4)) {
            return sum / n;                          // max >= mean: above
        }
        float[] host = v.read();
        double max = 0;
        for (float e : host) {
            max = Math.max(max, Math.abs(e));
        }
        return max;
    }

    private record LineSearchResult(double f, double t, int evals) {}

    /** f and g at x + t d (projected); the gradient lands in gNew. Host: f and g.d drive the search. */
    private double[] directionalEvaluate(ClBuffer x, Objective f, double step) {
        ops.copy(x, xTrial);
        ops.axpy((float) step, d, xTrial);
        projection.apply(xTrial);
        double fNew = f.evaluate(xTrial, gNew);
        ops.dot(gNew, d, scalars, 3);
        return new double[] {fNew, scalars.read(3)};
    }

    /**
     * PyTorch's _strong_wolfe (c1 1e-4, c2 0.9, max_ls 25), gradients kept in fixed device buffers where
     * PyTorch clones: g_prev in gPrev, the bracket's in bracketG0/1. Leaves the chosen point's gradient in g.
     */
    private LineSearchResult strongWolfe(ClBuffer x, Objective f, double tInit, double f0, double gtd) {
        double tol = opt.toleranceChange();
        double step = tInit;
        double[] e = directionalEvaluate(x, f, step);
        double fNew = e[0], gtdNew = e[1];
        int lsEvals = 1;

        double tPrev = 0, fPrev = f0, gtdPrev = gtd;
        ops.copy(g, gPrev);
        boolean done = false;
        int lsIter = 0;
        double[] bracket = null, bracketF = null, bracketGtd = null;
        ClBuffer[] bracketG = {bracketG0, bracketG1};
        while (lsIter < MAX_LS) {
            if (fNew > (f0 + C1 * step * gtd) || (lsIter > 1 && fNew >= fPrev)) {
                bracket = new double[] {tPrev, step};
                bracketF = new double[] {fPrev, fNew};
                ops.copy(gPrev, bracketG0);
                ops.copy(gNew, bracketG1);
                bracketGtd = new double[] {gtdPrev, gtdNew};
                break;
            }
            if (Math.abs(gtdNew) <= -C2 * gtd) {
                bracket = new double[] {step};
                bracketF = new double[] {fNew};
                ops.copy(gNew, bracketG0);
                done = true;
                break;
            }
            if (gtdNew >= 0) {
                bracket = new double[] {tPrev, step};
                bracketF = new double[] {fPrev, fNew};
                ops.copy(gPrev, bracketG0);
                ops.copy(gNew, bracketG1);
                bracketGtd = new double[] {gtdPrev, gtdNew};
                break;
            }
            // interpolate
            double minStep = step + 0.01 * (step - tPrev);
            double maxStep = step * 10;
            double tmp = step;
            step = cubicInterpolate(tPrev, fPrev, gtdPrev, step, fNew, gtdNew, minStep, maxStep);
            // next step
            tPrev = tmp;
            fPrev = fNew;
            ops.copy(gNew, gPrev);
            gtdPrev = gtdNew;
            e = directionalEvaluate(x, f, step);
            fNew = e[0];
            gtdNew = e[1];
            lsEvals++;
            lsIter++;
        }
        // reached max number of iterations?
        if (lsIter == MAX_LS) {
            bracket = new double[] {0, step};
            bracketF = new double[] {f0, fNew};
            ops.copy(g, bracketG0);
            ops.copy(gNew, bracketG1);
        }

        // zoom phase
        boolean insufProgress = false;
        int lowPos = bracketF[0] <= bracketF[bracketF.length - 1] ? 0 : 1;
        int highPos = 1 - lowPos;
        while (!done && lsIter < MAX_LS) {
            // line-search bracket is so small
            double width = Math.abs(bracket[1] - bracket[0]);
            if (width * boundedMaxAbs(d, width, tol) < tol) {
                break;
            }
            // compute new trial value
            step = cubicInterpolate(bracket[0], bracketF[0], bracketGtd[0], bracket[1], bracketF[1], bracketGtd[1],
                    Math.min(bracket[0], bracket[1]), Math.max(bracket[0], bracket[1]));
            double bMax = Math.max(bracket[0], bracket[1]);
            double bMin = Math.min(bracket[0], bracket[1]);
            double eps = 0.1 * (bMax - bMin);
            if (Math.min(bMax - step, step - bMin) < eps) {
                // interpolation close to boundary
                if (insufProgress || step >= bMax || step <= bMin) {
                    // evaluate at 0.1 away from boundary
                    step = Math.abs(step - bMax) < Math.abs(step - bMin) ? bMax - eps : bMin + eps;
                    insufProgress = false;
                } else {
                    insufProgress = true;
                }
            } else {
                insufProgress = false;
            }
            // evaluate new point
            e = directionalEvaluate(x, f, step);
            fNew = e[0];
            gtdNew = e[1];
            lsEvals++;
            lsIter++;

            if (fNew > (f0 + C1 * step * gtd) || fNew >= bracketF[lowPos]) {
                // Armijo condition not satisfied or not lower than lowest point
                bracket[highPos] = step;
                bracketF[highPos] = fNew;
                ops.copy(gNew, bracketG[highPos]);
                bracketGtd[highPos] = gtdNew;
                lowPos = bracketF[0] <= bracketF[1] ? 0 : 1;
                highPos = 1 - lowPos;
            } else {
                if (Math.abs(gtdNew) <= -C2 * gtd) {
                    done = true;                // Wolfe conditions satisfied
                } else if (gtdNew * (bracket[highPos] - bracket[lowPos]) >= 0) {
                    // old high becomes new low
                    bracket[highPos] = bracket[lowPos];
                    bracketF[highPos] = bracketF[lowPos];
                    ops.copy(bracketG[lowPos], bracketG[highPos]);
                    bracketGtd[highPos] = bracketGtd[lowPos];
                }
                // new point becomes new low
                bracket[lowPos] = step;
                bracketF[lowPos] = fNew;
                ops.copy(gNew, bracketG[lowPos]);
                bracketGtd[lowPos] = gtdNew;
            }
        }
        ops.copy(bracketG[lowPos], g);
        return new LineSearchResult(bracketF[lowPos], bracket[lowPos], lsEvals);
    }

    /**
     * PyTorch's _cubic_interpolate for two points with values and derivatives, clamped to [lo, hi]
     * (midpoint when the cubic has no real minimiser).
     */
    static double cubicInterpolate(double x1, double f1, double g1, double x2, double f2, double g2,
            double lo, double hi) {
        double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
        double d2Square = d1 * d1 - g1 * g2;
        if (d2Square >= 0) {
            double d2 = Math.sqrt(d2Square);
            double minPos;
            if (x1 <= x2) {
                minPos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
            } else {
                minPos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
            }
            return pyMin(pyMax(minPos, lo), hi);
        }
        return (lo + hi) / 2.0;
    }

    // Python's min/max return the first argument on ties and when a comparison with NaN is false.
    private static double pyMax(double a, double b) { return b > a ? b : a; }

    private static double pyMin(double a, double b) { return b < a ? b : a; }

    @Override
    public void close() {
        for (ClBuffer b : new ClBuffer[] {g, prevG, d, alDot, beDot, scalars, xTrial, gNew, gPrev, bracketG0, bracketG1}) {
            if (b != null) {
                b.close();
            }
        }
        for (int i = 0; i <= capacity; i++) {
            ys[i].close();
            ss[i].close();
        }
    }
}
