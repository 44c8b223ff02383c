package org.clstyle.train;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;
import org.clstyle.loss.Recipe;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;

/** Tiny inputs for the training tests: a reduced-width random VGG19, smooth random images. */
final class TrainFixtures {
    private TrainFixtures() {}

    static final int[] TINY = {4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};

    static VggWeights tinyVgg() {
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        SplittableRandom r = new SplittableRandom(7);
        int cin = 3;
        for (int i = 0; i < TINY.length; i++) {
            String name = VggArchitecture.VGG19.convLayers().get(i);
            int cout = TINY[i];
            float[] wt = new float[cout * cin * 9];
            double std = Math.sqrt(2.0 / (cin * 9));
            for (int k = 0; k < wt.length; k++) wt[k] = (float) ((r.nextDouble() * 2 - 1) * std * Math.sqrt(3));
            float[] bias = new float[cout];
            for (int k = 0; k < cout; k++) bias[k] = (float) (0.01 * (r.nextDouble() - 0.5));
            w.put(name, wt);
            b.put(name, bias);
            cin = cout;
        }
        return VggWeights.of(w, b, Preprocessing.CAFFE);
    }

    /** The authors' layers (style relu1_1..relu4_1, content relu4_2) over the weights' defaults, tv 0. */
    static Recipe recipe(VggWeights weights) {
        return Recipe.defaultsFor(weights.preprocessing()).toBuilder()
                .styleLayers(Recipe.layerList("style", "relu1_1,relu2_1,relu3_1,relu4_1")).tvWeight(0).build();
    }

    /** A smooth random colour image. */
    static FloatImage image(int w, int h, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] small = new float[3 * 4 * 4];
        for (int i = 0; i < small.length; i++) small[i] = (float) r.nextDouble();
        return Images.resize(new FloatImage(4, 4, small), w, h);
    }

    static Path writeImage(Path file, int w, int h, long seed) throws Exception {
        Images.write(image(w, h, seed), file);
        return file;
    }

    static List<FloatImage> style() {
        return List.of(image(32, 32, 11));
    }
}
