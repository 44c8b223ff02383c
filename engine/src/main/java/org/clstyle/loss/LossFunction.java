package org.clstyle.loss;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;
import org.clstyle.nn.DeviceNetwork;
import org.clstyle.nn.Network;
import org.clstyle.tune.TuningTable;
import org.clstyle.vgg.Preprocess;
import org.clstyle.vgg.Vgg;
import org.clstyle.weights.VggWeights;

/**
 * The style-transfer objective on the device (definitions in {@link Recipe}): construction computes the
 * content activations and the blended style Grams once; {@link #evaluate} then runs preprocess, the
 * network's forward (VGG16 or VGG19, as the weights say), every loss term, and the backward to d total / d image, reading back only the raw terms (one
 * small buffer, one read). Every buffer is allocated here, for the image size (h, w); evaluate allocates
 * nothing on the device.
 */
public final class LossFunction implements ImageLoss {
    private final ClContext ctx;
    private final Recipe recipe;
    private final int h, w;
    private final Preprocess preprocess;
    private final Network network;
    private final DeviceNetwork vgg;
    private final List<String> taps;                 // every layer a term reads, forward order
    private final List<ContentLoss> content = new ArrayList<>();
    private final List<StyleLoss> style = new ArrayList<>();
    private final TotalVariationLoss tv;
    private final VectorOps vectors;
    private final ClBuffer net;      // [3, H, W] network input
    private final ClBuffer dNet;     // [3, H, W] d total / d network input
    private final ClBuffer results;  // [terms]: content layers, style layers, tv
    // layer -> what the loss terms there add to d total / d F_l, written into the backward walk's buffer
    private final Map<String, DeviceNetwork.NodeGradient> layerGradients = new LinkedHashMap<>();
    private final float[] contentScale, styleScale;   // term weight * layer weight
    // --normalize-gradients: each term's gradient goes to its layer's scratch, is divided by its own L1
    // norm (jcjohnson's modules: grad / (|grad|_1 + 1e-8)), then weighted into the walk's gradient. Null when off.
    private final Map<String, ClBuffer> termGrad;    // layer -> [C, h, w] one term's d term / d F_l (scratch)
    private final ClBuffer termNorms;                // [content terms + style terms] |d term / d F_l|_1
    private static final float NORM_EPS = 1e-8f;

    /**
     * @param contentRgb [3, h, w] RGB in [0,1], or null for texture synthesis (no content terms)
     * @param styleRgb   each [3, h_k, w_k] RGB in [0,1], sizes in {@code styleHW} as {h_k, w_k}
     */
    public LossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, false);
    }

    /**
     * As above; with {@code normalizeGradients} each content and style term's gradient at its layer is
     * divided by its own L1 norm before its weight is applied (jcjohnson's -normalize_gradients). The
     * values returned are unchanged; only the gradient is no longer the loss's exact gradient.
     */
    public LossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients) {
        this(ctx, weights, recipe, contentRgb, h, w, styleRgb, styleHW, normalizeGradients, DeviceNetwork.Storage.FLOAT);
    }

    /**
     * As above with the loss network's activations stored as {@code storage} ({@link DeviceNetwork.Storage#HALF}:
     * half precision, an option whose error the parity harness reports; the loss terms still compute in float).
     */
    public LossFunction(ClContext ctx, VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
            List<float[]> styleRgb, List<int[]> styleHW, boolean normalizeGradients, DeviceNetwork.Storage storage) {
        this.network = checkedNetwork(weights, recipe, contentRgb, h, w, styleRgb, styleHW);
        boolean withStyle = !styleRgb.isEmpty() && !recipe.style().layers().isEmpty();
        boolean withContent = contentRgb != null && !recipe.content().layers().isEmpty();
        double[] blend = styleRgb.isEmpty() ? new double[0] : recipe.blendWeights(styleRgb.size());
        this.ctx = ctx;
        this.recipe = recipe;
        this.h = h;
        this.w = w;
        this.preprocess = new Preprocess(ctx, weights.preprocessing());
        this.vgg = new DeviceNetwork(ctx, network, Vgg.parameters(weights), TuningTable.load(ctx.device()), storage);
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
        layers.sort((a, b) -> Integer.compare(network.indexOf(a), network.indexOf(b)));
        this.taps = List.copyOf(layers);

        // Style targets: each style image at its own size, Grams blended into one target per layer.
        if (withStyle) {
            for (String l : recipe.style().layers().keySet()) {
                int c = network.channels(l);
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
        Map<String, List<TermAt>> termsAt = new LinkedHashMap<>();
        for (int i = 0; i < content.size(); i++) {
            if (contentScale[i] != 0) {
                ContentLoss term = content.get(i);
                termsAt.computeIfAbsent(term.layer(), l -> new ArrayList<>()).add(new TermAt(
                        (sc, g, acc) -> term.backward(vgg.activation(term.layer()), sc, g, acc), contentScale[i], i));
            }
        }
        for (int i = 0; i < style.size(); i++) {
            if (styleScale[i] != 0) {
                StyleLoss term = style.get(i);
                termsAt.computeIfAbsent(term.layer(), l -> new ArrayList<>()).add(new TermAt(
                        (sc, g, acc) -> term.backward(vgg.activation(term.layer()), sc, g, acc), styleScale[i],
                        content.size() + i));
            }
        }
        for (Map.Entry<String, List<TermAt>> e : termsAt.entrySet()) {
            List<TermAt> terms = e.getValue();
            layerGradients.put(e.getKey(), (g, accumulate) -> {
                boolean acc = accumulate;
                for (TermAt t : terms) {
                    addTermGradient(t, e.getKey(), g, acc);
                    acc = true;
                }
            });
        }
        if (!taps.isEmpty()) {
            vgg.reserveBackward(layerGradients.keySet()); // the layers that really send a gradient back
        }
        if (normalizeGradients) {
            termGrad = new LinkedHashMap<>();
            for (String l : termsAt.keySet()) {
                termGrad.put(l, ctx.buffer(vgg.shape(l, h, w)));
            }
            termNorms = ctx.buffer(Math.max(1, content.size() + style.size()));
        } else {
            termGrad = null;
            termNorms = null;
        }
    }

    /** One loss term's backward at a layer, with its weight and its slot in the result buffer. */
    private record TermAt(TermBackward backward, float scale, int index) {}

    /** One term's backward into a layer gradient: grad (+)= scale * d term / d F_l. */
    @FunctionalInterface
    private interface TermBackward {
        void backward(float scale, ClBuffer grad, boolean accumulate);
    }

    /** Writes or adds one term's gradient at layer {@code l} into {@code g}: plainly, or normalised by its own L1 norm. */
    private void addTermGradient(TermAt term, String l, ClBuffer g, boolean accumulate) {
        if (termGrad == null) {
            term.backward().backward(term.scale(), g, accumulate);
            return;
        }
        ClBuffer t = termGrad.get(l);
        term.backward().backward(1f, t, false);
        vectors.sumAbs(t, termNorms, term.index());
        if (!accumulate) {
            vectors.fill(g, 0f);
        }
        vectors.axpyDivided(termNorms, term.index(), NORM_EPS, term.scale(), t, g);
    }

    @Override
    public Recipe recipe() { return recipe; }

    @Override
    public int height() { return h; }

    @Override
    public int width() { return w; }

    /**
     * The loss at {@code image} ([3, H, W], RGB in [0,1]) and, unless {@code gradOut} is null,
     * d total / d image written to {@code gradOut} ([3, H, W], overwritten). Blocks for one read of the
     * raw terms.
     */
    @Override
    public LossValues evaluate(ClBuffer image, ClBuffer gradOut) {
        ImageLoss.checkShapes("LossFunction.evaluate", image, gradOut, h, w);
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
            if (taps.isEmpty()) {
                vectors.fill(gradOut, 0f);
            } else {
                vgg.backwardFrom(layerGradients, dNet);
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
        for (int i = 0; i < nc; i++) {
            contentTerms.put(content.get(i).layer(), (double) raw[i]);
        }
        for (int i = 0; i < ns; i++) {
            styleTerms.put(style.get(i).layer(), (double) raw[nc + i]);
        }
        return values(recipe, contentTerms, styleTerms, raw[tvIndex]);
    }

    /**
     * The raw terms with the recipe's weighted total: content terms, then style terms, then TV, each times
     * its term weight and layer weight, summed in that order (the same sum whole and tiled).
     */
    static LossValues values(Recipe recipe, Map<String, Double> contentTerms, Map<String, Double> styleTerms,
            double tvRaw) {
        double total = 0;
        for (Map.Entry<String, Double> e : contentTerms.entrySet()) {
            total += recipe.content().weight() * recipe.content().layers().get(e.getKey()) * e.getValue();
        }
        for (Map.Entry<String, Double> e : styleTerms.entrySet()) {
            total += recipe.style().weight() * recipe.style().layers().get(e.getKey()) * e.getValue();
        }
        total += recipe.tv().weight() * tvRaw;
        return new LossValues(total, contentTerms, styleTerms, tvRaw);
    }

    /**
     * The loss network for {@code recipe} after the checks every loss makes of its inputs: a positive
     * size, a content image of 3 x h x w values, a size per style image, and every layer the recipe reads
     * in the network.
     */
    static Network checkedNetwork(VggWeights weights, Recipe recipe, float[] contentRgb, int h, int w,
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
        Network network = Vgg.network(weights, recipe.pooling());
        for (String l : recipe.layers(true)) {
            if (network.indexOf(l) < 0) {
                throw new IllegalArgumentException("recipe: " + network.unknownNodeMessage(l));
            }
        }
        return network;
    }

    /**
     * Replaces the content image ([3, H, W] RGB in [0,1] on the device, this loss's size) without touching
     * the style targets: the content activations are recomputed and become the content terms' targets
     * (a feed-forward trainer's new photo per batch image). Only for a loss built with a content image
     * and content layers; a texture loss has no content terms to retarget.
     */
    public void setContent(ClBuffer contentRgb) {
        int[] shape = {3, h, w};
        if (!Arrays.equals(contentRgb.shape(), shape)) {
            throw new IllegalArgumentException("LossFunction.setContent: image is " + contentRgb + ", expected " + Arrays.toString(shape));
        }
        if (content.isEmpty()) {
            throw new IllegalStateException("LossFunction.setContent: this loss was built without content terms");
        }
        preprocess.forward(contentRgb, net);
        vgg.forward(net, taps);
        for (ContentLoss c : content) {
            c.setTarget(vgg.activation(c.layer()));
        }
    }

    /** True when this loss has content terms (built with a content image and content layers). */
    public boolean hasContent() {
        return !content.isEmpty();
    }

    /** Releases every device buffer this loss holds. */
    @Override
    public void close() {
        vgg.close();
        content.forEach(ContentLoss::release);
        style.forEach(StyleLoss::release);
        if (termGrad != null) {
            termGrad.values().forEach(ClBuffer::close);
            termNorms.close();
        }
        net.close();
        dNet.close();
        results.close();
    }
}
