package org.clstyle.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.loss.Recipe;
import org.clstyle.nn.Generators;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.transfer.ProgressListener;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generator model file, and training on a reduced-width VGG19 and reduced-width generators. */
class TrainerTest {
    private static ClContext ctx;
    private static VggWeights vgg;
    private static Recipe recipe;

    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
        vgg = TrainFixtures.tinyVgg();
        recipe = TrainFixtures.recipe(vgg);
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    private static Map<String, float[]> random(Map<String, int[]> shapes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, float[]> m = new LinkedHashMap<>();
        shapes.forEach((k, s) -> {
            float[] v = new float[Arrays.stream(s).reduce(1, (a, b) -> a * b)];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            m.put(k, v);
        });
        return m;
    }

    @Test
    void modelRoundTripIsExactAndRebuildsTheNetwork() throws Exception {
        GeneratorSpec spec = new GeneratorSpec("pyramid", true, true, Generators.Norm.BATCH, Generators.Activation.LEAKY_RELU,
                Layer.PadMode.CIRCULAR, 3);
        Network net = spec.network();
        Map<String, float[]> p = random(net.parameterShapes(), 1);
        Map<String, float[]> st = random(GeneratorModel.stateShapes(net), 2);
        assertTrue(!st.isEmpty(), "a batch-norm pyramid has running statistics");
        GeneratorModel.Optimizer opt = new GeneratorModel.Optimizer(17, random(net.parameterShapes(), 3), random(net.parameterShapes(), 4));
        GeneratorModel m = new GeneratorModel(spec, p, st, Map.of("train.step", "17", "train.recipe", recipe.toJson()), opt);
        Path f = dir.resolve("m.safetensors");
        m.save(f);
        GeneratorModel back = GeneratorModel.load(f);
        assertEquals(spec, back.spec());
        assertEquals(net.names(), back.network().names());
        assertEquals(net.nodes(), back.network().nodes());
        for (String k : p.keySet()) {
            assertArrayEquals(p.get(k), back.parameters().get(k), k);
            assertArrayEquals(opt.m().get(k), back.optimizer().m().get(k), k);
            assertArrayEquals(opt.v().get(k), back.optimizer().v().get(k), k);
        }
        for (String k : st.keySet()) assertArrayEquals(st.get(k), back.state().get(k), k);
        assertEquals(17, back.step());
        assertEquals(17, back.optimizer().steps());
        assertEquals(recipe.toJson(), back.training().get("train.recipe"));

        m.withoutOptimizer().save(f);
        assertNull(GeneratorModel.load(f).optimizer());

        // Johnson: the metadata alone rebuilds it too
        GeneratorSpec j = GeneratorSpec.johnson(true).withWidth(2);
        new GeneratorModel(j, random(j.network().parameterShapes(), 5), Map.of(), Map.of(), null).save(f);
        assertEquals(j.network().nodes(), GeneratorModel.load(f).network().nodes());
    }

    @Test
    void notAModelIsOneLineNamingTheFile() throws Exception {
        Path f = dir.resolve("vgg.safetensors");
        vgg.save(f);
        WeightsException e = assertThrows(WeightsException.class, () -> GeneratorModel.load(f));
        assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("not a clstyle generator"), e.getMessage());
        Path g = dir.resolve("junk.safetensors");
        Files.writeString(g, "hello");
        e = assertThrows(WeightsException.class, () -> GeneratorModel.load(g));
        assertTrue(e.getMessage().contains(g.toString()), e.getMessage());
    }

    private TrainSettings settings(GeneratorSpec spec, int steps, int batch, int size, double lr, Path contentDir) {
        return new TrainSettings(spec, steps, batch, size, lr, 0.8, 3, 42, dir.resolve("out.safetensors"), contentDir, 0, 0,
                null, 1_000_000);
    }

    private static final class Losses implements ProgressListener {
        final List<Double> totals = new ArrayList<>();

        @Override
        public void onIteration(Progress p) {
            totals.add(p.loss().total());
        }
    }

    private Trainer.Result train(TrainSettings s, GeneratorModel resume, Losses l) throws Exception {
        try (Trainer t = new Trainer(ctx, vgg, recipe, TrainFixtures.style(), Map.of("train.loss_network", "vgg19"), s, resume, l)) {
            return t.run(false);
        }
    }

    private static void assertSameParameters(GeneratorModel a, GeneratorModel b) {
        for (String k : a.parameters().keySet()) {
            assertArrayEquals(a.parameters().get(k), b.parameters().get(k), k);
        }
        for (String k : a.state().keySet()) {
            assertArrayEquals(a.state().get(k), b.state().get(k), k);
        }
    }

    /** Texture (pyramid, batch norm: running statistics too): 4 steps == 2 steps, checkpoint file, resume 2 more; bit-exact. */
    @Test
    void resumeEqualsContinuousTexture() throws Exception {
        GeneratorSpec spec = new GeneratorSpec("pyramid", false, true, Generators.Norm.BATCH, Generators.Activation.LEAKY_RELU,
                Layer.PadMode.CIRCULAR, 2);
        Trainer.Result full = train(settings(spec, 4, 2, 32, 0.01, null), null, null);
        Trainer.Result half = train(settings(spec, 2, 2, 32, 0.01, null), null, null);
        assertEquals(2, half.step());
        Path ckpt = dir.resolve("ckpt.safetensors");
        half.model().save(ckpt); // a finished run's model holds no optimiser state: take it from a checkpoint
        assertNull(GeneratorModel.load(ckpt).optimizer());
        try (Trainer t = new Trainer(ctx, vgg, recipe, TrainFixtures.style(), Map.of(), settings(spec, 2, 2, 32, 0.01, null), null, null)) {
            t.run(false);
            t.model(true).save(ckpt);
        }
        Trainer.Result resumed = train(settings(spec, 4, 2, 32, 0.01, null), GeneratorModel.load(ckpt), null);
        assertEquals(4, resumed.step());
        assertSameParameters(full.model(), resumed.model());
    }

    /** Stylization (Johnson, photos from a folder, decay every 3 steps so the schedule crosses the resume): bit-exact. */
    @Test
    void resumeEqualsContinuousStylization() throws Exception {
        Path photos = Files.createDirectory(dir.resolve("photos"));
        TrainFixtures.writeImage(photos.resolve("a.png"), 40, 36, 1);
        TrainFixtures.writeImage(photos.resolve("b.jpg"), 33, 50, 2);
        TrainFixtures.writeImage(photos.resolve("c.png"), 20, 24, 3); // smaller than the crop: scaled up
        GeneratorSpec spec = GeneratorSpec.johnson(true).withWidth(2);
        Trainer.Result full = train(settings(spec, 5, 2, 32, 0.01, photos), null, null);
        Path ckpt = dir.resolve("ckpt.safetensors");
        try (Trainer t = new Trainer(ctx, vgg, recipe, TrainFixtures.style(), Map.of(), settings(spec, 5, 2, 32, 0.01, photos), null, null)) {
            t.requestStop(); // stops before the first step: nothing ran
            assertEquals(0, t.run(false).step());
        }
        try (Trainer t = new Trainer(ctx, vgg, recipe, TrainFixtures.style(), Map.of(), settings(spec, 2, 2, 32, 0.01, photos), null, null)) {
            t.run(false);
            t.model(true).save(ckpt);
        }
        Trainer.Result resumed = train(settings(spec, 5, 2, 32, 0.01, photos), GeneratorModel.load(ckpt), null);
        assertEquals(5, resumed.step());
        assertSameParameters(full.model(), resumed.model());
    }

    /** A second device like the default one where the platform has one (PoCL with POCL_DEVICES="pthread pthread"), else the default. */
    private static org.clstyle.cl.ClDevice secondDevice() {
        org.clstyle.cl.ClDevice first = ctx.device();
        return org.clstyle.cl.ClDevice.list().stream().filter(d -> d.name().equals(first.name()) && d.unmetRequirements().isEmpty()
                && !d.label().equals(first.label())).findFirst().orElse(first);
    }

    /**
     * Two contexts (on a second device where the platform has one like the default, else on the default): the batch's 3 images dealt by forced
     * speeds 1:3 and 1000:1 (the second device idle) and by measured ones, the generator and Adam on the
     * first; each image's loss and gradient are independent and summed in image order, so the parameters
     * equal one context's bit for bit. The split is noted once.
     */
    @Test
    void severalDevicesTrainTheSameParameters() throws Exception {
        Path photos = Files.createDirectory(dir.resolve("photos"));
        TrainFixtures.writeImage(photos.resolve("a.png"), 40, 36, 1);
        TrainFixtures.writeImage(photos.resolve("b.png"), 33, 50, 2);
        GeneratorSpec spec = GeneratorSpec.johnson(true).withWidth(2);
        Trainer.Result one = train(settings(spec, 2, 3, 32, 0.01, photos), null, null);
        String before = System.getProperty("clstyle.device.speeds");
        try {
            for (String speeds : new String[] {"1,3", "1000,1", null}) {
                if (speeds == null) {
                    System.clearProperty("clstyle.device.speeds");
                } else {
                    System.setProperty("clstyle.device.speeds", speeds);
                }
                List<String> notes = new ArrayList<>();
                ProgressListener l = new ProgressListener() {
                    @Override
                    public void onNote(String note) {
                        notes.add(note);
                    }
                };
                Trainer.Result two;
                try (ClContext second = new ClContext(secondDevice(), false);
                        Trainer t = new Trainer(List.of(ctx, second), vgg, recipe, TrainFixtures.style(), Map.of(),
                                settings(spec, 2, 3, 32, 0.01, photos), null, l)) {
                    two = t.run(false);
                }
                assertEquals(2, two.step());
                assertSameParameters(one.model(), two.model());
                String split = notes.stream().filter(n -> n.startsWith("the batch's losses shared by 2 devices: ")).findFirst()
                        .orElseThrow(() -> new AssertionError("no split note in " + notes));
                if ("1,3".equals(speeds)) {
                    assertTrue(split.contains("(speeds forced): device 0: 1 image [2] (33%), speed 0.333, device 1: 2 images [0 1]"),
                            split);
                } else if (speeds != null) {
                    assertTrue(split.contains("device 0: 3 images [0 1 2] (100%), speed 1, device 1: 0 images (0%)"), split);
                } else {
                    assertTrue(split.contains("(measured)"), split);
                }
            }
        } finally {
            if (before == null) {
                System.clearProperty("clstyle.device.speeds");
            } else {
                System.setProperty("clstyle.device.speeds", before);
            }
        }
    }

    @Test
    void textureTrainingLowersTheLoss() throws Exception {
        GeneratorSpec spec = GeneratorSpec.pyramid(false).withWidth(4);
        Losses l = new Losses();
        Trainer.Result r = train(settings(spec, 40, 1, 32, 0.02, null), null, l);
        assertEquals(40, l.totals.size());
        double first = (l.totals.get(0) + l.totals.get(1) + l.totals.get(2)) / 3;
        double last = (l.totals.get(37) + l.totals.get(38) + l.totals.get(39)) / 3;
        assertTrue(last < 0.5 * first, "loss " + first + " -> " + last + ": " + l.totals);
        assertEquals(40, r.model().step());
    }

    @Test
    void generatesAtOtherSizesThanTrainedOn() throws Exception {
        GeneratorSpec tex = GeneratorSpec.pyramid(false).withWidth(2);
        GeneratorModel texture = train(settings(tex, 1, 1, 32, 0.01, null), null, null).model();
        try (Generator g = new Generator(ctx, texture)) {
            FloatImage a = g.generate(null, 72, 40, 5);
            assertEquals(72, a.width());
            assertEquals(40, a.height());
            FloatImage b = g.generate(null, 72, 40, 5);
            assertArrayEquals(a.data(), b.data(), "same seed, same texture");
            FloatImage c = g.generate(null, 72, 40, 6);
            assertTrue(!Arrays.equals(a.data(), c.data()), "another seed, another texture");
            for (float v : a.data()) assertTrue(v >= 0 && v <= 1);
            assertThrows(IllegalArgumentException.class, () -> g.generate(TrainFixtures.image(8, 8, 1), 0, 0, 1));
        }
        Path photos = Files.createDirectory(dir.resolve("p"));
        TrainFixtures.writeImage(photos.resolve("a.png"), 40, 40, 1);
        GeneratorModel sty = train(settings(GeneratorSpec.johnson(true).withWidth(2), 1, 1, 32, 0.01, photos), null, null).model();
        try (Generator g = new Generator(ctx, sty)) {
            FloatImage out = g.generate(TrainFixtures.image(30, 18, 4), 0, 0, 1);
            assertEquals(30, out.width());
            assertEquals(18, out.height());
            assertNotNull(out.data());
            assertThrows(IllegalArgumentException.class, () -> g.generate(null, 32, 32, 1));
        }
    }

    @Test
    void learningRateScheduleIsTheAuthors() {
        TrainSettings s = new TrainSettings(GeneratorSpec.pyramid(true), 50_000, 1, 256, 1e-3, 0.8, 2000, 0,
                Path.of("m.safetensors"), Path.of("."), 0, 0, null, 1);
        assertEquals(1e-3, s.learningRate(1));
        assertEquals(1e-3, s.learningRate(2000));
        assertEquals(1e-3 * 0.8, s.learningRate(2001), 1e-15);
        assertEquals(1e-3 * 0.8 * 0.8, s.learningRate(4001), 1e-15);
        assertEquals(Path.of("m.ckpt.safetensors"), TrainSettings.checkpointPath(Path.of("m.safetensors")));
        assertEquals(Path.of("m.preview-00100.png"), s.previewPath(100));
        assertThrows(IllegalArgumentException.class, () -> new TrainSettings(GeneratorSpec.pyramid(true), 1, 1, 100, 1e-3, 0.8,
                2000, 0, Path.of("m"), null, 0, 0, null, 1));
    }
}
