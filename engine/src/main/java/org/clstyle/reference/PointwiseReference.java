package org.clstyle.reference;

/** Plain-Java twins of ops.Pointwise and ops.ChannelConcat, in double. */
public final class PointwiseReference {
    private PointwiseReference() {}

    public static double[] leakyReluForward(double[] x, double slope) {
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = x[k] > 0 ? x[k] : slope * x[k];
        return y;
    }

    /** dy where x > 0, else slope dy. */
    public static double[] leakyReluBackward(double[] x, double[] dy, double slope) {
        double[] dx = new double[x.length];
        for (int k = 0; k < x.length; k++) dx[k] = x[k] > 0 ? dy[k] : slope * dy[k];
        return dx;
    }

    public static double[] tanhForward(double[] x, double scale) {
        double[] y = new double[x.length];
        for (int k = 0; k < x.length; k++) y[k] = scale * Math.tanh(x[k]);
        return y;
    }

    /** dy * scale * (1 - tanh(x)^2), from the input x. */
    public static double[] tanhBackward(double[] x, double[] dy, double scale) {
        double[] dx = new double[x.length];
        for (int k = 0; k < x.length; k++) {
            double t = Math.tanh(x[k]);
            dx[k] = dy[k] * scale * (1 - t * t);
        }
        return dx;
    }

    public static double[] add(double[] a, double[] b) {
        double[] y = new double[a.length];
        for (int k = 0; k < a.length; k++) y[k] = a[k] + b[k];
        return y;
    }

    /** cat(parts) along channels: parts[k] is [N, channels[k], P]. */
    public static double[] concat(double[][] parts, int[] channels, int n, int plane) {
        int total = 0;
        for (int c : channels) total += c;
        double[] y = new double[n * total * plane];
        for (int b = 0; b < n; b++) {
            int offset = 0;
            for (int k = 0; k < parts.length; k++) {
                Conv2dReference.check(parts[k], n * channels[k] * plane, "part " + k);
                System.arraycopy(parts[k], b * channels[k] * plane, y, (b * total + offset) * plane, channels[k] * plane);
                offset += channels[k];
            }
        }
        return y;
    }

    /** The backward of concat: dy's channel blocks. */
    public static double[][] split(double[] dy, int[] channels, int n, int plane) {
        int total = 0;
        for (int c : channels) total += c;
        Conv2dReference.check(dy, n * total * plane, "dy");
        double[][] parts = new double[channels.length][];
        int offset = 0;
        for (int k = 0; k < channels.length; k++) {
            parts[k] = new double[n * channels[k] * plane];
            for (int b = 0; b < n; b++) {
                System.arraycopy(dy, (b * total + offset) * plane, parts[k], b * channels[k] * plane, channels[k] * plane);
            }
            offset += channels[k];
        }
        return parts;
    }
}
