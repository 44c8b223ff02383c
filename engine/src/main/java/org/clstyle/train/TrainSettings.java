package org.clstyle.train;

import java.nio.file.Path;

/**
 * One training run's settings (the CLI's options after defaults). {@code contentDir} null means texture
 * mode. Learning rate for step k (1-based): {@code learningRate * lrDecay ^ floor((k - 1) / lrDecayEvery)},
 * the authors' schedule (texture_nets train.lua: Adam, lr 1e-3, lr x 0.8 after every 2000 iterations).
 */
public record TrainSettings(GeneratorSpec spec, int steps, int batch, int size, double learningRate, double lrDecay,
        int lrDecayEvery, long seed, Path output, Path contentDir, int previewEvery, int checkpointEvery, Path logJson,
        long maxPixels) {

    /** The authors' Adam learning rate (texture_nets train.lua, -learning_rate 1e-3). */
    public static final double DEFAULT_LEARNING_RATE = 1e-3;
    /** The authors' decay: x0.8 ... */
    public static final double DEFAULT_LR_DECAY = 0.8;
    /** ... every 2000 steps. */
    public static final int DEFAULT_LR_DECAY_EVERY = 2000;
    /** The authors' crop size (-image_size 256). */
    public static final int DEFAULT_SIZE = 256;

    public TrainSettings {
        if (steps < 1) throw new IllegalArgumentException("--steps must be positive, got " + steps);
        if (batch < 1 || batch > 64) throw new IllegalArgumentException("--batch must be 1 to 64, got " + batch);
        if (size < spec.sizeMultiple() || size % spec.sizeMultiple() != 0 || size > 4096) {
            throw new IllegalArgumentException("--size must be a multiple of " + spec.sizeMultiple() + " from "
                    + spec.sizeMultiple() + " to 4096 for the " + spec.arch() + " generator, got " + size);
        }
        if (!(learningRate > 0) || !Double.isFinite(learningRate)) {
            throw new IllegalArgumentException("--learning-rate must be a positive number, got " + learningRate);
        }
        if (!(lrDecay > 0 && lrDecay <= 1)) {
            throw new IllegalArgumentException("--lr-decay must be in (0, 1], got " + lrDecay);
        }
        if (lrDecayEvery < 1) throw new IllegalArgumentException("--lr-decay-every must be positive, got " + lrDecayEvery);
        if (seed < 0) throw new IllegalArgumentException("--seed must be non-negative, got " + seed);
        if (previewEvery < 0) throw new IllegalArgumentException("--preview-every must be 0 (off) or positive, got " + previewEvery);
        if (checkpointEvery < 0) throw new IllegalArgumentException("--checkpoint-every must be 0 (off) or positive, got " + checkpointEvery);
    }

    public boolean texture() {
        return contentDir == null;
    }

    /** The learning rate of step {@code k} (1-based). */
    public double learningRate(int k) {
        return learningRate * Math.pow(lrDecay, (k - 1) / lrDecayEvery);
    }

    /** The authors' step counts: pyramid 50,000 (stylization) / 1,500 (texture); Johnson 40,000 (2 COCO epochs at batch 4). */
    public static int defaultSteps(String arch, boolean texture) {
        if (texture) return 1500;
        return GeneratorSpec.PYRAMID.equals(arch) ? 50_000 : 40_000;
    }

    /** The authors' batch: texture_nets 1 (-batch_size 1), Johnson 4. */
    public static int defaultBatch(String arch) {
        return GeneratorSpec.PYRAMID.equals(arch) ? 1 : 4;
    }

    /** Where checkpoints go: OUT with .ckpt before the extension (model.safetensors -> model.ckpt.safetensors). */
    public static Path checkpointPath(Path output) {
        return sibling(output, ".ckpt", ".safetensors");
    }

    /** Preview at step k: model.preview-000100.png (zero-padded to the step count). */
    public Path previewPath(int k) {
        String n = String.format("%0" + Integer.toString(steps).length() + "d", k);
        return sibling(output, ".preview-" + n, ".png");
    }

    private static Path sibling(Path output, String tag, String ext) {
        String name = output.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        return output.resolveSibling(stem + tag + ext);
    }
}
