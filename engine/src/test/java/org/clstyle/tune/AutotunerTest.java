package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.tune.Autotuner.Attempt;
import org.clstyle.tune.Autotuner.Result;
import org.clstyle.tune.Autotuner.Status;
import org.clstyle.tune.OpTuning.Candidate;
import org.clstyle.tune.OpTuning.ClassPlan;
import org.clstyle.tune.OpTuning.Stage;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The tuner on tiny shapes and hand-picked candidates: a candidate whose output a hook corrupts is
 * rejected and never chosen, invalid defines are skipped, the default is always tried first and
 * the winner is a valid candidate. The checks use the ops tests' tolerances (conv: atol 1e-5 +
 * 1e-6 K, rtol 1e-4; relu exact).
 */
class AutotunerTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = new ClContext(ClDevice.select(null), true);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    private static Attempt find(Result r, Candidate c) {
        return r.attempts().stream().filter(a -> a.candidate().equals(c)).findFirst().orElseThrow();
    }

    @Test
    void corruptedConvCandidateIsRejectedAndNeverChosen() {
        ConvTuning conv = new ConvTuning();
        ClassPlan plan = new ClassPlan(ShapeClass.conv(3, 8, 4, 16), new int[] {3, 8, 4, 16}, new int[] {3, 5, 5, 7});
        Candidate dflt = conv.defaultCandidate(ctx.device());
        boolean direct = dflt.variant().equals("DIRECT");
        // Two valid non-default settings of the device's variant, and one invalid one.
        Candidate bad = dflt.with(direct ? Map.of("MR", 4) : Map.of("TS_M", 32, "TS_N", 32, "TS_K", 16, "WPT_M", 4, "WPT_N", 8));
        Candidate good = dflt.with(direct ? Map.of("MR", 8) : Map.of("TS_M", 16, "TS_N", 16, "TS_K", 16, "WPT_M", 4, "WPT_N", 4));
        Candidate invalid = dflt.with(direct ? Map.of("MR", 99) : Map.of("TS_M", 30, "WPT_M", 4));
        Stage stage = best -> List.of(bad, good, invalid);
        Autotuner tuner = new Autotuner(ctx, true, null).outputHook((op, c, output, v) -> {
            if (c.equals(bad) && output.equals("backwardInput")) {
                v[v.length / 2] += 0.01f; // one element off by far more than the tolerance
            }
        });
        Result r = tuner.tune(conv, plan, List.of(stage));

        assertEquals(dflt, r.attempts().get(0).candidate(), "the default is tried first");
        assertEquals(4, r.tried());
        Attempt b = find(r, bad);
        assertEquals(Status.REJECTED, b.status());
        assertTrue(b.why().startsWith("backwardInput["), b.why());
        assertEquals(Status.SKIPPED, find(r, invalid).status());
        assertEquals(Status.OK, find(r, good).status(), () -> find(r, good).why());
        assertEquals(Status.OK, find(r, dflt).status(), () -> find(r, dflt).why());
        assertEquals(1, r.rejected());
        assertEquals(1, r.skipped());
        assertNotNull(r.best());
        assertNotEquals(bad, r.best());
        assertTrue(r.best().equals(dflt) || r.best().equals(good));
        assertTrue(r.bestMs() > 0 && r.defaultMs() > 0);
        assertTrue(r.bestMs() <= r.defaultMs(), "the winner is never slower than the default it was compared with");
        assertEquals(r.best().defines(), r.entry().defines());
    }

    @Test
    void corruptingEveryAlternativeKeepsTheDefault() {
        ReluTuning relu = new ReluTuning();
        ClassPlan plan = new ClassPlan(ShapeClass.relu(4 * 8 * 9), new int[] {4, 8, 9}, new int[] {3, 7, 5});
        Candidate dflt = relu.defaultCandidate(ctx.device());
        // The other variant plus chunk sizes (used by CHUNKS; ELEMENTS ignores them but builds with them).
        List<Stage> stages = List.of(best -> List.of(best.ofVariant(best.variant().equals("CHUNKS") ? "ELEMENTS" : "CHUNKS")),
                best -> List.of(dflt.with(Map.of("RELU_CHUNK", 16)), dflt.with(Map.of("RELU_CHUNK", 8))),
                best -> List.of(dflt.with(Map.of("RELU_CHUNK", 12)))); // not a multiple of 8: invalid
        Autotuner tuner = new Autotuner(ctx, true, null).outputHook((op, c, output, v) -> {
            if (!c.equals(dflt) && output.equals("forward")) {
                v[0] = Math.nextUp(v[0]); // one ulp: relu is compared exactly
            }
        });
        Result r = tuner.tune(relu, plan, stages);
        assertEquals(dflt, r.attempts().get(0).candidate());
        assertEquals(5, r.tried());
        assertEquals(3, r.rejected());
        assertEquals(1, r.skipped());
        assertEquals(dflt, r.best());
        assertEquals(r.defaultMs(), r.bestMs());
        assertEquals(Map.of(), r.entry().defines());
    }

    @Test
    void quickPlanRunsEndToEndOnTinyPool() {
        PoolTuning pool = new PoolTuning();
        ClassPlan plan = new ClassPlan(ShapeClass.pool(4, 10, 18), new int[] {4, 10, 18}, new int[] {3, 7, 13});
        Result r = new Autotuner(ctx, true, null).tune(pool, plan, pool.stages(ctx.device(), true));
        assertEquals(pool.defaultCandidate(ctx.device()), r.attempts().get(0).candidate());
        assertEquals(0, r.rejected(), () -> r.attempts().toString());
        assertNotNull(r.best());
        Attempt chosen = find(r, r.best());
        assertEquals(Status.OK, chosen.status());
        // Every candidate of the search was tried exactly once.
        assertEquals(r.attempts().size(), r.attempts().stream().map(Attempt::candidate).distinct().count());
    }
}
