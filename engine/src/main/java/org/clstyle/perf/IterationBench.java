package org.clstyle.perf;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.OpSettings;
import org.clstyle.tune.TuningTable;
import org.clstyle.ops.Distance;
import org.clstyle.ops.GramMatrix;
import org.clstyle.ops.Pool2x2;
import org.clstyle.loss.ImageLoss;
import org.clstyle.loss.LossFactory;
import org.clstyle.nn.DeviceNetwork;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.Recipe;
import org.clstyle.loss.ShardedTiledLoss;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;

/**
 * The Gatys iteration, stage by stage, for timing: VGG19 forward from a [3, S, S] network input to
 * relu5_1 (convolutions with fused ReLU, max pooling), Gram-matrix MSE at relu1_1 ... relu5_1 and
 * feature MSE at relu4_2, then the backward pass to the input only (style transfer needs no weight
 * gradients). Composed directly from the kernel ops so that each stage can be timed on its own;
 * the weights are random and full width (He initialisation), the images random.
 *
 * <p>Stage times are host-clock intervals closed by {@code ctx.finish()}; on a profiling context
 * every launch already waits for its kernel, so they are device time plus launch overhead. The
 * iteration time is the wall time of a whole iteration including those finishes.
 */
public final class IterationBench implements AutoCloseable {
    /** A VGG19 convolution up to conv5_1: channels, spatial divisor (1, 2, 4, 8, 16), max pool after it or not. */
    public record ConvLayer(String name, int cin, int cout, int divisor, boolean poolAfter) {
        public String relu() { return "relu" + name.substring(4); }
    }

    /** VGG19's convolutions up to relu5_1, the deepest layer the Gatys losses read. */
    public static final List<ConvLayer> LAYERS = List.of(
            new ConvLayer("conv1_1", 3, 64, 1, false), new ConvLayer("conv1_2", 64, 64, 1, true),
            new ConvLayer("conv2_1", 64, 128, 2, false), new ConvLayer("conv2_2", 128, 128, 2, true),
            new ConvLayer("conv3_1", 128, 256, 4, false), new ConvLayer("conv3_2", 256, 256, 4, false),
            new ConvLayer("conv3_3", 256, 256, 4, false), new ConvLayer("conv3_4", 256, 256, 4, true),
            new ConvLayer("conv4_1", 256, 512, 8, false), new ConvLayer("conv4_2", 512, 512, 8, false),
            new ConvLayer("conv4_3", 512, 512, 8, false), new ConvLayer("conv4_4", 512, 512, 8, true),
            new ConvLayer("conv5_1", 512, 512, 16, false));

    public static final List<String> STYLE_LAYERS = List.of("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1");
    public static final String CONTENT_LAYER = "relu4_2";

    /** One timed stage: its forward and backward seconds and the work it does (GFLOP, or GB moved when memory-bound). */
    public record Row(String name, double forwardSeconds, double backwardSeconds, double gflop, double gbytes) {
        public double seconds() { return forwardSeconds + backwardSeconds; }
    }

    /** What {@link #run} measured. */
    public record Result(int size, List<Double> iterationSeconds, List<Row> rows, double loss, long peakBytes) {
        public double medianSeconds() {
            List<Double> s = new ArrayList<>(iterationSeconds);
            Collections.sort(s);
            int n = s.size();
            return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
        }

        public double minSeconds() { return Collections.min(iterationSeconds); }

        public double gflop() { return rows.stream().mapToDouble(Row::gflop).sum(); }
    }

    private final ClContext ctx;
    private final int size;
    private final Conv3x3 conv;
    private final GramMatrix gram;
    private final Pool2x2 pool;
    private final Distance distance;

    // Package-private fields: IterationBenchTest reads them back for its reference iteration.
    final ClBuffer image;            // [3, S, S] network input
    final ClBuffer imageGrad;        // [3, S, S]
    final ClBuffer[] weight;         // [Cout, Cin, 3, 3] per layer
    final ClBuffer[] bias;           // [Cout] per layer
    private final ClBuffer[] act;            // [Cout, S/d, S/d] per layer: ReLU output
    private final ClBuffer[] pooled;         // [Cout, S/2d, S/2d] after a pooling layer, else null
    private final Map<String, ClBuffer[]> gradPair = new HashMap<>(); // two [C, H, W] gradient buffers per shape
    private final Map<String, ClBuffer> gramOf = new HashMap<>();       // [C, C] per style layer
    private final Map<String, ClBuffer> gramGrad = new HashMap<>();     // [C, C] per style layer
    final Map<String, ClBuffer> gramTarget = new HashMap<>();   // [C, C] per style layer
    final ClBuffer contentTarget;    // [512, S/8, S/8]
    final ClBuffer losses;           // [6]: five style terms, then content

    /**
     * Allocates everything for {@code size} x {@code size} images on {@code ctx}, uploads random
     * weights, and computes the targets from a random style and a random content image.
     */
    public IterationBench(ClContext ctx, int size, long seed) {
        if (size < 16) {
            throw new IllegalArgumentException("--size " + size + ": must be at least 16 (VGG19 pools four times before relu5_1)");
        }
        this.ctx = ctx;
        this.size = size;
        OpSettings tuning = TuningTable.load(ctx.device());
        conv = new Conv3x3(ctx, tuning);
        gram = new GramMatrix(ctx, tuning);
        pool = new Pool2x2(ctx, tuning);
        distance = new Distance(ctx);
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = LAYERS.size();
        weight = new ClBuffer[n];
        bias = new ClBuffer[n];
        act = new ClBuffer[n];
        pooled = new ClBuffer[n];
        image = ctx.buffer(uniform(rnd, 3 * size * size), 3, size, size);
        imageGrad = ctx.buffer(3, size, size);
        int h = size, w = size;
        for (int l = 0; l < n; l++) {
            ConvLayer c = LAYERS.get(l);
            double std = Math.sqrt(2.0 / (c.cin() * 9)); // He initialisation keeps activations O(1) through the net
            weight[l] = ctx.buffer(normal(rnd, c.cout() * c.cin() * 9, std), c.cout(), c.cin(), 3, 3);
            bias[l] = ctx.buffer(normal(rnd, c.cout(), 0.01), c.cout());
            act[l] = ctx.buffer(c.cout(), h, w);
            grads(c.cout(), h, w);
            if (c.poolAfter()) {
                h /= 2;
                w /= 2;
                pooled[l] = ctx.buffer(c.cout(), h, w);
                grads(c.cout(), h, w);
            }
            if (STYLE_LAYERS.contains(c.relu())) {
                gramOf.put(c.relu(), ctx.buffer(c.cout(), c.cout()));
                gramGrad.put(c.relu(), ctx.buffer(c.cout(), c.cout()));
                gramTarget.put(c.relu(), ctx.buffer(c.cout(), c.cout()));
            }
        }
        contentTarget = ctx.buffer(act[index(CONTENT_LAYER)].shape());
        losses = ctx.buffer(STYLE_LAYERS.size() + 1);

        // Targets: Gram matrices of a random style image, features of a random content image.
        image.write(uniform(rnd, 3 * size * size));
        forward(null);
        for (String s : STYLE_LAYERS) {
            gramTarget.get(s).copyFrom(gramOf.get(s));
        }
        image.write(uniform(rnd, 3 * size * size));
        forward(null);
        contentTarget.copyFrom(act[index(CONTENT_LAYER)]);
        image.write(uniform(rnd, 3 * size * size));
        ctx.finish();
    }

    public int size() { return size; }

    /** The variant the convolution {@code layer} runs as on this device (DIRECT, WINOGRAD, WINOGRAD4 or GEMM). */
    public Conv3x3.Variant variant(String layer) {
        for (ConvLayer c : LAYERS) {
            if (c.name().equals(layer)) {
                int h = size / c.divisor();
                return conv.variantFor(c.cin(), c.cout(), h, h);
            }
        }
        throw new IllegalArgumentException("unknown layer " + layer);
    }

    /**
     * What {@link #pipeline} measured: timed iterations, the last loss, the first context's peak memory, which
     * tiles each device evaluated ({@link ShardedTiledLoss#split()}, "" for one device), and
     * per timed iteration on the first context: kernel launches, and the host's waits for the device
     * (blocking reads, writes and finishes, the bench's own finishes around each iteration not counted).
     */
    public record PipelineResult(List<Double> iterationSeconds, double loss, long peakBytes, String split,
            double launchesPerIteration, double hostWaitsPerIteration) {
        public double medianSeconds() { return median(iterationSeconds.stream().mapToDouble(Double::doubleValue).toArray()); }

        public double minSeconds() { return Collections.min(iterationSeconds); }
    }

    /**
     * The same iteration through the pipeline that stylize runs: {@link LossFunction#evaluate} on
     * random full-width VGG19 weights ({@link VggWeights#of}, He initialisation, Caffe preprocessing)
     * with the default recipe's layers (style relu1_1 ... relu5_1, content relu4_2), MSE losses, max
     * pooling and no total variation, random content, style and image. Each iteration is timed from
     * the call to its return (evaluate blocks on its one read of the loss terms). Use a fresh
     * context: its peak memory is reported.
     */
    public static PipelineResult pipeline(ClContext ctx, int size, int warmup, int iterations, long seed) {
        return pipeline(ctx, size, size, warmup, iterations, seed, LossFactory.Tiling.NONE);
    }

    /** The pipeline's recipe on these weights: the default layers, MSE, max pooling, no total variation. */
    public static Recipe pipelineRecipe(VggWeights weights) {
        return Recipe.defaultsFor(weights.preprocessing()).toBuilder().tvWeight(0).pooling(org.clstyle.vgg.Pooling.MAX).build();
    }

    /**
     * The loss plan {@link #pipeline} uses for an h x w image (content and one style image of that size)
     * with {@code tiling} ({@link LossFactory#plan}; the weights only give the layer table).
     */
    public static LossFactory.Plan pipelinePlan(VggWeights weights, int h, int w, LossFactory.Tiling tiling) {
        return LossFactory.plan(weights, pipelineRecipe(weights), true, h, w, List.of(new int[] {h, w}), false, tiling, 0);
    }

    /**
     * As above for an h x w image (content and style h x w too), the loss whole or in tiles as
     * {@code tiling} and {@link LossFactory#plan} decide; the peak includes the tiled loss's targets.
     */
    public static PipelineResult pipeline(ClContext ctx, int h, int w, int warmup, int iterations, long seed,
            LossFactory.Tiling tiling) {
        return pipeline(List.of(ctx), h, w, warmup, iterations, seed, tiling);
    }

    /**
     * As above with the loss's tiles shared by several contexts (one per device, {@link
     * LossFactory#create(LossFactory.Plan, List, VggWeights, Recipe, float[], int, int, List, List, boolean)});
     * the image lives on the first, whose peak memory is reported.
     */
    public static PipelineResult pipeline(List<ClContext> contexts, int h, int w, int warmup, int iterations, long seed,
            LossFactory.Tiling tiling) {
        return pipeline(contexts, h, w, warmup, iterations, seed, tiling, DeviceNetwork.Storage.FLOAT);
    }

    /** As above with the loss network's activations stored as {@code storage} (half: untiled, one device). */
    public static PipelineResult pipeline(List<ClContext> contexts, int h, int w, int warmup, int iterations, long seed,
            LossFactory.Tiling tiling, DeviceNetwork.Storage storage) {
        ClContext ctx = contexts.get(0);
        if (Math.min(h, w) < 16) {
            throw new IllegalArgumentException("--size " + w + "x" + h + ": sides must be at least 16 (VGG19 pools four times before relu5_1)");
        }
        if (iterations < 1) {
            throw new IllegalArgumentException("--iterations " + iterations + ": must be at least 1");
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        VggWeights weights = randomWeights(rnd);
        Recipe recipe = pipelineRecipe(weights);
        int n = 3 * h * w;
        float[] content = uniform(rnd, n);
        float[] style = uniform(rnd, n);
        float[] start = uniform(rnd, n);
        LossFactory.Plan plan = pipelinePlan(weights, h, w, tiling.onDevices(contexts.size()));
        List<Double> times = new ArrayList<>();
        long launches = 0, waits = 0;
        double loss;
        String split;
        try (ImageLoss f = LossFactory.create(plan, contexts, weights, recipe, content, h, w, List.of(style), List.of(new int[] {h, w}), false,
                storage);
             ClBuffer image = ctx.buffer(start, 3, h, w); // [3, H, W]
             ClBuffer grad = ctx.buffer(3, h, w)) {       // [3, H, W]
            content = null;
            style = null;
            split = f instanceof ShardedTiledLoss s ? s.split() : "";
            for (int i = 0; i < warmup; i++) {
                f.evaluate(image, grad);
            }
            loss = Double.NaN;
            for (int i = 0; i < iterations; i++) {
                ctx.finish();
                long l0 = ctx.launches(), w0 = ctx.hostWaits();
                long t0 = System.nanoTime();
                loss = f.evaluate(image, grad).total();
                ctx.finish();
                times.add((System.nanoTime() - t0) / 1e9);
                launches += ctx.launches() - l0;
                waits += ctx.hostWaits() - w0 - 1; // less the finish above
            }
            if (!Double.isFinite(loss)) {
                throw new IllegalStateException("the pipeline's loss is " + loss + ": the iteration is broken");
            }
        }
        return new PipelineResult(times, loss, ctx.peakBytes(), split, (double) launches / iterations, (double) waits / iterations);
    }

    /** Full-width VGG19 with He-initialised weights and small random biases, Caffe preprocessing. */
    public static VggWeights randomWeights(SplittableRandom rnd) {
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        int cin = VggArchitecture.IMAGE_CHANNELS;
        for (int l = 0; l < VggArchitecture.VGG19.convLayers().size(); l++) {
            String name = VggArchitecture.VGG19.convLayers().get(l);
            int cout = VggArchitecture.VGG19.fullChannels()[l];
            // He initialisation; the Caffe input is 0-255, so the first layer is scaled down to keep activations O(1).
            double std = Math.sqrt(2.0 / (cin * 9)) / (l == 0 ? 100 : 1);
            w.put(name, normal(rnd, cout * cin * 9, std));
            b.put(name, normal(rnd, cout, 0.01));
            cin = cout;
        }
        return VggWeights.of(w, b, Preprocessing.CAFFE);
    }


    /** The work of each stage, in the order of {@link Result#rows()}. */
    public List<Row> work() {
        List<Row> rows = new ArrayList<>();
        for (ConvLayer c : LAYERS) {
            int h = size / c.divisor();
            // Forward conv and the backward to its input; conv1_1's input gradient is the image's.
            rows.add(new Row(c.name(), 0, 0, 2 * Conv3x3.flops(c.cin(), c.cout(), h, h) / 1e9, 0));
            if (STYLE_LAYERS.contains(c.relu())) {
                double hw = (double) h * h;
                // Gram forward and backward: C x C outputs of HW-long dot products, then (dG + dG^T) F.
                rows.add(new Row("style " + c.relu(), 0, 0, 2 * 2.0 * c.cout() * c.cout() * hw / 1e9, 0));
            }
            if (c.relu().equals(CONTENT_LAYER)) {
                double e = (double) c.cout() * h * h;
                // MSE reads a and b; its backward reads a, b, grad and writes grad.
                rows.add(new Row("content " + c.relu(), 0, 0, 0, (2 + 4) * e * Float.BYTES / 1e9));
            }
            if (c.poolAfter()) {
                double e = (double) c.cout() * h * h;
                // Forward reads x, writes x/4; backward reads x and dy (x/4), writes dx.
                rows.add(new Row("pool" + c.name().charAt(4), 0, 0, 0, (1.25 + 2.25) * e * Float.BYTES / 1e9));
            }
        }
        return rows;
    }

    /**
     * Runs {@code warmup} untimed and {@code iterations} timed iterations; the rows hold each stage's
     * median over the timed ones. The peak memory is the context's peak while this bench ran.
     */
    public Result run(int warmup, int iterations) {
        if (iterations < 1) {
            throw new IllegalArgumentException("--iterations " + iterations + ": must be at least 1");
        }
        for (int i = 0; i < warmup; i++) {
            iteration(null);
        }
        List<Row> work = work();
        double[][] fwd = new double[work.size()][iterations];
        double[][] bwd = new double[work.size()][iterations];
        List<Double> total = new ArrayList<>();
        for (int it = 0; it < iterations; it++) {
            Timer t = new Timer(work.size());
            long start = System.nanoTime();
            iteration(t);
            total.add((System.nanoTime() - start) / 1e9);
            for (int r = 0; r < work.size(); r++) {
                fwd[r][it] = t.forward[r];
                bwd[r][it] = t.backward[r];
            }
        }
        List<Row> rows = new ArrayList<>();
        for (int r = 0; r < work.size(); r++) {
            Row w = work.get(r);
            rows.add(new Row(w.name(), median(fwd[r]), median(bwd[r]), w.gflop(), w.gbytes()));
        }
        float[] l = losses.read();
        double loss = 0;
        for (float v : l) {
            loss += v;
        }
        float[] g = imageGrad.read();
        for (float v : g) {
            if (!Float.isFinite(v)) {
                throw new IllegalStateException("the image gradient holds " + v + ": the iteration is broken");
            }
        }
        if (!Double.isFinite(loss)) {
            throw new IllegalStateException("the loss is " + loss + ": the iteration is broken");
        }
        return new Result(size, total, rows, loss, ctx.peakBytes());
    }

    /** Stage timer: stage r's forward or backward seconds, each interval closed by a finish. */
    private final class Timer {
        final double[] forward, backward;
        long mark;

        Timer(int rows) {
            forward = new double[rows];
            backward = new double[rows];
            ctx.finish();
            mark = System.nanoTime();
        }

        void forward(int row) { forward[row] += lap(); }

        void backward(int row) { backward[row] += lap(); }

        private double lap() {
            ctx.finish();
            long now = System.nanoTime();
            double s = (now - mark) / 1e9;
            mark = now;
            return s;
        }
    }

    /** One iteration: forward with the losses, then backward to the image gradient. */
    private void iteration(Timer t) {
        int[] rowOf = forward(t);
        backward(t, rowOf);
        ctx.finish();
    }

    /** Forward to relu5_1 and the loss values; returns, per layer, the row of its conv (style/content/pool rows follow it). */
    private int[] forward(Timer t) {
        int[] rowOf = new int[LAYERS.size()];
        int row = 0;
        ClBuffer x = image;
        for (int l = 0; l < LAYERS.size(); l++) {
            ConvLayer c = LAYERS.get(l);
            rowOf[l] = row;
            conv.forward(x, weight[l], bias[l], act[l], true);
            if (t != null) t.forward(row);
            row++;
            int s = STYLE_LAYERS.indexOf(c.relu());
            if (s >= 0) {
                ClBuffer f = act[l];
                gram.forward(f, gramOf.get(c.relu()), (double) f.elements());
                distance.forward(Distance.Kind.MSE, gramOf.get(c.relu()), gramTarget.get(c.relu()), losses, s);
                if (t != null) t.forward(row);
                row++;
            }
            if (c.relu().equals(CONTENT_LAYER)) {
                distance.forward(Distance.Kind.MSE, act[l], contentTarget, losses, STYLE_LAYERS.size());
                if (t != null) t.forward(row);
                row++;
            }
            x = act[l];
            if (c.poolAfter()) {
                pool.maxForward(act[l], pooled[l]);
                if (t != null) t.forward(row);
                row++;
                x = pooled[l];
            }
        }
        return rowOf;
    }

    /** Backward from the losses to the image; stage rows as in {@link #forward}. */
    private void backward(Timer t, int[] rowOf) {
        ClBuffer dAct = null; // gradient of act[l] while walking down; null above relu5_1
        for (int l = LAYERS.size() - 1; l >= 0; l--) {
            ConvLayer c = LAYERS.get(l);
            int row = rowOf[l];
            int extra = row + 1;
            int styleRow = -1, contentRow = -1, poolRow = -1;
            if (STYLE_LAYERS.contains(c.relu())) styleRow = extra++;
            if (c.relu().equals(CONTENT_LAYER)) contentRow = extra++;
            if (c.poolAfter()) poolRow = extra;
            // g: the gradient of act[l]. Without pooling the layer above already wrote it (dAct).
            ClBuffer g = c.poolAfter() || dAct == null ? grad(act[l], null) : dAct;
            if (c.poolAfter()) {
                // dAct holds the gradient of pooled[l] here.
                pool.maxBackward(act[l], dAct, g);
                if (t != null) t.backward(poolRow);
            }
            boolean have = dAct != null;
            if (contentRow >= 0) {
                distance.backward(Distance.Kind.MSE, act[l], contentTarget, 1f, g, have);
                have = true;
                if (t != null) t.backward(contentRow);
            }
            if (styleRow >= 0) {
                ClBuffer gm = gramGrad.get(c.relu());
                distance.backward(Distance.Kind.MSE, gramOf.get(c.relu()), gramTarget.get(c.relu()), 1f, gm, false);
                gram.backward(gm, act[l], g, (double) act[l].elements(), have);
                have = true;
                if (t != null) t.backward(styleRow);
            }
            // Gradient of this conv's input: the previous layer's activation, its pooled output, or the image.
            ClBuffer dx;
            if (l == 0) {
                dx = imageGrad;
            } else if (LAYERS.get(l - 1).poolAfter()) {
                dx = grad(pooled[l - 1], g);
            } else {
                dx = grad(act[l - 1], g);
            }
            conv.backwardInput(g, weight[l], act[l], dx);
            if (t != null) t.backward(row);
            dAct = dx;
        }
    }

    /** A gradient buffer shaped like {@code like} that is not {@code busy} (two per shape, alternating). */
    private ClBuffer grad(ClBuffer like, ClBuffer busy) {
        ClBuffer[] pair = gradPair.get(key(like.shape()));
        return pair[0] == busy ? pair[1] : pair[0];
    }

    private void grads(int c, int h, int w) {
        gradPair.computeIfAbsent(key(new int[] {c, h, w}), k -> new ClBuffer[] {ctx.buffer(c, h, w), ctx.buffer(c, h, w)});
    }

    private static String key(int[] shape) {
        return java.util.Arrays.toString(shape);
    }

    private static int index(String relu) {
        for (int l = 0; l < LAYERS.size(); l++) {
            if (LAYERS.get(l).relu().equals(relu)) {
                return l;
            }
        }
        throw new IllegalArgumentException("no layer " + relu);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }

    private static float[] uniform(SplittableRandom r, int n) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) r.nextDouble();
        }
        return out;
    }

    private static float[] normal(SplittableRandom r, int n, double std) {
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            double u1 = Math.max(r.nextDouble(), 1e-300), u2 = r.nextDouble();
            out[i] = (float) (std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
        }
        return out;
    }

    @Override
    public void close() {
        List<ClBuffer> all = new ArrayList<>(List.of(image, imageGrad, contentTarget, losses));
        for (ClBuffer[] arr : List.of(weight, bias, act, pooled)) {
            for (ClBuffer b : arr) {
                if (b != null) all.add(b);
            }
        }
        for (ClBuffer[] p : gradPair.values()) {
            all.addAll(List.of(p));
        }
        all.addAll(gramOf.values());
        all.addAll(gramGrad.values());
        all.addAll(gramTarget.values());
        for (ClBuffer b : all) {
            b.close();
        }
        conv.close(); // its workspace and packed weights
    }
}
