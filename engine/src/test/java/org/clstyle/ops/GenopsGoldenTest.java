package org.clstyle.ops;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The generator ops against PyTorch's own modules in float64 (src/test/python/golden_genops.py, files
 * under golden/genops): nn.Conv2d with stride and padding, F.pad's four modes, nn.InstanceNorm2d(affine),
 * nn.BatchNorm2d (training step, running statistics, eval output), nearest nn.Upsample, F.avg_pool2d,
 * LeakyReLU(0.01), 150 tanh and torch.cat: every forward output and every input and parameter gradient
 * of L = sum(y * r). Tolerance as LossGoldenTest's gradients (float32 device vs float64): each element
 * within {@value #ATOL} * max|golden| + {@value #RTOL} * |golden element|.
 */
class GenopsGoldenTest {
    static final double ATOL = 2e-5;
    static final double RTOL = 1e-4;

    private static ClContext ctx;
    private static double worst; // largest |error| / max|golden| seen, printed at the end

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        System.out.printf("GenopsGoldenTest: worst error %.3g of max|golden|%n", worst);
        ctx.close();
    }

    static JsonNode cases(String family) throws IOException {
        try (InputStream in = GenopsGoldenTest.class.getResourceAsStream("/golden/genops/" + family + ".json")) {
            return new ObjectMapper().readTree(in).get("cases");
        }
    }

    static int[] shape(JsonNode a) {
        int[] s = new int[a.get("shape").size()];
        for (int i = 0; i < s.length; i++) s[i] = a.get("shape").get(i).asInt();
        return s;
    }

    static float[] data(JsonNode a) {
        JsonNode d = a.get("data");
        float[] f = new float[d.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) d.get(i).asDouble();
        return f;
    }

    static ClBuffer buf(JsonNode a) {
        return ctx.buffer(data(a), shape(a));
    }

    static ClBuffer like(JsonNode a) {
        return ctx.buffer(shape(a));
    }

    static void check(String what, JsonNode golden, ClBuffer actual) {
        JsonNode d = golden.get("data");
        float[] got = actual.read();
        assertTrue(got.length == d.size(), what + ": " + got.length + " elements, golden " + d.size());
        double max = 0;
        for (int i = 0; i < got.length; i++) max = Math.max(max, Math.abs(d.get(i).asDouble()));
        for (int i = 0; i < got.length; i++) {
            double e = d.get(i).asDouble(), err = Math.abs(got[i] - e);
            worst = Math.max(worst, max > 0 ? err / max : err);
            assertTrue(err <= ATOL * max + RTOL * Math.abs(e), String.format("%s: element %d is %.9g, PyTorch %.9g"
                    + " (max|golden| %.3g, atol %.1e * max, rtol %.1e)", what, i, got[i], e, max, ATOL, RTOL));
        }
    }

    @Test
    void conv2dMatchesNnConv2d() throws IOException {
        try (Conv2d conv = new Conv2d(ctx)) {
            for (JsonNode c : cases("conv2d")) {
                int s = c.get("stride").asInt(), p = c.get("pad").asInt();
                String what = "conv2d k" + c.get("k").asInt() + " s" + s + " p" + p;
                try (ClBuffer x = buf(c.get("x")); ClBuffer w = buf(c.get("weight")); ClBuffer b = buf(c.get("bias"));
                        ClBuffer r = buf(c.get("r")); ClBuffer y = like(c.get("y")); ClBuffer dx = like(c.get("x"));
                        ClBuffer dw = like(c.get("weight")); ClBuffer db = like(c.get("bias"))) {
                    conv.forward(x, w, b, y, s, p);
                    check(what + " y", c.get("y"), y);
                    conv.backwardInput(r, w, dx, s, p);
                    check(what + " dx", c.get("dx"), dx);
                    conv.backwardWeight(x, r, dw, s, p);
                    check(what + " dweight", c.get("dweight"), dw);
                    conv.backwardBias(r, db);
                    check(what + " dbias", c.get("dbias"), db);
                }
            }
        }
    }

    @Test
    void pad2dMatchesFPad() throws IOException {
        Pad2d pad = new Pad2d(ctx);
        for (JsonNode c : cases("pad")) {
            Pad2d.Mode mode = Pad2d.Mode.parse(c.get("mode").asText());
            Pad2d.Amounts a = new Pad2d.Amounts(c.get("top").asInt(), c.get("bottom").asInt(), c.get("left").asInt(),
                    c.get("right").asInt());
            try (ClBuffer x = buf(c.get("x")); ClBuffer r = buf(c.get("r")); ClBuffer y = like(c.get("y"));
                    ClBuffer dx = like(c.get("x"))) {
                pad.forward(x, y, mode, a);
                check("pad " + mode + " y", c.get("y"), y);
                pad.backward(r, dx, mode, a);
                check("pad " + mode + " dx", c.get("dx"), dx);
            }
        }
    }

    @Test
    void normsMatchNnInstanceNorm2dAndBatchNorm2d() throws IOException {
        try (InstanceNorm in = new InstanceNorm(ctx); BatchNorm bn = new BatchNorm(ctx)) {
            for (JsonNode c : cases("norm")) {
                boolean inst = c.get("kind").asText().equals("instance");
                int[] s = shape(c.get("x"));
                String what = c.get("kind").asText() + " norm " + java.util.Arrays.toString(s);
                try (ClBuffer x = buf(c.get("x")); ClBuffer g = buf(c.get("gamma")); ClBuffer b = buf(c.get("beta"));
                        ClBuffer r = buf(c.get("r")); ClBuffer y = like(c.get("y")); ClBuffer dx = like(c.get("x"));
                        ClBuffer dg = like(c.get("gamma")); ClBuffer db = like(c.get("beta"));
                        ClBuffer stats = ctx.buffer(inst ? s[0] * s[1] : s[1], 3);
                        ClBuffer rm = ctx.buffer(new float[s[1]], s[1]); ClBuffer rv = ctx.buffer(ones(s[1]), s[1])) {
                    if (inst) {
                        in.forward(x, g, b, y, stats);
                        in.backward(x, r, g, stats, dx, dg, db);
                    } else {
                        bn.forwardTraining(x, g, b, y, stats, rm, rv);
                        bn.backward(x, r, g, stats, dx, dg, db);
                    }
                    check(what + " y", c.get("y"), y);
                    check(what + " dx", c.get("dx"), dx);
                    check(what + " dgamma", c.get("dgamma"), dg);
                    check(what + " dbeta", c.get("dbeta"), db);
                    if (!inst) {
                        check(what + " running mean", c.get("running_mean"), rm);
                        check(what + " running var", c.get("running_var"), rv);
                        bn.forwardInference(x, g, b, rm, rv, y, stats);
                        check(what + " eval y", c.get("y_eval"), y);
                    }
                }
            }
        }
    }

    @Test
    void resamplingMatchesUpsampleAndAvgPool2d() throws IOException {
        Upsample up = new Upsample(ctx);
        AvgPool pool = new AvgPool(ctx);
        for (JsonNode c : cases("resample")) {
            int r = c.get("r").asInt();
            String what = c.get("op").asText() + " r" + r;
            try (ClBuffer x = buf(c.get("x")); ClBuffer rr = buf(c.get("rr")); ClBuffer y = like(c.get("y"));
                    ClBuffer dx = like(c.get("x"))) {
                if (c.get("op").asText().equals("upsample")) {
                    up.forward(x, y, r);
                    up.backward(rr, dx, r);
                } else {
                    pool.forward(x, y, r);
                    pool.backward(rr, dx, r);
                }
                check(what + " y", c.get("y"), y);
                check(what + " dx", c.get("dx"), dx);
            }
        }
    }

    @Test
    void pointwiseMatchesLeakyReluTanhAndCat() throws IOException {
        Pointwise pw = new Pointwise(ctx);
        ChannelConcat cat = new ChannelConcat(ctx);
        for (JsonNode c : cases("pointwise")) {
            String op = c.get("op").asText();
            if (op.equals("cat")) {
                try (ClBuffer a = buf(c.get("a")); ClBuffer b = buf(c.get("b")); ClBuffer r = buf(c.get("r"));
                        ClBuffer y = like(c.get("y")); ClBuffer da = like(c.get("a")); ClBuffer db = like(c.get("b"))) {
                    cat.forward(List.of(a, b), y);
                    check("cat y", c.get("y"), y);
                    cat.backward(r, List.of(da, db));
                    check("cat da", c.get("da"), da);
                    check("cat db", c.get("db"), db);
                }
                continue;
            }
            try (ClBuffer x = buf(c.get("x")); ClBuffer r = buf(c.get("r")); ClBuffer y = like(c.get("y"));
                    ClBuffer dx = like(c.get("x"))) {
                if (op.equals("leaky_relu")) {
                    pw.leakyReluForward(x, y, 0.01f);
                    pw.leakyReluBackward(y, r, dx, 0.01f);
                } else {
                    pw.tanhForward(x, y, 150f);
                    pw.tanhBackward(y, r, dx, 150f);
                }
                check(op + " y", c.get("y"), y);
                check(op + " dx", c.get("dx"), dx);
            }
        }
    }

    private static float[] ones(int n) {
        float[] f = new float[n];
        java.util.Arrays.fill(f, 1f);
        return f;
    }
}
