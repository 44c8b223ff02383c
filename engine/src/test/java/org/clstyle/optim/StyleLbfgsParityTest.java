package org.clstyle.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.Recipe;
import org.clstyle.weights.VggWeights;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * L-BFGS and Adam on the real style-transfer loss against torch.optim in float64: golden/cases.json
 * "optim" (engine/src/test/python/golden_loss.py), case caffe_max_mse on the tiny random VGG19, x0 =
 * image.png (28x22), two style images, no clamping. The first 20 losses must agree within
 * 1e-4 relative (measured worst: 4e-6 L-BFGS, 1e-6 Adam): the whole loss (VGG forward, Grams, backward) runs in float32 on the device, so each
 * evaluation already differs from float64 by ~1e-6 relative, and L-BFGS feeds those differences
 * back through its secant pairs; a wrong direction or step length is off by far more (the losses fall
 * by 150x over these 20 steps).
 */
class StyleLbfgsParityTest {
    static final double RTOL = 1e-4;

    static ClContext ctx;
    static JsonNode golden;
    static Path dir;

    @BeforeAll
    static void setUp() throws Exception {
        ctx = ClContext.createDefault();
        dir = Path.of(StyleLbfgsParityTest.class.getResource("/golden/cases.json").toURI()).getParent();
        golden = new ObjectMapper().readTree(dir.resolve("cases.json").toFile());
    }

    @AfterAll
    static void tearDown() {
        ctx.close();
    }

    interface Run {
        void steps(ClBuffer x, Objective f, List<Double> losses);
    }

    List<Double> run(Run optimiser) throws Exception {
        String caseName = golden.get("optim").get("case").asText();
        JsonNode c = golden.get("cases").get(caseName);
        VggWeights weights = VggWeights.load(dir.resolve(golden.get("weights").asText()));
        Recipe recipe = Recipe.parse(c.get("recipe").toString(), Recipe.defaultsFor(weights.preprocessing()));
        FloatImage content = Images.read(dir.resolve(c.get("content").asText()), null);
        FloatImage x0 = Images.read(dir.resolve(golden.get("optim").get("x0").asText()), null);
        List<float[]> styles = new ArrayList<>();
        List<int[]> hw = new ArrayList<>();
        for (JsonNode s : c.get("styles")) {
            FloatImage img = Images.read(dir.resolve(s.asText()), null);
            styles.add(img.data());
            hw.add(new int[] {img.height(), img.width()});
        }
        List<Double> losses = new ArrayList<>();
        try (LossFunction loss = new LossFunction(ctx, weights, recipe, content.data(), x0.height(), x0.width(), styles, hw);
                ClBuffer x = ctx.buffer(x0.data(), x0.shape())) {
            optimiser.steps(x, (xb, gb) -> loss.evaluate(xb, gb).total(), losses);
        }
        return losses;
    }

    static void assertLosses(String what, JsonNode expected, List<Double> actual) {
        assertEquals(20, expected.size());
        double worst = 0;
        for (int i = 0; i < 20; i++) {
            double e = expected.get(i).asDouble(), a = actual.get(i);
            double rel = Math.abs(a - e) / Math.abs(e);
            worst = Math.max(worst, rel);
            assertTrue(rel <= RTOL, String.format("%s loss %d: java %.10g, torch %.10g (rtol %.0e)", what, i, a, e, RTOL));
        }
        System.out.printf("%s on the style loss: worst relative deviation %.2e%n", what, worst);
    }

    @Test
    void lbfgsMatchesTorchOnTheStyleLoss() throws Exception {
        JsonNode g = golden.get("optim").get("lbfgs");
        assertEquals(100, g.get("history_size").asInt());
        List<Double> losses = run((x, f, out) -> {
            List<Double> evals = new ArrayList<>();
            Objective rec = (xb, gb) -> {
                double v = f.evaluate(xb, gb);
                evals.add(v);
                return v;
            };
            try (Lbfgs opt = new Lbfgs(ctx, x.shape(), Lbfgs.Options.defaults(), 20, Projection.NONE)) {
                while (evals.size() < 20) {
                    assertNull(opt.step(x, rec).stopReason());
                }
            }
            out.addAll(evals.subList(0, 20));
        });
        assertLosses("L-BFGS", g.get("losses"), losses);
    }

    @Test
    void adamMatchesTorchOnTheStyleLoss() throws Exception {
        JsonNode g = golden.get("optim").get("adam");
        List<Double> losses = run((x, f, out) -> {
            Adam.Options o = new Adam.Options(g.get("lr").asDouble(), g.get("betas").get(0).asDouble(),
                    g.get("betas").get(1).asDouble(), g.get("eps").asDouble());
            try (Adam opt = new Adam(ctx, x.shape(), o, Projection.NONE)) {
                for (int i = 0; i < 20; i++) {
                    out.add(opt.step(x, f));
                }
            }
        });
        assertLosses("Adam", g.get("losses"), losses);
    }
}
