package org.clstyle.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import org.clstyle.io.AtomicFile;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.ops.Conv3x3;
import org.clstyle.ops.DevicePeak;
import org.clstyle.loss.LossFactory;
import org.clstyle.perf.IterationBench;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code clstyle bench}: times the Gatys iteration (VGG19 to relu5_1, Gram MSE at relu1_1 ... relu5_1
 * and MSE at relu4_2, backward to the image) on random full-width weights and random images, and
 * prints per-stage and total time, GFLOP, GFLOP/s and the fraction of the device's measured peak.
 * The iteration time and peak memory come from the pipeline stylize runs (LossFunction.evaluate);
 * the per-stage table from {@link IterationBench}'s replay of the same iteration with a finish after
 * every stage on a profiling context.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Time the style-transfer iteration on random VGG19 weights and images; per-layer table.")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--size", paramLabel = "N|WxH", description = "Image side in pixels, or width x height (default ${DEFAULT-VALUE}).")
    String sizeText = "256";

    /** The square side (the per-stage table's size); for WxH, the larger side. */
    int size;
    int width, height;

    @Mixin
    CommonOptions.Tiling tiling;

    @Option(names = "--iterations", paramLabel = "K", description = "Timed iterations (default ${DEFAULT-VALUE}).")
    int iterations = 5;

    @Option(names = "--warmup", paramLabel = "W", description = "Untimed iterations first (default ${DEFAULT-VALUE}).")
    int warmup = 1;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON to FILE.")
    Path json;

    @Mixin
    CommonOptions.Device device;

    @Mixin
    CommonOptions.Storage storage;

    @Option(names = "--profile", description = "With --generator: also time every kernel (a profiling queue, which"
            + " waits for each launch) and print where the device time went, per kernel, for each row.")
    boolean profile;

    @Option(names = "--generator", paramLabel = "pyramid|johnson",
            description = "Time a feed-forward generator instead: generation at 512 and 1024 px, one training step (batch 4, 256 px), peak device memory.")
    String generator;

    @Override
    public Integer call() throws IOException {
        java.util.regex.Matcher sm = java.util.regex.Pattern.compile("\\s*(\\d{1,6})\\s*(?:[xX]\\s*(\\d{1,6})\\s*)?").matcher(sizeText);
        if (!sm.matches()) {
            throw new UserError("--size must be a side in pixels (512) or width x height (3840x2160), got '" + sizeText + "'");
        }
        width = Integer.parseInt(sm.group(1));
        height = sm.group(2) == null ? width : Integer.parseInt(sm.group(2));
        size = Math.max(width, height);
        if (Math.min(width, height) < 16) {
            throw new UserError("--size " + sizeText.trim() + ": must be at least 16 (VGG19 pools four times before relu5_1)");
        }
        if (size > 8192) {
            throw new UserError("--size " + sizeText.trim() + ": at most 8192");
        }
        LossFactory.Tiling tiles = tiling.tiling();
        if (iterations < 1) {
            throw new UserError("--iterations " + iterations + ": must be at least 1");
        }
        if (warmup < 0) {
            throw new UserError("--warmup " + warmup + ": must not be negative");
        }
        if (json != null) {
            Path dir = json.toAbsolutePath().getParent();
            if (dir == null || !Files.isDirectory(dir)) {
                throw new UserError("--json " + json + ": the directory " + dir + " does not exist");
            }
            if (Files.isDirectory(json)) {
                throw new UserError("--json " + json + ": is a directory");
            }
        }
        org.clstyle.nn.DeviceNetwork.Storage storageChoice = storage.storage();
        boolean halfStorage = storageChoice == org.clstyle.nn.DeviceNetwork.Storage.HALF;
        PrintWriter out = spec.commandLine().getOut();
        List<ClDevice> devs = device.devices();
        ClDevice dev = devs.get(0);
        if (generator != null) {
            if (devs.size() > 1) {
                throw new UserError("--generator runs on one device; give --device one device");
            }
            if (tiles.tile() > 0 || tiles.maxDeviceBytes() > 0) {
                throw new UserError("--generator times the feed-forward generator, which --tile and --max-device-memory do not apply to");
            }
            if (halfStorage) {
                throw new UserError("--storage half applies to the loss network, not to --generator");
            }
            return benchGenerator(out, dev);
        }
        // Half storage: the pipeline alone (the per-stage replay times the float ops).
        if (halfStorage || width != height || tiles.tile() > 0 || tiles.maxDeviceBytes() > 0 || devs.size() > 1) {
            return benchPipeline(out, devs, tiles, storageChoice);
        }

        // The peak first, in its own context so that its buffers do not count toward the iteration's memory.
        DevicePeak.Peak peak;
        try (ClContext pctx = new ClContext(dev, true)) {
            peak = new DevicePeak(pctx).measure();
        }
        out.printf(Locale.ROOT, "device %s%n", dev.label());
        out.printf(Locale.ROOT, "measured peak %.1f GFLOP/s (FMA kernel), %.1f GB/s (copy kernel)%n",
                peak.gflopPerSecond(), peak.gbPerSecond());
        out.printf(Locale.ROOT, "iteration: %dx%d, VGG19 to relu5_1 (random full-width weights), style relu1_1..relu5_1,"
                + " content relu4_2; %d warm-up + %d timed%n%n", size, size, warmup, iterations);
        out.flush();

        // The pipeline as stylize runs it (LossFunction.evaluate) gives the iteration time and memory;
        // the stage-by-stage replay gives the per-layer table. Each in a fresh context.
        IterationBench.PipelineResult p;
        try (ClContext ctx = new ClContext(dev, false)) {
            p = IterationBench.pipeline(ctx, size, warmup, iterations, 1);
        }
        IterationBench.Result r;
        Map<String, Conv3x3.Variant> variants = new HashMap<>();
        try (ClContext ctx = new ClContext(dev, true); IterationBench bench = new IterationBench(ctx, size, 1)) {
            r = bench.run(warmup, iterations);
            for (IterationBench.ConvLayer c : IterationBench.LAYERS) {
                variants.put(c.name(), bench.variant(c.name()));
            }
        }
        this.convVariants = variants;

        out.printf("%-16s %5s %9s %9s %9s %8s %9s %9s %8s %7s%n", "stage", "alg", "fwd ms", "bwd ms", "total ms", "GFLOP",
                "eff GF/s", "exec GF/s", "GB/s", "% peak");
        for (IterationBench.Row row : r.rows()) {
            double s = row.seconds();
            out.printf(Locale.ROOT, "%-16s %5s %9.2f %9.2f %9.2f %8.2f %9s %9s %8s %7s%n", row.name(),
                    row.name().startsWith("conv") ? algorithm(row.name(), true) : "",
                    1e3 * row.forwardSeconds(), 1e3 * row.backwardSeconds(), 1e3 * s, row.gflop(),
                    row.gflop() > 0 ? fmt("%.1f", row.gflop() / s) : "",
                    row.gflop() > 0 ? fmt("%.1f", executedGflop(row) / s) : "",
                    row.gbytes() > 0 ? fmt("%.2f", row.gbytes() / s) : "",
                    fmt("%.0f%%", 100 * fraction(row, peak)));
        }
        double median = p.medianSeconds();
        double stageSum = r.rows().stream().mapToDouble(IterationBench.Row::seconds).sum();
        double gflop = r.gflop();
        double executed = r.rows().stream().mapToDouble(this::executedGflop).sum();
        double megapixels = (double) size * size / 1e6;
        out.printf(Locale.ROOT, "%-16s %5s %9s %9s %9.2f %8.2f %9.1f %9.1f %8s %6.0f%%%n", "sum of stages", "", "", "",
                1e3 * stageSum, gflop, gflop / stageSum, executed / stageSum, "", 100 * executed / stageSum / peak.gflopPerSecond());
        out.println();
        out.println("GFLOP counts a direct 3x3 convolution's multiply-adds (2 per MAC) for every conv, whichever algorithm ran;"
                + " eff GF/s is that count over the time (above the device's peak is possible with Winograd);"
                + " exec GF/s counts what the algorithm executes (Winograd F(2x2,3x3), 'wino', does 16 of direct's 36"
                + " multiplies per 2x2 output tile, F(4x4,3x3), 'wino4', 36 of 144 per 4x4 tile; their transforms are"
                + " not counted), and % peak is exec GF/s (or GB/s for memory-bound"
                + " stages) over the measured peak; above 100% means the peak was measured low (a busy device).");
        out.printf(Locale.ROOT, "stage replay     median %.3f s, min %.3f s (a finish after every stage)%n",
                r.medianSeconds(), r.minSeconds());
        out.printf(Locale.ROOT, "iteration        median %.3f s, min %.3f s over %d (LossFunction.evaluate); %.1f GFLOP direct-equivalent:"
                + " effective %.1f GFLOP/s, executed %.1f GFLOP/s, %.0f%% of peak%n",
                median, p.minSeconds(), iterations, gflop, gflop / median, executed / median,
                100 * executed / median / peak.gflopPerSecond());
        printHost(out, p);
        long wb = weightBytes();
        // The memory that grows with the image, measured as a slope between two sizes: the peak minus the
        // weights still holds fixed buffers (packed weight copies, scratch), which dominate small sizes.
        memorySlope = Double.NaN;
        memoryFixed = Double.NaN;
        int half = size / 2;
        if (half >= 16) {
            IterationBench.PipelineResult ph;
            try (ClContext ctx = new ClContext(dev, false)) {
                ph = IterationBench.pipeline(ctx, half, 0, 1, 1);
            }
            double mpHalf = (double) half * half / 1e6;
            memorySlope = (p.peakBytes() - ph.peakBytes()) / (megapixels - mpHalf);
            memoryFixed = p.peakBytes() - memorySlope * megapixels;
        }
        out.printf(Locale.ROOT, "device memory    peak %.1f MiB at %dx%d (stage replay peak %.1f MiB)%n",
                p.peakBytes() / 1048576.0, size, size, r.peakBytes() / 1048576.0);
        if (!Double.isNaN(memorySlope)) {
            out.printf(Locale.ROOT, "                 = %.1f MiB that does not depend on the size (%.1f MiB of it the weights)"
                    + " + %.1f MiB per megapixel of image (the slope measured between %dx%d and %dx%d);"
                    + " a 1-megapixel image needs about %.0f MiB%n",
                    memoryFixed / 1048576.0, wb / 1048576.0, memorySlope / 1048576.0, half, half, size, size,
                    (memoryFixed + memorySlope) / 1048576.0);
        }
        out.flush();

        if (json != null) {
            writeJson(p, r, dev, peak);
            out.println("wrote " + json);
        }
        return 0;
    }

    /** The host's side of an iteration (first device): kernel launches and waits for the device (each drains its queue). */
    private static void printHost(PrintWriter out, IterationBench.PipelineResult p) {
        out.printf(Locale.ROOT, "host             %.0f kernel launches and %.0f wait%s for the device per iteration%n",
                p.launchesPerIteration(), p.hostWaitsPerIteration(), Math.round(p.hostWaitsPerIteration()) == 1 ? "" : "s");
    }

    /**
     * Only the pipeline stylize runs (no per-stage replay, which is untiled and square): for a WxH size or
     * a tiled loss. Prints the plan, the time per iteration and per megapixel, and the peak device memory.
     */
    private int benchPipeline(PrintWriter out, List<ClDevice> devs, LossFactory.Tiling tiles,
            org.clstyle.nn.DeviceNetwork.Storage storageChoice) throws IOException {
        ClDevice dev = devs.get(0);
        LossFactory.Plan plan;
        try {
            plan = IterationBench.pipelinePlan(IterationBench.randomWeights(new java.util.SplittableRandom(1)), height, width,
                    tiles.onDevices(devs.size()));
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        for (ClDevice d : devs) {
            out.printf(Locale.ROOT, "device %s%n", d.label());
        }
        out.printf(Locale.ROOT, "iteration: %dx%d, VGG19 to relu5_1 (random full-width weights), style relu1_1..relu5_1,"
                + " content relu4_2; %d warm-up + %d timed%n", width, height, warmup, iterations);
        out.printf(Locale.ROOT, "loss: %s%s%s%n%n", plan.description(),
                storageChoice == org.clstyle.nn.DeviceNetwork.Storage.HALF ? "; activations stored as half" : "", devs.size() > 1 ? "; the tiles dealt to " + devs.size()
                + " devices (an untiled plan is cut into tiles of the longest side / " + devs.size() + "), memory per device" : "");
        out.flush();
        IterationBench.PipelineResult p;
        List<ClContext> contexts = new ArrayList<>();
        try {
            for (ClDevice d : devs) {
                contexts.add(new ClContext(d, false));
            }
            p = IterationBench.pipeline(contexts, height, width, warmup, iterations, 1, tiles, storageChoice);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        } finally {
            contexts.forEach(ClContext::close);
        }
        if (!p.split().isEmpty()) {
            out.printf(Locale.ROOT, "split: %s%n", p.split());
        }
        double megapixels = (double) width * height / 1e6;
        out.printf(Locale.ROOT, "iteration        median %.3f s, min %.3f s over %d (%s.evaluate); %.3f s per megapixel%n",
                p.medianSeconds(), p.minSeconds(), iterations,
                devs.size() > 1 ? "ShardedTiledLoss" : plan.tiled() ? "TiledLossFunction" : "LossFunction",
                p.medianSeconds() / megapixels);
        printHost(out, p);
        out.printf(Locale.ROOT, "device memory    peak %.1f MiB at %dx%d (estimate %.1f MiB)%s%n",
                p.peakBytes() / 1048576.0, width, height, plan.estimateBytes() / 1048576.0,
                devs.size() > 1 ? " on the first device" : "");
        out.flush();
        if (json != null) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("date", Instant.now().toString());
            m.put("device", dev.label());
            m.put("devices", devs.stream().map(ClDevice::label).toList());
            m.put("width", width);
            m.put("height", height);
            m.put("loss", plan.description());
            m.put("tile", plan.tile());
            m.put("kept_after", plan.keepAfter());
            m.put("checkpoints", plan.checkpoints());
            m.put("whole_after", plan.wholeAfter());
            m.put("storage", storageChoice.name().toLowerCase(Locale.ROOT));
            m.put("warmup", warmup);
            m.put("iterations", iterations);
            m.put("iteration_seconds_median", p.medianSeconds());
            m.put("iteration_seconds_min", p.minSeconds());
            m.put("iteration_seconds", p.iterationSeconds());
            m.put("seconds_per_megapixel", p.medianSeconds() / megapixels);
            m.put("peak_device_bytes", p.peakBytes());
            m.put("estimated_device_bytes", plan.estimateBytes());
            m.put("launches_per_iteration", p.launchesPerIteration());
            m.put("host_waits_per_iteration", p.hostWaitsPerIteration());
            if (!p.split().isEmpty()) {
                m.put("split", p.split());
            }
            try {
                byte[] bytes = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(m);
                AtomicFile.write(json, os -> os.write(bytes));
            } catch (IOException e) {
                String why = e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null ? " (" + fs.getReason() + ")" : "";
                throw new UserError("--json " + json + ": cannot write" + why);
            }
            out.println("wrote " + json);
        }
        return 0;
    }

    private void writeJson(IterationBench.PipelineResult p, IterationBench.Result r, ClDevice dev, DevicePeak.Peak peak)
            throws IOException {
        double median = p.medianSeconds();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("date", Instant.now().toString());
        m.put("device", dev.label());
        m.put("size", size);
        m.put("warmup", warmup);
        m.put("iterations", iterations);
        m.put("iteration_seconds_median", median);
        m.put("iteration_seconds_min", p.minSeconds());
        m.put("iteration_seconds", p.iterationSeconds());
        m.put("stage_replay_seconds", r.iterationSeconds());
        m.put("gflop_per_iteration", r.gflop());
        double executed = r.rows().stream().mapToDouble(this::executedGflop).sum();
        m.put("gflop_per_second", r.gflop() / median);
        m.put("effective_gflop_per_second", r.gflop() / median);
        m.put("executed_gflop_per_iteration", executed);
        m.put("executed_gflop_per_second", executed / median);
        m.put("peak_gflop_per_second", peak.gflopPerSecond());
        m.put("peak_gb_per_second", peak.gbPerSecond());
        m.put("percent_of_peak", 100 * executed / median / peak.gflopPerSecond());
        m.put("peak_device_bytes", p.peakBytes());
        m.put("peak_device_bytes_per_megapixel", p.peakBytes() / ((double) size * size / 1e6));
        m.put("launches_per_iteration", p.launchesPerIteration());
        m.put("host_waits_per_iteration", p.hostWaitsPerIteration());
        m.put("weight_bytes", weightBytes());
        m.put("peak_device_bytes_per_megapixel_without_weights", (p.peakBytes() - weightBytes()) / ((double) size * size / 1e6));
        if (!Double.isNaN(memorySlope)) {
            m.put("device_bytes_per_megapixel_slope", memorySlope); // between size/2 and size
            m.put("device_bytes_fixed", memoryFixed);
        }
        m.put("stage_replay_peak_device_bytes", r.peakBytes());
        List<Map<String, Object>> layers = new ArrayList<>();
        for (IterationBench.Row row : r.rows()) {
            Map<String, Object> l = new LinkedHashMap<>();
            double s = row.seconds();
            l.put("name", row.name());
            l.put("forward_seconds", row.forwardSeconds());
            l.put("backward_seconds", row.backwardSeconds());
            l.put("seconds", s);
            l.put("gflop", row.gflop());
            l.put("gbytes", row.gbytes());
            l.put("algorithm", row.name().startsWith("conv") ? algorithm(row.name(), false) : null);
            l.put("gflop_per_second", row.gflop() / s);
            l.put("effective_gflop_per_second", row.gflop() / s);
            l.put("executed_gflop_per_second", executedGflop(row) / s);
            l.put("gb_per_second", row.gbytes() / s);
            l.put("percent_of_peak", 100 * fraction(row, peak));
            layers.add(l);
        }
        m.put("layers", layers);
        writeJsonFile(m);
    }

    /** --profile: the device time per kernel over {@code runs} runs of one row, largest first, as ms per run. */
    private static void printKernelTimes(PrintWriter out, String what, Map<String, long[]> times, int runs) {
        double total = 0;
        for (long[] v : times.values()) total += v[1];
        out.printf(Locale.ROOT, "%nkernels, %s (device time per run, %d runs incl. warm-up):%n", what, runs);
        out.printf("%-36s %9s %11s %7s%n", "kernel", "launches", "ms per run", "share");
        List<Map.Entry<String, long[]>> rows = new ArrayList<>(times.entrySet());
        rows.sort((a, b) -> Long.compare(b.getValue()[1], a.getValue()[1]));
        for (Map.Entry<String, long[]> e : rows) {
            out.printf(Locale.ROOT, "%-36s %9d %11.2f %6.1f%%%n", e.getKey(), e.getValue()[0] / runs,
                    e.getValue()[1] / 1e6 / runs, 100 * e.getValue()[1] / Math.max(1, total));
        }
        out.printf(Locale.ROOT, "%-36s %9s %11.2f%n%n", "all kernels", "", total / 1e6 / runs);
        out.flush();
    }

    /** Writes {@code m} as indented JSON to --json, atomically. */
    private void writeJsonFile(Map<String, Object> m) {
        try {
            byte[] bytes = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsBytes(m);
            AtomicFile.write(json, os -> os.write(bytes));
        } catch (IOException e) {
            String why = e instanceof java.nio.file.FileSystemException fs && fs.getReason() != null ? " (" + fs.getReason() + ")" : "";
            throw new UserError("--json " + json + ": cannot write" + why); // the reason, not our temporary name
        }
    }

    /** Bytes of the conv weights and biases up to conv5_1: the part of the memory that does not grow with the image. */
    private static long weightBytes() {
        long b = 0;
        for (IterationBench.ConvLayer c : IterationBench.LAYERS) {
            b += (long) Float.BYTES * c.cout() * (c.cin() * 9 + 1);
        }
        return b;
    }

    /** Device bytes per megapixel (slope between size/2 and size) and the size-independent part; NaN if not measured. */
    private double memorySlope = Double.NaN, memoryFixed = Double.NaN;

    /** The variant each convolution ran as in the stage replay. */
    private Map<String, Conv3x3.Variant> convVariants = Map.of();

    /** Winograd F(2x2, 3x3) multiplies per output: 16 per 2x2 tile against direct's 36. */
    static final double WINOGRAD_MULTIPLY_RATIO = 16.0 / 36.0;
    /** Winograd F(4x4, 3x3) multiplies per output: 36 per 4x4 tile against direct's 144. */
    static final double WINOGRAD4_MULTIPLY_RATIO = 36.0 / 144.0;

    /** The algorithm of convolution {@code layer}: short for the table ("wino", "wino4"), else for the JSON. */
    private String algorithm(String layer, boolean table) {
        Conv3x3.Variant v = convVariants.get(layer);
        if (v == Conv3x3.Variant.WINOGRAD) {
            return table ? "wino" : "winograd";
        }
        if (v == Conv3x3.Variant.WINOGRAD4) {
            return table ? "wino4" : "winograd4";
        }
        return v == Conv3x3.Variant.GEMM ? "gemm" : "direct";
    }

    /** GFLOP the stage's algorithm executes: the direct count, scaled for Winograd convolutions. */
    private double executedGflop(IterationBench.Row row) {
        Conv3x3.Variant v = convVariants.get(row.name());
        double ratio = v == Conv3x3.Variant.WINOGRAD ? WINOGRAD_MULTIPLY_RATIO
                : v == Conv3x3.Variant.WINOGRAD4 ? WINOGRAD4_MULTIPLY_RATIO : 1;
        return row.gflop() * ratio;
    }

    /** Fraction of the peak that matters for the stage: executed FLOP/s when it computes, else bandwidth. */
    private double fraction(IterationBench.Row row, DevicePeak.Peak peak) {
        double s = row.seconds();
        return row.gflop() > 0 ? executedGflop(row) / s / peak.gflopPerSecond() : row.gbytes() / s / peak.gbPerSecond();
    }

    private static String fmt(String f, double v) {
        return String.format(Locale.ROOT, f, v);
    }

    /** {@code --generator}: generation and training-step times of a full-width generator, with peak device memory. */
    private int benchGenerator(PrintWriter out, ClDevice dev) {
        String arch = generator.trim().toLowerCase(Locale.ROOT);
        if (!arch.equals("pyramid") && !arch.equals("johnson")) {
            throw new UserError("--generator must be pyramid or johnson, got '" + Messages.value(generator) + "'");
        }
        out.printf(Locale.ROOT, "device %s%n%s generator (full width, random parameters), loss VGG19 random full-width weights;"
                + " %d warm-up + %d timed, median%n", dev.label(), arch, warmup, iterations);
        out.flush();
        List<org.clstyle.train.GeneratorBench.Timing> t;
        try (ClContext ctx = new ClContext(dev, profile)) {
            if (profile) {
                t = new ArrayList<>();
                for (int side : new int[] {512, 1024}) {
                    ctx.resetKernelTimes();
                    t.addAll(org.clstyle.train.GeneratorBench.generation(ctx, arch, new int[] {side}, warmup, iterations));
                    printKernelTimes(out, t.get(t.size() - 1).what(), ctx.kernelTimes(), warmup + iterations);
                }
                ctx.resetKernelTimes();
                t.add(org.clstyle.train.GeneratorBench.trainingStep(ctx, arch, 4, 256, warmup, iterations));
                printKernelTimes(out, t.get(t.size() - 1).what(), ctx.kernelTimes(), warmup + iterations);
            } else {
                t = org.clstyle.train.GeneratorBench.run(ctx, arch, new int[] {512, 1024}, 4, 256, warmup, iterations);
            }
        } catch (Exception e) {
            if (e instanceof RuntimeException re) {
                throw re;
            }
            throw new UserError("bench: " + e.getMessage());
        }
        out.printf("%-34s %12s %14s%n", "what", "seconds", "peak MiB");
        for (org.clstyle.train.GeneratorBench.Timing x : t) {
            out.printf(Locale.ROOT, "%-34s %12.3f %14.1f%n", x.what(), x.seconds(), x.peakBytes() / 1048576.0);
        }
        if (json != null) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("device", dev.label());
            m.put("arch", arch);
            m.put("warmup", warmup);
            m.put("iterations", iterations);
            List<Map<String, Object>> rows = new ArrayList<>();
            for (org.clstyle.train.GeneratorBench.Timing x : t) {
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("what", x.what());
                r.put("seconds", x.seconds());
                r.put("peak_device_bytes", x.peakBytes());
                rows.add(r);
            }
            m.put("rows", rows);
            writeJsonFile(m);
            out.println("wrote " + json);
        }
        out.flush();
        return 0;
    }
}
