package org.clstyle.train;

import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.image.FloatImage;
import org.clstyle.nn.DeviceGraph;
import org.clstyle.ops.UniformNoise;

/**
 * A trained generator on the device, for any number of images of any size: the network is built and
 * its parameters uploaded once. Inference mode (BatchNorm from its running statistics). A size that is
 * not a multiple of {@link GeneratorSpec#sizeMultiple()} is padded (edge pixels repeated) up to one and
 * the output cropped back. Output mapped to [0,1] as in training ({@link OutputMapping}) and clamped.
 */
public final class Generator implements AutoCloseable {
    private final ClContext ctx;
    private final GeneratorModel model;
    private final DeviceGraph graph;
    private final UniformNoise noise;

    public Generator(ClContext ctx, GeneratorModel model) {
        this.ctx = ctx;
        this.model = model;
        this.graph = new DeviceGraph(ctx, model.network(), model.parameters()::get);
        model.state().forEach((k, v) -> graph.state().get(k).write(v));
        graph.setTraining(false);
        this.noise = new UniformNoise(ctx);
    }

    public GeneratorModel model() {
        return model;
    }

    /**
     * Stylizes {@code content} (already at the output size) or, when it is null, synthesises a texture of
     * width x height; {@code seed} draws the noise. A non-finite output is an IllegalStateException.
     */
    public FloatImage generate(FloatImage content, int width, int height, long seed) {
        GeneratorSpec spec = model.spec();
        if (content == null && spec.stylization()) {
            throw new IllegalArgumentException("this model stylizes photos: pass --content");
        }
        if (content != null && !spec.stylization()) {
            throw new IllegalArgumentException("this model synthesises textures: it takes no --content");
        }
        if (content != null) {
            width = content.width();
            height = content.height();
        }
        int m = spec.sizeMultiple();
        int pw = (width + m - 1) / m * m, ph = (height + m - 1) / m * m;
        float[] in = new float[3 * ph * pw];
        if (content != null) {
            for (int c = 0; c < 3; c++) {
                for (int i = 0; i < ph; i++) {
                    int si = Math.min(i, height - 1);
                    for (int j = 0; j < pw; j++) {
                        in[(c * ph + i) * pw + j] = content.data()[(c * height + si) * width + Math.min(j, width - 1)] - 0.5f;
                    }
                }
            }
        }
        float[] out;
        OutputMapping mapping = new OutputMapping(ctx, spec);
        try (ClBuffer input = ctx.buffer(in, 1, 3, ph, pw)) {
            if (content == null && !spec.isPyramid()) {
                noise.fill(input, seed ^ 0x5DEECE66DL, 0, -0.5f, 0.5f);
            }
            out = graph.forward(input, seed).read();
        }
        float[] img = new float[3 * height * width];
        for (int c = 0; c < 3; c++) {
            for (int i = 0; i < height; i++) {
                for (int j = 0; j < width; j++) {
                    float v = mapping.toImage(out[(c * ph + i) * pw + j]);
                    if (!Float.isFinite(v)) {
                        throw new IllegalStateException("the generator's output is not finite (" + v + "): the model is broken");
                    }
                    img[(c * height + i) * width + j] = Math.min(1f, Math.max(0f, v));
                }
            }
        }
        return new FloatImage(width, height, img);
    }

    @Override
    public void close() {
        if (((Object) graph) instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // releasing device memory
            }
        }
    }
}
