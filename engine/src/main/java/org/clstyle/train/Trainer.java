package org.clstyle.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.image.ImageException;
import org.clstyle.image.Images;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.Recipe;
import org.clstyle.nn.DeviceGraph;
import org.clstyle.nn.Layer;
import org.clstyle.nn.Network;
import org.clstyle.nn.Node;
import org.clstyle.ops.ImageOps;
import org.clstyle.ops.UniformNoise;
import org.clstyle.ops.VectorOps;
import org.clstyle.optim.Adam;
import org.clstyle.optim.MultiTensorAdam;
import org.clstyle.transfer.ProgressListener;
import org.clstyle.weights.VggWeights;
import org.clstyle.weights.WeightsException;

/**
 * Trains a generator (Ulyanov et al.'s Texture Networks, Johnson et al.) on the device.
 *
 * <p>One step k (1-based): a batch of N inputs [N, 3, S, S] (stylization: the next N crops of the
 * photo sequence minus 0.5; texture: the pyramid's own noise channels, Johnson uniform noise in
 * [-0.5, 0.5)), the generator's forward (noise seeded by (seed, k)), for each image the output mapped
 * to [0,1] ({@link OutputMapping}), the loss (stylization: with that image's crop as content target,
 * {@link LossFunction#setContent}) and its gradient; the batch's loss is the sum of the per-image losses
 * (as the authors' criterion over a batch); the gradients go back through the generator
 * ({@link DeviceGraph#backward}) and one Adam step (PyTorch's Adam, lr of step k from
 * {@link TrainSettings#learningRate(int)}) updates every parameter.
 *
 * <p>Everything a step depends on is a function of (seed, k) and the saved state (parameters, BatchNorm
 * statistics, Adam's moments and step count), so a checkpoint at step s resumed to step t gives the
 * same parameters as a run to t without the stop.
 */
public final class Trainer implements AutoCloseable {
    /**
     * The outcome: the model at the last finished step, how many steps ran, whether a stop ended it, and
     * the file written: the output model (finished), the checkpoint (stopped after a step), or null
     * (stopped before the first step of this run).
     */
    public record Result(GeneratorModel model, int step, boolean interrupted, java.nio.file.Path written) {}

    private static final ObjectMapper JSON = new ObjectMapper();

    private final ClContext ctx;
    private final TrainSettings s;
    private final Recipe recipe;
    private final Map<String, String> info;
    private final ProgressListener listener;
    private final Network network;
    private final DeviceGraph graph;
    private final List<LossFunction> losses = new ArrayList<>(); // one per context: the first's on ctx
    private final MultiTensorAdam adam;
    private final OutputMapping mapping;
    private final VectorOps vectors;
    private final ImageOps imageOps;
    private final UniformNoise noise;
    private final List<String> paramNames;
    private final ClBuffer input;   // [N, 3, S, S] generator input
    private final ClBuffer crops;   // [N, 3, S, S] the photos (stylization), else null
    private final BatchLoss batchLoss;
    private final ClBuffer dOut;    // [N, 3, S, S] d loss / d generator output
    private final CropSource source;
    private int step;
    private volatile boolean stopRequested;
    private final CountDownLatch finished = new CountDownLatch(1);

    /**
     * @param styles the style images, already at the size they are to be seen (see the CLI's --style-size)
     * @param info   train.* metadata to record in the model (loss network, recipe, style names, ...)
     * @param resume a checkpoint to continue from (its parameters, state, optimiser and step), or null
     */
    public Trainer(ClContext ctx, VggWeights weights, Recipe recipe, List<FloatImage> styles, Map<String, String> info,
            TrainSettings s, GeneratorModel resume, ProgressListener listener) {
        this(List.of(ctx), weights, recipe, styles, info, s, resume, listener);
    }

    /**
     * As above with the batch's losses shared by several contexts (one per device; {@link BatchLoss}
     * deals the images by the devices' speed, measured here or forced by -Dclstyle.device.speeds): the
     * generator, its optimiser and the batch live on the first. The same parameters as on one device
     * (each image's loss and gradient are independent; the terms are summed in image order).
     */
    public Trainer(List<ClContext> contexts, VggWeights weights, Recipe recipe, List<FloatImage> styles, Map<String, String> info,
            TrainSettings s, GeneratorModel resume, ProgressListener listener) {
        ClContext ctx = contexts.get(0);
        this.ctx = ctx;
        this.s = s;
        this.recipe = recipe;
        this.info = Map.copyOf(info);
        this.listener = listener == null ? ProgressListener.NONE : listener;
        this.network = s.spec().network();
        Map<String, float[]> init = resume != null ? resume.parameters() : initialParameters(network, s.seed());
        this.graph = new DeviceGraph(ctx, network, init::get);
        if (resume != null) {
            resume.state().forEach((k, v) -> graph.state().get(k).write(v));
        }
        graph.setTraining(true);
        this.paramNames = List.copyOf(network.parameterShapes().keySet());
        List<ClBuffer> params = new ArrayList<>();
        for (String n : paramNames) params.add(graph.parameters().get(n));
        this.adam = new MultiTensorAdam(ctx, params, new Adam.Options(s.learningRate(), 0.9, 0.999, 1e-8));
        if (resume != null && resume.optimizer() != null) {
            for (int i = 0; i < paramNames.size(); i++) {
                adam.firstMoments().get(i).write(resume.optimizer().m().get(paramNames.get(i)));
                adam.secondMoments().get(i).write(resume.optimizer().v().get(paramNames.get(i)));
            }
            adam.setSteps(resume.optimizer().steps());
        }
        this.step = resume == null ? 0 : resume.step();
        int n = s.batch(), sz = s.size();
        List<float[]> styleData = new ArrayList<>();
        List<int[]> styleHW = new ArrayList<>();
        for (FloatImage st : styles) {
            styleData.add(st.data());
            styleHW.add(new int[] {st.height(), st.width()});
        }
        double[] speeds = contexts.size() > 1 ? org.clstyle.loss.TileDealer.forcedSpeeds(contexts.size()) : null;
        List<OutputMapping> mappings = new ArrayList<>();
        for (ClContext c : contexts) {
            losses.add(new LossFunction(c, weights, recipe, s.texture() ? null : new float[3 * sz * sz], sz, sz, styleData, styleHW));
            mappings.add(new OutputMapping(c, s.spec()));
        }
        this.mapping = mappings.get(0);
        this.vectors = new VectorOps(ctx);
        this.imageOps = new ImageOps(ctx);
        this.noise = new UniformNoise(ctx);
        this.input = ctx.buffer(n, 3, sz, sz);
        this.crops = s.texture() ? null : ctx.buffer(n, 3, sz, sz);
        this.batchLoss = new BatchLoss(contexts, losses, mappings, sz, sz, n, speeds);
        if (contexts.size() > 1) {
            this.listener.onNote("the batch's losses shared by " + contexts.size() + " devices: " + batchLoss.split());
        }
        this.dOut = ctx.buffer(n, 3, sz, sz);
        vectors.fill(input, 0f);
        this.source = s.texture() ? null : new CropSource(CropSource.listImages(s.contentDir()), s.seed(), sz, s.maxPixels());
    }

    /**
     * PyTorch's default initialisation, from {@code seed}: convolution weight and bias uniform in
     * +-1/sqrt(fan_in) (kaiming_uniform with a = sqrt(5), and the bias rule), normalisation weight 1, bias 0.
     */
    public static Map<String, float[]> initialParameters(Network net, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Map<String, float[]> p = new LinkedHashMap<>();
        for (Node node : net.nodes()) {
            Layer l = node.layer();
            if (l instanceof Layer.Conv2d c) {
                double bound = 1 / Math.sqrt((double) c.inChannels() * c.kernel() * c.kernel());
                float[] w = new float[c.outChannels() * c.inChannels() * c.kernel() * c.kernel()];
                float[] b = new float[c.outChannels()];
                for (int i = 0; i < w.length; i++) w[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
                for (int i = 0; i < b.length; i++) b[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
                p.put(node.parameter("weight"), w);
                p.put(node.parameter("bias"), b);
            } else if (!l.parameterNames().isEmpty()) {
                int c = l.parameterShape("weight")[0];
                float[] w = new float[c];
                java.util.Arrays.fill(w, 1f);
                p.put(node.parameter("weight"), w);
                p.put(node.parameter("bias"), new float[c]);
            }
        }
        return p;
    }

    /** Asks the loop to stop after the current step (a checkpoint is then written by the caller). */
    public void requestStop() {
        stopRequested = true;
    }

    /**
     * Runs steps until {@link TrainSettings#steps()} or a stop, then writes the model to the output (without
     * the optimiser) or, when stopped after at least one step, the checkpoint (with it); {@code installHook}:
     * Ctrl-C stops after the current step and waits for that file.
     */
    public Result run(boolean installHook) throws ImageException, WeightsException, InterruptedException {
        Thread hook = null;
        if (installHook) {
            hook = new Thread(() -> {
                requestStop();
                try {
                    finished.await(300, TimeUnit.SECONDS); // let the loop write its checkpoint
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }, "clstyle-train-stop");
            Runtime.getRuntime().addShutdownHook(hook);
        }
        try {
            // Written before the stop hook is released, so that Ctrl-C waits for the file.
            int start = step;
            Result r = runInner();
            if (!r.interrupted()) {
                r.model().save(s.output());
                return new Result(r.model(), r.step(), false, s.output());
            }
            if (r.step() > start) {
                java.nio.file.Path ckpt = TrainSettings.checkpointPath(s.output());
                r.model().save(ckpt);
                return new Result(r.model(), r.step(), true, ckpt);
            }
            return r;
        } finally {
            finished.countDown();
            if (hook != null) {
                try {
                    Runtime.getRuntime().removeShutdownHook(hook);
                } catch (IllegalStateException ignored) {
                    // shutting down: the hook is what is running
                }
            }
        }
    }

    private Result runInner() throws ImageException, WeightsException, InterruptedException {
        int n = s.batch(), sz = s.size();
        if (source != null) {
            source.start((long) step * n, n);
        }
        listener.onScaleStart(1, 1, sz, sz, s.steps());
        long t0 = System.nanoTime();
        int first = step;
        BufferedWriter log = null;
        try {
            if (s.logJson() != null) {
                log = Files.newBufferedWriter(s.logJson(), StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                        first > 0 ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
            }
            while (step < s.steps() && !stopRequested) {
                int k = step + 1;
                if (source != null) {
                    float[] batch = source.next();
                    crops.write(batch);
                    for (int i = 0; i < batch.length; i++) batch[i] -= 0.5f;
                    input.write(batch);
                } else if (!s.spec().isPyramid()) {
                    noise.fill(input, noiseSeed(k) ^ 0x5DEECE66DL, 0, -0.5f, 0.5f);
                }
                ClBuffer out = graph.forward(input, noiseSeed(k));
                BatchLoss.Values bv;
                try {
                    bv = batchLoss.evaluate(out, crops, dOut, (i, image) -> {
                        if (i == 0 && s.previewEvery() > 0 && k % s.previewEvery() == 0) {
                            writePreview(k, image);
                        }
                    });
                } catch (ImageException | RuntimeException e) {
                    throw e;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
                double total = bv.total(), wContent = 0, wStyle = 0, wTv;
                Map<String, Double> rawContent = bv.content(), rawStyle = bv.style();
                double rawTv = bv.tv();
                for (Map.Entry<String, Double> e : rawContent.entrySet()) {
                    wContent += recipe.content().weight() * recipe.content().layers().get(e.getKey()) * e.getValue();
                }
                for (Map.Entry<String, Double> e : rawStyle.entrySet()) {
                    wStyle += recipe.style().weight() * recipe.style().layers().get(e.getKey()) * e.getValue();
                }
                wTv = recipe.tv().weight() * rawTv;
                if (!Double.isFinite(total)) {
                    throw new IllegalStateException("the loss became " + total + " at step " + k
                            + "; lower --learning-rate or the weight far above its default (nothing written at this step)");
                }
                graph.backward(dOut, null);
                adam.setLearningRate(s.learningRate(k));
                List<ClBuffer> grads = new ArrayList<>(paramNames.size());
                for (String p : paramNames) grads.add(graph.gradients().get(p));
                adam.step(grads);
                step = k;
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (log != null) {
                    ObjectNode o = JSON.createObjectNode();
                    o.put("step", k);
                    o.put("seconds", seconds);
                    o.put("learning_rate", s.learningRate(k));
                    o.put("total", total);
                    o.put("content", wContent);
                    o.put("style", wStyle);
                    o.put("tv", wTv);
                    ObjectNode raw = o.putObject("raw");
                    rawContent.forEach((l, x) -> raw.put("content_" + l, x));
                    rawStyle.forEach((l, x) -> raw.put("style_" + l, x));
                    raw.put("tv", rawTv);
                    log.write(JSON.writeValueAsString(o));
                    log.newLine();
                    log.flush();
                }
                int done = k - first;
                Duration elapsed = Duration.ofNanos(System.nanoTime() - t0);
                Duration eta = Duration.ofNanos((long) ((double) elapsed.toNanos() / done * (s.steps() - k)));
                listener.onIteration(new ProgressListener.Progress(1, 1, sz, sz, k, s.steps(),
                        new LossValues(total, rawContent, rawStyle, rawTv),
                        new ProgressListener.Weighted(wContent, wStyle, wTv), elapsed, eta));
                if (s.checkpointEvery() > 0 && k % s.checkpointEvery() == 0 && k < s.steps()) {
                    model(true).save(TrainSettings.checkpointPath(s.output()));
                }
            }
        } catch (IOException e) {
            throw new WeightsException("--log-json " + s.logJson() + ": cannot write (" + e.getMessage() + ")");
        } finally {
            if (log != null) {
                try {
                    log.close();
                } catch (IOException ignored) {
                    // reported by the write that failed
                }
            }
        }
        boolean interrupted = step < s.steps();
        return new Result(model(interrupted), step, interrupted, null);
    }

    /** The noise seed of step k (the pyramid's noise nodes; Johnson's texture input). */
    private long noiseSeed(int k) {
        long z = s.seed() * 0x9E3779B97F4A7C15L + k;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        return (z ^ (z >>> 27)) & Long.MAX_VALUE;
    }

    private void writePreview(int k, ClBuffer image) throws ImageException {
        float[] v = image.read();
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                return; // never written as an image; the loss check reports it
            }
            v[i] = Math.min(1f, Math.max(0f, v[i]));
        }
        Images.write(new FloatImage(s.size(), s.size(), v), s.previewPath(k));
        listener.onImageSaved(k, null, s.previewPath(k));
    }

    /** The current model; {@code withOptimizer} adds Adam's state (a checkpoint). */
    public GeneratorModel model(boolean withOptimizer) {
        ctx.finish();
        Map<String, float[]> p = new LinkedHashMap<>(), st = new LinkedHashMap<>();
        graph.parameters().forEach((k, b) -> p.put(k, b.read()));
        graph.state().forEach((k, b) -> st.put(k, b.read()));
        Map<String, String> meta = new LinkedHashMap<>(info);
        meta.put("train.step", Integer.toString(step));
        meta.put("train.steps", Integer.toString(s.steps()));
        meta.put("train.batch", Integer.toString(s.batch()));
        meta.put("train.size", Integer.toString(s.size()));
        meta.put("train.mode", s.texture() ? "texture" : "stylization");
        meta.put("train.learning_rate", Double.toString(s.learningRate()));
        meta.put("train.lr_decay", Double.toString(s.lrDecay()));
        meta.put("train.lr_decay_every", Integer.toString(s.lrDecayEvery()));
        meta.put("train.seed", Long.toString(s.seed()));
        meta.put("train.recipe", recipe.toJson());
        GeneratorModel.Optimizer opt = null;
        if (withOptimizer) {
            Map<String, float[]> m = new LinkedHashMap<>(), v = new LinkedHashMap<>();
            for (int i = 0; i < paramNames.size(); i++) {
                m.put(paramNames.get(i), adam.firstMoments().get(i).read());
                v.put(paramNames.get(i), adam.secondMoments().get(i).read());
            }
            opt = new GeneratorModel.Optimizer(adam.steps(), m, v);
        }
        return new GeneratorModel(s.spec(), p, st, meta, opt);
    }

    /** Device bytes held by the generator, its optimiser and the loss's buffers this trainer allocated. */
    public long deviceBytes() {
        return graph.deviceBytes() + adam.deviceBytes();
    }

    @Override
    public void close() {
        if (source != null) source.close();
        batchLoss.close();
        losses.forEach(LossFunction::close);
        adam.close();
        for (ClBuffer b : new ClBuffer[] {input, crops, dOut}) {
            if (b != null) b.close();
        }
        if (((Object) graph) instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // releasing device memory
            }
        }
    }
}
