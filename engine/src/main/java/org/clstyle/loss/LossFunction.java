package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;
import org.clstyle.vgg.Preprocess;
import org.clstyle.vgg.Vgg19;
import org.clstyle.weights.VggWeights;

/**
 * The style-transfer objective on the device (definitions in {@link Recipe}): construction computes the
 * content activations and the blended style Grams once; {@link #evaluate} then runs preprocess, VGG19
 * forward, every loss term, and the backward to d total / d image, reading back only the raw terms (one
 * small buffer, one read). Every buffer is allocated here, for the image size (h, w); evaluate allocates
 * nothing on the device.
 */
public final class LossFunction implements AutoCloseable {
    private final ClContext ctx;
    private final Recipe recipe;
    private final int h, w;
    private final Preprocess preprocess;
    private final Vgg19 vgg;
    private final List<String> taps;                 // every layer a term reads, forward order
    private final List<ContentLoss> content = new ArrayList<>();
    private final List<StyleLoss> style = new ArrayList<>();
    private final TotalVariationLoss tv;
    private final VectorOps vectors;
    private final ClBuffer net;      // [3, H, W] network input
    private final ClBuffer dNet;     // [3, H, W] d total / d network input
    private final ClBuffer results;  // [terms]: content layers, style layers, tv
    private final Map<String, ClBuffer> layerGrad = new LinkedHashMap<>(); // layer -> [C, h, w] d total / d F_l
    private final float[] contentScale, styleScale;   // term weight * layer weight

    /**
     * @param contentRgb [3, h, w] RGB in [0,1], or null for texture synthesis (no content terms)
     * @param styleRgb   each [3, h_k, w_k] RGB in [0,1], sizes in {@code styleHW} as {h_k, w_k}
     */
    public LossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW) {
        if (h < 1 || w < 1) {
            throw new IllegalArgumentException("image size must be positive, got " + h + "x" + w);
        }
        if (contentRgb != null && contentRgb.length != 3 * h * w) {
            throw new IllegalArgumentException("content image has " + contentRgb.length + " values, expected 3x"
                    + h + "x" + w + " = " + 3 * h * w);
        }
        if (styleRgb.size() != styleHW.size()) {
            throw new IllegalArgumentException(styleRgb.size() + " style images but " + styleHW.size() + " sizes");
        }
        boolean withStyle = !styleRgb.isEmpty() && !recipe.style().layers().isEmpty();
        boolean withContent = contentRgb != null && !recipe.content().layers().isEmpty();
        double[] blend = styleRgb.isEmpty() ? new double[0] : recipe.blendWeights(styleRgb.size());
        this.ctx = ctx;
        this.recipe = recipe;
        this.h = h;
        this.w = w;
        this.preprocess = new Preprocess(ctx, weights.preprocessing());
        this.vgg = new Vgg19(ctx, weights, recipe.pooling());
        this.tv = new TotalVariationLoss(ctx, recipe.tv().kind());
        this.vectors = new VectorOps(ctx);
        List<String> layers = new ArrayList<>();
        if (withStyle) {
            layers.addAll(recipe.style().layers().keySet());
        }
        if (withContent) {
            for (String l : recipe.content().layers().keySet()) {
                if (!layers.contains(l)) {
                    layers.add(l);
                }
            }
        }
        layers.sort((a, b) -> Integer.compare(org.clstyle.vgg.VggLayers.index(a), org.clstyle.vgg.VggLayers.index(b)));
        this.taps = List.copyOf(layers);

        // Style targets: each style image at its own size, Grams blended into one target per layer.
        if (withStyle) {
            for (String l : recipe.style().layers().keySet()) {
                int c = vgg.shape(l, h, w)[0];
                style.add(new StyleLoss(ctx, l, c, recipe.style().loss(), recipe.style().gram()));
            }
            List<String> styleTaps = List.copyOf(recipe.style().layers().keySet());
            for (int k = 0; k < styleRgb.size(); k++) {
                int sh = styleHW.get(k)[0], sw = styleHW.get(k)[1];
                if (styleRgb.get(k).length != 3 * sh * sw) {
                    throw new IllegalArgumentException("style image " + (k + 1) + " has " + styleRgb.get(k).length
                            + " values, expected 3x" + sh + "x" + sw);
                }
                try (ClBuffer rgb = ctx.buffer(styleRgb.get(k), 3, sh, sw); ClBuffer in = ctx.buffer(3, sh, sw)) {
                    preprocess.forward(rgb, in);
                    try {
                        vgg.forward(in, styleTaps);
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("style image " + (k + 1) + ": " + e.getMessage());
                    }
                    for (StyleLoss s : style) {
                        s.addTarget(vgg.activation(s.layer()), blend[k]);
                    }
                    ctx.finish(); // the temporaries are released on leaving this block
                }
            }
        }

        this.net = ctx.buffer(3, h, w);
        this.dNet = ctx.buffer(3, h, w);
        this.results = ctx.buffer(recipe.content().layers().size() + recipe.style().layers().size() + 1);

        // Content targets, with the same plan evaluate uses, so the first evaluate allocates nothing.
        if (withContent) {
            try (ClBuffer rgb = ctx.buffer(contentRgb, 3, h, w)) {
                preprocess.forward(rgb, net);
                vgg.forward(net, taps);
                for (String l : recipe.content().layers().keySet()) {
                    content.add(new ContentLoss(ctx, l, recipe.content().loss(), vgg.activation(l)));
                }
                ctx.finish();
            }
        } else if (!taps.isEmpty()) {
            vectors.fill(net, 0f);
            vgg.forward(net, taps); // only to make evaluate's plan now
        }
        vgg.reserveBackward();
        // The preprocess backward uploads its small parameter table on first use: do that now, so that
        // evaluate allocates nothing (net is overwritten by every forward).
        vectors.fill(dNet, 0f);
        preprocess.backward(dNet, net);

        contentScale = new float[content.size()];
        for (int i = 0; i < content.size(); i++) {
            contentScale[i] = (float) (recipe.content().weight() * recipe.content().layers().get(content.get(i).layer()));
        }
        styleScale = new float[style.size()];
        for (int i = 0; i < style.size(); i++) {
            styleScale[i] = (float) (recipe.style().weight() * recipe.style().layers().get(style.get(i).layer()));
        }
        for (int i = 0; i < content.size(); i++) {
            if (contentScale[i] != 0) {
                layerGrad.computeIfAbsent(content.get(i).layer(), l -> ctx.buffer(vgg.shape(l, h, w)));
            }
        }
        for (int i = 0; i < style.size(); i++) {
            if (styleScale[i] != 0) {
                layerGrad.computeIfAbsent(style.get(i).layer(), l -> ctx.buffer(vgg.shape(l, h, w)));
            }
        }
    }

    public Recipe recipe() { return recipe; }

    public int height() { return h; }

    public int width() { return w; }

    /**
     * The loss at {@code image} ([3, H, W], RGB in [0,1]) and, unless {@code gradOut} is null,
     * d total / d image written to {@code gradOut} ([3, H, W], overwritten). Blocks for one read of the
     * raw terms.
     */
    public LossValues evaluate(ClBuffer image, ClBuffer gradOut) {
        int[] shape = {3, h, w};
        if (!Arrays.equals(image.shape(), shape)) {
            throw new IllegalArgumentException("LossFunction.evaluate: image is " + image + ", expected " + Arrays.toString(shape));
        }
        if (gradOut != null && !Arrays.equals(gradOut.shape(), shape)) {
            throw new IllegalArgumentException("LossFunction.evaluate: gradOut is " + gradOut + ", expected " + Arrays.toString(shape));
        }
        int nc = content.size(), ns = style.size();
        int tvIndex = recipe.content().layers().size() + recipe.style().layers().size();
        if (!taps.isEmpty()) {
            preprocess.forward(image, net);
            vgg.forward(net, taps);
        }
        for (int i = 0; i < nc; i++) {
            content.get(i).forward(vgg.activation(content.get(i).layer()), results, i);
        }
        for (int i = 0; i < ns; i++) {
            style.get(i).forward(vgg.activation(style.get(i).layer()), results, nc + i);
        }
        tv.forward(image, results, tvIndex);

        if (gradOut != null) {
            // d total / d F_l: the first term at a layer overwrites its buffer, the others add.
            java.util.Set<String> written = new java.util.HashSet<>();
            for (int i = 0; i < nc; i++) {
                if (contentScale[i] != 0) {
                    String l = content.get(i).layer();
                    content.get(i).backward(vgg.activation(l), contentScale[i], layerGrad.get(l), !written.add(l));
                }
            }
            for (int i = 0; i < ns; i++) {
                if (styleScale[i] != 0) {
                    String l = style.get(i).layer();
                    style.get(i).backward(vgg.activation(l), styleScale[i], layerGrad.get(l), !written.add(l));
                }
            }
            if (taps.isEmpty()) {
                vectors.fill(gradOut, 0f);
            } else {
                vgg.backward(layerGrad, dNet);
                preprocess.backward(dNet, gradOut);
            }
            float tvScale = (float) recipe.tv().weight();
            if (tvScale != 0) {
                tv.backward(image, tvScale, gradOut, true);
            }
        }

        float[] raw = results.read(); // the one host round trip
        Map<String, Double> contentTerms = new LinkedHashMap<>();
        Map<String, Double> styleTerms = new LinkedHashMap<>();
        double total = 0;
        for (int i = 0; i < nc; i++) {
            String l = content.get(i).layer();
            contentTerms.put(l, (double) raw[i]);
            total += recipe.content().weight() * recipe.content().layers().get(l) * raw[i];
        }
        for (int i = 0; i < ns; i++) {
            String l = style.get(i).layer();
            styleTerms.put(l, (double) raw[nc + i]);
            total += recipe.style().weight() * recipe.style().layers().get(l) * raw[nc + i];
        }
        double tvRaw = raw[tvIndex];
        total += recipe.tv().weight() * tvRaw;
        return new LossValues(total, contentTerms, styleTerms, tvRaw);
    }

    /** Releases every device buffer this loss holds. */
    @Override
    public void close() {
        vgg.close();
        content.forEach(ContentLoss::release);
        style.forEach(StyleLoss::release);
        layerGrad.values().forEach(ClBuffer::close);
        net.close();
        dNet.close();
        results.close();
    }
}
