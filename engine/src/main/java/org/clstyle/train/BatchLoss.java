package org.clstyle.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.loss.LossFunction;
import org.clstyle.loss.LossValues;
import org.clstyle.loss.TileDealer;

/**
 * The loss of one training batch and its gradient with respect to the generator's output: for each image
 * i of the output [N, 3, H, W], the output mapped to a [0,1] image ({@link OutputMapping}), the loss
 * (stylization: with crop i as the content target, {@link LossFunction#setContent}) and d loss / d image
 * mapped back into d loss / d output. The batch's loss is the sum of the per-image losses (the authors'
 * criterion over a batch). What {@link Trainer} runs every step, and what TrainStepGoldenTest checks
 * against PyTorch.
 *
 * <p>With several devices (one loss and mapping per context; the output, the crops and d loss / d out
 * live on the first) the batch's images are dealt to the devices by their speed ({@link TileDealer#deal}
 * on equal areas; the speeds measured once, when made, by timing one loss evaluation per device in turn
 * after an untimed one, or forced by {@value TileDealer#SPEEDS_PROPERTY}); each device evaluates its
 * images on its own thread, the first device's straight from the output, the others' through the host
 * (the output and crops read once, each image's d loss / d out written back). Each image's loss and
 * gradient are the one-device ones (the images are independent) and the terms are summed in image
 * order, so the values do not depend on the split.
 */
final class BatchLoss implements AutoCloseable {
    /** The batch's total and its raw terms, each summed over the images. */
    record Values(double total, Map<String, Double> content, Map<String, Double> style, double tv) {}

    /** Called after image i's loss with the image as the loss saw it ([3, H, W] on its device; the trainer's preview). */
    @FunctionalInterface
    interface AfterImage {
        void accept(int i, ClBuffer image) throws Exception;
    }

    /** One device's share: its loss (not closed here), mapping and [3, H, W] buffers. */
    private record Part(LossFunction loss, OutputMapping mapping, ClBuffer image, ClBuffer grad, ClBuffer scratch) {}

    private final List<Part> parts = new ArrayList<>();
    private final int plane;
    private final int[] owner;         // per image of the batch: the part that evaluates it
    private final String split;
    private final ExecutorService pool; // one thread per part, null for one device

    /** For outputs of h x w on one device; {@code loss} is built for that size and is not closed here. */
    BatchLoss(ClContext ctx, LossFunction loss, OutputMapping mapping, int h, int w) {
        this(List.of(ctx), List.of(loss), List.of(mapping), h, w, 1, null);
    }

    /**
     * For batches of {@code batch} outputs of h x w on several devices: {@code losses} and {@code mappings}
     * one per context (the first context holds the batch); {@code speeds} the devices' relative speeds,
     * or null to measure them.
     */
    BatchLoss(List<ClContext> contexts, List<LossFunction> losses, List<OutputMapping> mappings, int h, int w, int batch,
            double[] speeds) {
        if (contexts.isEmpty() || losses.size() != contexts.size() || mappings.size() != contexts.size()) {
            throw new IllegalArgumentException("BatchLoss: " + contexts.size() + " contexts, " + losses.size() + " losses, "
                    + mappings.size() + " mappings");
        }
        if (speeds != null && speeds.length != contexts.size()) {
            throw new IllegalArgumentException("BatchLoss: " + speeds.length + " speeds for " + contexts.size() + " contexts");
        }
        this.plane = 3 * h * w;
        try {
            for (int k = 0; k < contexts.size(); k++) {
                ClContext c = contexts.get(k);
                parts.add(new Part(losses.get(k), mappings.get(k), c.buffer(3, h, w), c.buffer(3, h, w), c.buffer(3, h, w)));
            }
            if (parts.size() == 1) {
                this.owner = null;
                this.split = "";
                this.pool = null;
                return;
            }
            long[] areas = new long[batch];
            java.util.Arrays.fill(areas, (long) h * w);
            String how = "speeds forced";
            if (speeds == null) {
                speeds = measuredSpeeds();
                how = "measured";
            }
            this.owner = TileDealer.deal(areas, speeds);
            this.split = batch + " image" + (batch == 1 ? "" : "s") + " per batch dealt by speed (" + how + "): "
                    + TileDealer.describe(areas, speeds, owner).replace(" tile", " image").replace("% of the area", "%");
            this.pool = Executors.newFixedThreadPool(parts.size(), r -> {
                Thread t = new Thread(r, "clstyle-batch-part");
                t.setDaemon(true);
                return t;
            });
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Each device's images per second: one loss evaluation of a zero image timed after an untimed one, device after device. */
    private double[] measuredSpeeds() {
        double[] speeds = new double[parts.size()];
        for (int k = 0; k < parts.size(); k++) {
            Part p = parts.get(k);
            p.scratch().write(new float[plane]);
            p.loss().evaluate(p.scratch(), p.grad());
            long t0 = System.nanoTime();
            p.loss().evaluate(p.scratch(), p.grad()); // returns after reading the terms: the queue is done
            double s = (System.nanoTime() - t0) / 1e9;
            speeds[k] = s > 0 ? 1 / s : 1;
        }
        return speeds;
    }

    /** Which images each device evaluates, one line ("" for one device). */
    String split() {
        return split;
    }

    /**
     * The loss of {@code out} [N, 3, H, W] and d loss / d out into {@code dOut} (overwritten); {@code crops}
     * [N, 3, H, W] holds the content photos (stylization) or is null (texture). With several devices
     * {@code after} runs on the thread of the device that evaluated image i.
     */
    Values evaluate(ClBuffer out, ClBuffer crops, ClBuffer dOut, AfterImage after) throws Exception {
        int n = out.dim(0);
        LossValues[] values = new LossValues[n];
        if (parts.size() == 1) {
            Part p = parts.get(0);
            for (int i = 0; i < n; i++) {
                values[i] = evaluateOnDevice(p, i, out, crops, dOut, after);
            }
        } else {
            if (owner.length != n) {
                throw new IllegalArgumentException("BatchLoss: a batch of " + n + " outputs, made for " + owner.length);
            }
            boolean others = IntStream.of(owner).anyMatch(k -> k > 0);
            float[] outHost = others ? out.read() : null;
            float[] cropHost = others && crops != null ? crops.read() : null;
            float[][] dHost = new float[n][];
            List<Future<Void>> futures = new ArrayList<>();
            for (int k = 0; k < parts.size(); k++) {
                int part = k;
                futures.add(pool.submit(() -> {
                    Part p = parts.get(part);
                    for (int i = 0; i < n; i++) {
                        if (owner[i] != part) {
                            continue;
                        }
                        if (part == 0) {
                            values[i] = evaluateOnDevice(p, i, out, crops, dOut, after);
                            continue;
                        }
                        p.scratch().write(java.util.Arrays.copyOfRange(outHost, i * plane, (i + 1) * plane));
                        p.mapping().forward(p.scratch(), p.image());
                        if (cropHost != null) {
                            p.scratch().write(java.util.Arrays.copyOfRange(cropHost, i * plane, (i + 1) * plane));
                            p.loss().setContent(p.scratch());
                        }
                        values[i] = p.loss().evaluate(p.image(), p.grad());
                        p.mapping().backward(p.grad());
                        dHost[i] = p.grad().read();
                        if (after != null) {
                            after.accept(i, p.image());
                        }
                    }
                    return null;
                }));
            }
            Exception failed = null;
            for (Future<Void> f : futures) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    if (failed == null) {
                        failed = e.getCause() instanceof Exception x ? x : new IllegalStateException(e.getCause());
                    }
                }
            }
            if (failed != null) {
                throw failed;
            }
            for (int i = 0; i < n; i++) {
                if (dHost[i] != null) {
                    dOut.write(dHost[i], (long) i * plane);
                }
            }
        }
        double total = 0, tv = 0;
        Map<String, Double> content = new LinkedHashMap<>(), style = new LinkedHashMap<>();
        for (LossValues v : values) { // image order, whatever the split
            total += v.total();
            v.content().forEach((l, x) -> content.merge(l, x, Double::sum));
            v.style().forEach((l, x) -> style.merge(l, x, Double::sum));
            tv += v.tv();
        }
        return new Values(total, content, style, tv);
    }

    /** Image i on the first device, straight from {@code out} and into {@code dOut}. */
    private LossValues evaluateOnDevice(Part p, int i, ClBuffer out, ClBuffer crops, ClBuffer dOut, AfterImage after)
            throws Exception {
        p.scratch().copyFrom(out, (long) i * plane, 0, plane);
        p.mapping().forward(p.scratch(), p.image());
        if (crops != null) {
            p.scratch().copyFrom(crops, (long) i * plane, 0, plane);
            p.loss().setContent(p.scratch());
        }
        LossValues v = p.loss().evaluate(p.image(), p.grad());
        p.mapping().backward(p.grad());
        dOut.copyFrom(p.grad(), 0, (long) i * plane, plane);
        if (after != null) {
            after.accept(i, p.image());
        }
        return v;
    }

    @Override
    public void close() {
        for (Part p : parts) {
            p.image().close();
            p.grad().close();
            p.scratch().close();
        }
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
