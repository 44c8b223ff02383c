package org.clstyle.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Distance;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.TotalVariation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device L-BFGS and Adam against PyTorch 1.13's torch.optim (float64) on
 * f(x) = mean((x - t)^2) + 0.1 * TV_l2(x), x [3,7,5]: the losses of the first 20 objective evaluations
 * must agree. Fixture: golden/optim/mse_tv_3x7x5.json from engine/src/test/python/golden_optim.py.
 *
 * <p>Tolerance: |java - torch| <= 2e-7 + 1e-5 |torch| per loss. The device works in float32 (about 6e-8
 * relative per operation); L-BFGS propagates those roundings through the secant pairs, and the
 * measured worst deviation stays far below this bound, while a wrong H0, step length, history order or
 * line-search branch changes the losses in the first digits.
 */
class OptimParityTest {
    static final double ATOL = 2e-7;
    static final double RTOL = 1e-5;

    static ClContext ctx;
    static JsonNode golden;

    @BeforeAll
    static void setUp() throws Exception {
        ctx = ClContext.createDefault();
        try (InputStream in = OptimParityTest.class.getResourceAsStream("/golden/optim/mse_tv_3x7x5.json")) {
            golden = new ObjectMapper().readTree(in);
        }
    }

    @AfterAll
    static void tearDown() {
        ctx.close();
    }

    static float[] floats(String key) {
        JsonNode a = golden.get(key);
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) a.get(i).asDouble();
        }
        return out;
    }

    static double[] doubles(String key) {
        JsonNode a = golden.get(key);
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asDouble();
        }
        return out;
    }

    /** mean((x-t)^2) + w TV_l2(x) from the device ops; records every evaluation's loss. */
    static final class MseTv implements Objective, AutoCloseable {
        final Distance distance = new Distance(ctx);
        final TotalVariation tv = new TotalVariation(ctx);
        final ClBuffer target;   // [3,7,5]
        final ClBuffer out = ctx.buffer(2);   // [2] mse, tv
        final float tvWeight;
        final List<Double> losses = new ArrayList<>();

        MseTv(float[] t, int[] shape, float tvWeight) {
            target = ctx.buffer(t, shape);
            this.tvWeight = tvWeight;
        }

        @Override
        public double evaluate(ClBuffer x, ClBuffer grad) {
            distance.forward(Distance.Kind.MSE, x, target, out, 0);
            tv.forward(TotalVariation.Kind.L2, x, out, 1);
            distance.backward(Distance.Kind.MSE, x, target, 1f, grad, false);
            tv.backward(TotalVariation.Kind.L2, x, tvWeight, grad, true);
            float[] v = out.read();
            double f = (double) v[0] + tvWeight * (double) v[1];
            losses.add(f);
            return f;
        }

        @Override
        public void close() {
            target.close();
            out.close();
        }
    }

    int[] shape() {
        JsonNode s = golden.get("shape");
        return new int[] {s.get(0).asInt(), s.get(1).asInt(), s.get(2).asInt()};
    }

    List<Double> runLbfgs(Lbfgs.LineSearch ls, String targetKey, boolean clamp) {
        return runLbfgs(ls, targetKey, clamp, 100);
    }

    List<Double> runLbfgs(Lbfgs.LineSearch ls, String targetKey, boolean clamp, int history) {
        int[] shape = shape();
        ImageOps image = new ImageOps(ctx);
        Projection p = clamp ? x -> image.clamp(x, 0f, 1f) : Projection.NONE;
        try (MseTv f = new MseTv(floats(targetKey), shape, (float) golden.get("tv_weight").asDouble());
                ClBuffer x = ctx.buffer(floats("x0"), shape);
                Lbfgs opt = new Lbfgs(ctx, shape, Lbfgs.Options.defaults().withLineSearch(ls).withHistory(history), 100, p)) {
            while (f.losses.size() < 20) {
                Lbfgs.Step s = opt.step(x, f);
                assertNull(s.stopReason(), "stopped early after " + f.losses.size() + " evaluations");
            }
            if (clamp) {
                for (float v : x.read()) {
                    assertTrue(v >= 0f && v <= 1f, "clamped x left [0,1]: " + v);
                }
            }
            return f.losses.subList(0, 20);
        }
    }

    static void assertLosses(String key, List<Double> actual) {
        double[] expected = doubles(key);
        assertEquals(20, expected.length);
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            double err = Math.abs(actual.get(i) - expected[i]);
            worst = Math.max(worst, err / (ATOL + RTOL * Math.abs(expected[i])));
            assertTrue(err <= ATOL + RTOL * Math.abs(expected[i]), String.format(
                    "%s loss %d: java %.10g, torch %.10g (atol %.0e, rtol %.0e)", key, i, actual.get(i), expected[i],
                    ATOL, RTOL));
        }
        System.out.printf("%s: worst deviation %.3f of the tolerance%n", key, worst);
    }

    @Test
    void lbfgsFixedStepMatchesTorch() {
        assertLosses("lbfgs", runLbfgs(Lbfgs.LineSearch.NONE, "target", false));
    }

    @Test
    void lbfgsStrongWolfeMatchesTorch() {
        assertLosses("lbfgs_strong_wolfe", runLbfgs(Lbfgs.LineSearch.STRONG_WOLFE, "target", false));
    }

    @Test
    void lbfgsShortHistoryWrapsLikeTorch() {
        assertLosses("lbfgs_history3", runLbfgs(Lbfgs.LineSearch.NONE, "target", false, 3));
    }

    @Test
    void lbfgsClampedMatchesTorchClampInClosure() {
        assertLosses("lbfgs_clamped", runLbfgs(Lbfgs.LineSearch.NONE, "target_wide", true));
    }

    List<Double> runAdam(String targetKey, boolean clamp) {
        int[] shape = shape();
        ImageOps image = new ImageOps(ctx);
        Projection p = clamp ? x -> image.clamp(x, 0f, 1f) : Projection.NONE;
        try (MseTv f = new MseTv(floats(targetKey), shape, (float) golden.get("tv_weight").asDouble());
                ClBuffer x = ctx.buffer(floats("x0"), shape);
                Adam opt = new Adam(ctx, shape, Adam.Options.withLr(golden.get("adam_lr").asDouble()), p)) {
            for (int i = 0; i < 20; i++) {
                double l = opt.step(x, f);
                assertEquals(f.losses.get(i), l);
            }
            return f.losses;
        }
    }

    @Test
    void adamMatchesTorch() {
        assertLosses("adam", runAdam("target", false));
    }

    @Test
    void adamClampedMatchesTorch() {
        assertLosses("adam_clamped", runAdam("target_wide", true));
    }

    @Test
    void cubicInterpolationMatchesTorchFormula() {
        // f(t) = (t - 2)^2 sampled at 0 and 3 (values 4, 1; slopes -4, 2): the cubic fit is exact, minimum 2.
        assertEquals(2.0, Lbfgs.cubicInterpolate(0, 4, -4, 3, 1, 2, 0, 3), 1e-12);
        // clamped to the bounds
        assertEquals(1.5, Lbfgs.cubicInterpolate(0, 4, -4, 3, 1, 2, 0, 1.5), 1e-12);
        // no real minimiser -> midpoint of the bounds
        assertEquals(2.5, Lbfgs.cubicInterpolate(0, 0, 1, 1, 2.0 / 3, 1, 2, 3), 1e-12);
    }
}
