package org.clstyle.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.Recipe;
import org.clstyle.perf.IterationBench;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;

/**
 * Times a generator on the device: one forward (generation, inference mode) at given sizes, and one
 * training step (stylization: batch of random photos, the authors' loss on random full-width VGG19
 * weights, backward through the generator, Adam), each with the peak device memory the context saw
 * while it ran (ClContext's allocation count: our buffers, not the driver's own).
 */
public final class GeneratorBench {
    private GeneratorBench() {}

    /** Median seconds of the timed runs, and the peak bytes allocated during them. */
    public record Timing(String what, double seconds, long peakBytes) {}

    /** Generation at each side in {@code sides} (square), then one training step of {@code batch} at {@code trainSize}. */
    public static List<Timing> run(ClContext ctx, String arch, int[] sides, int batch, int trainSize, int warmup, int timed)
            throws IOException, ImageException, WeightsException, InterruptedException {
        List<Timing> out = new ArrayList<>(generation(ctx, arch, sides, warmup, timed));
        out.add(trainingStep(ctx, arch, batch, trainSize, warmup, timed));
        return out;
    }

    private static GeneratorSpec spec(String arch) {
        return arch.equals(GeneratorSpec.PYRAMID) ? GeneratorSpec.pyramid(true) : GeneratorSpec.johnson(true);
    }

    /** Generation (one forward in inference mode, output read back) at each side in {@code sides} (square). */
    public static List<Timing> generation(ClContext ctx, String arch, int[] sides, int warmup, int timed) {
        GeneratorSpec spec = spec(arch);
        List<Timing> out = new ArrayList<>();
        GeneratorModel model = new GeneratorModel(spec, Trainer.initialParameters(spec.network(), 1),
                zeroState(spec), Map.of(), null);
        for (int side : sides) {
            FloatImage photo = random(side, 3);
            ctx.finish();
            long base = ctx.allocatedBytes();
            ctx.resetPeak();
            try (Generator g = new Generator(ctx, model)) {
                double[] t = new double[timed];
                for (int i = 0; i < warmup + timed; i++) {
                    long t0 = System.nanoTime();
                    g.generate(photo, 0, 0, i); // reads the output back: the whole pass has finished
                    if (i >= warmup) t[i - warmup] = (System.nanoTime() - t0) / 1e9;
                }
                out.add(new Timing("generate " + side + "x" + side, median(t), ctx.peakBytes() - base));
            }
        }
        return out;
    }

    /** One training step (stylization) of {@code batch} random photos at {@code trainSize}, with Adam. */
    public static Timing trainingStep(ClContext ctx, String arch, int batch, int trainSize, int warmup, int timed)
            throws IOException, ImageException, WeightsException, InterruptedException {
        GeneratorSpec spec = spec(arch);
        Path dir = Files.createTempDirectory("clstyle-bench-photos");
        try {
            for (int i = 0; i < batch; i++) {
                Images.write(random(trainSize, 10 + i), dir.resolve("p" + i + ".png"));
            }
            VggWeights vgg = IterationBench.randomWeights(new SplittableRandom(0));
            Recipe recipe = Recipe.defaultsFor(vgg.preprocessing()).toBuilder()
                    .styleLayers(Recipe.layerList("style", "relu1_1,relu2_1,relu3_1,relu4_1"))
                    .contentLayers(Recipe.layerList("content", "relu4_2")).tvWeight(0).build();
            ctx.finish();
            long base = ctx.allocatedBytes();
            ctx.resetPeak();
            TrainSettings s = new TrainSettings(spec, warmup + timed, batch, trainSize, 1e-3, 0.8, 2000, 0,
                    dir.resolve("bench.safetensors"), dir, 0, 0, null, Long.MAX_VALUE);
            List<Double> stepTimes = new ArrayList<>();
            try (Trainer t = new Trainer(ctx, vgg, recipe, List.of(random(trainSize, 99)), Map.of(), s, null,
                    new org.clstyle.transfer.ProgressListener() {
                        long last = System.nanoTime();

                        @Override
                        public void onIteration(Progress p) {
                            long now = System.nanoTime();
                            stepTimes.add((now - last) / 1e9);
                            last = now;
                        }
                    })) {
                t.run(false);
            }
            double[] tt = stepTimes.subList(warmup, stepTimes.size()).stream().mapToDouble(Double::doubleValue).toArray();
            return new Timing("train step batch " + batch + " at " + trainSize + "x" + trainSize, median(tt),
                    ctx.peakBytes() - base);
        } finally {
            try (Stream<Path> st = Files.walk(dir)) {
                st.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Map<String, float[]> zeroState(GeneratorSpec spec) {
        Map<String, float[]> m = new java.util.LinkedHashMap<>();
        GeneratorModel.stateShapes(spec.network()).forEach((k, s) -> {
            float[] v = new float[s[0]];
            if (k.endsWith("running_var")) java.util.Arrays.fill(v, 1f);
            m.put(k, v);
        });
        return m;
    }

    private static FloatImage random(int side, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] small = new float[3 * 8 * 8];
        for (int i = 0; i < small.length; i++) small[i] = (float) r.nextDouble();
        return Images.resize(new FloatImage(8, 8, small), side, side);
    }

    private static double median(double[] t) {
        double[] c = t.clone();
        java.util.Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }
}
