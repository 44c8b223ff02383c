package org.clstyle.weights;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * How an image x in [0,1] (RGB) becomes the network's input: channel c = (x[perm[c]] * inputScale - mean[c]) / std[c],
 * with perm the identity for RGB and (2,1,0) for BGR; mean and std are in the network's channel order.
 */
public record Preprocessing(String channelOrder, double inputScale, double[] mean, double[] std) {

    /** torchvision's ImageNet models: RGB in [0,1], normalised per channel. */
    public static final Preprocessing TORCHVISION = new Preprocessing("RGB", 1,
            new double[] {0.485, 0.456, 0.406}, new double[] {0.229, 0.224, 0.225});

    /** The original Caffe VGG16 and VGG19 (and files converted from them): BGR in 0..255 minus the ImageNet mean. */
    public static final Preprocessing CAFFE = new Preprocessing("BGR", 255,
            new double[] {103.939, 116.779, 123.68}, new double[] {1, 1, 1});

    public Preprocessing {
        if (!"RGB".equals(channelOrder) && !"BGR".equals(channelOrder)) {
            throw new IllegalArgumentException("channel order must be RGB or BGR, not " + channelOrder);
        }
        if (!(inputScale > 0) || mean == null || std == null || mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("preprocessing needs a positive input scale and 3 means and 3 stds");
        }
        for (int c = 0; c < 3; c++) {
            if (!Double.isFinite(mean[c]) || !(std[c] > 0) || !Double.isFinite(std[c])) {
                throw new IllegalArgumentException("preprocessing mean must be finite and std positive");
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    /** perm[c] = the RGB channel of the image that feeds network channel c. */
    public int[] channelPermutation() {
        return "RGB".equals(channelOrder) ? new int[] {0, 1, 2} : new int[] {2, 1, 0};
    }

    @Override
    public double[] mean() {
        return mean.clone();
    }

    @Override
    public double[] std() {
        return std.clone();
    }

    /** The metadata entries of the weights-format contract. */
    Map<String, String> toMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("channel_order", channelOrder);
        m.put("input_scale", num(inputScale));
        m.put("mean", nums(mean));
        m.put("std", nums(std));
        return m;
    }

    /** Reads the metadata entries back; the message says which entry is wrong. */
    static Preprocessing fromMetadata(Map<String, String> m) {
        String order = m.get("channel_order");
        if (order == null || m.get("input_scale") == null || m.get("mean") == null || m.get("std") == null) {
            throw new IllegalArgumentException("metadata lacks channel_order, input_scale, mean or std");
        }
        return new Preprocessing(order, parse(m.get("input_scale"), 1, "input_scale")[0],
                parse(m.get("mean"), 3, "mean"), parse(m.get("std"), 3, "std"));
    }

    private static double[] parse(String s, int n, String what) {
        String[] parts = s.split(",");
        if (parts.length != n) {
            throw new IllegalArgumentException("metadata " + what + " must hold " + n + " number(s), not '" + s + "'");
        }
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            try {
                v[i] = Double.parseDouble(parts[i].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("metadata " + what + " is not a number list: '" + s + "'");
            }
        }
        return v;
    }

    static String num(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    private static String nums(double[] v) {
        StringBuilder b = new StringBuilder();
        for (double d : v) {
            b.append(b.length() == 0 ? "" : ",").append(num(d));
        }
        return b.toString();
    }

    /** A short human description, e.g. "BGR, x255, mean 103.939,116.779,123.68, std 1,1,1". */
    public String describe() {
        return String.format(Locale.ROOT, "%s, x%s, mean %s, std %s", channelOrder, num(inputScale), nums(mean), nums(std));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Preprocessing p && p.channelOrder.equals(channelOrder) && p.inputScale == inputScale
                && Arrays.equals(p.mean, mean) && Arrays.equals(p.std, std);
    }

    @Override
    public int hashCode() {
        return channelOrder.hashCode() * 31 + Double.hashCode(inputScale) + Arrays.hashCode(mean) * 7 + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return describe();
    }
}
