package org.clstyle.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.clstyle.image.FloatImage;
import org.clstyle.image.Images;
import org.clstyle.weights.Preprocessing;
import org.clstyle.weights.VggArchitecture;
import org.clstyle.weights.VggWeights;

/** Tiny inputs for the command tests, and a way to run a command as Main does. */
final class CliFixtures {
    private CliFixtures() {}

    /** Reduced-width VGG19 channels (conv1_1 .. conv5_4): small enough for PoCL in a test. */
    static final int[] TINY = {4, 4, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};

    /** A reduced-width VGG19 with He-initialised random weights, Caffe preprocessing, saved to {@code file}. */
    static Path tinyWeights(Path file) throws Exception {
        Map<String, float[]> w = new HashMap<>(), b = new HashMap<>();
        SplittableRandom r = new SplittableRandom(7);
        int cin = 3;
        for (int i = 0; i < TINY.length; i++) {
            String name = VggArchitecture.VGG19.convLayers().get(i);
            int cout = TINY[i];
            float[] wt = new float[cout * cin * 9];
            double std = Math.sqrt(2.0 / (cin * 9));
            for (int k = 0; k < wt.length; k++) {
                wt[k] = (float) ((r.nextDouble() * 2 - 1) * std * Math.sqrt(3));
            }
            float[] bias = new float[cout];
            for (int k = 0; k < cout; k++) {
                bias[k] = (float) (0.01 * (r.nextDouble() - 0.5));
            }
            w.put(name, wt);
            b.put(name, bias);
            cin = cout;
        }
        VggWeights.of(w, b, Preprocessing.CAFFE).save(file);
        return file;
    }

    /** A smooth random colour image of w x h written as PNG. */
    static Path image(Path file, int w, int h, long seed) throws Exception {
        SplittableRandom r = new SplittableRandom(seed);
        float[] small = new float[3 * 4 * 4];
        for (int i = 0; i < small.length; i++) {
            small[i] = (float) r.nextDouble();
        }
        FloatImage img = Images.resize(new FloatImage(4, 4, small), w, h);
        Images.write(img, file);
        return file;
    }

    record Run(int exit, String out, String err) {
        List<String> errLines() {
            return err.lines().filter(l -> !l.isBlank()).toList();
        }
    }

    /** Runs {@code args} through Main's real command line and error handling (one line, exit code). */
    static Run run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }
}
