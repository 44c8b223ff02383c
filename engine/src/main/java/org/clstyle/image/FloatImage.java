package org.clstyle.image;

/**
 * An RGB image as floats in [0,1], planar [3, H, W] at (c*H + i)*W + j: the layout the device works in.
 */
public record FloatImage(int width, int height, float[] data /* [3, H, W] */) {
    public FloatImage {
        if (width <= 0 || height <= 0) {
            throw new IllegalArgumentException("image size " + width + "x" + height + " is not positive");
        }
        if (data.length != 3L * width * height) {
            throw new IllegalArgumentException("image data has " + data.length + " floats, expected 3x" + height + "x" + width);
        }
    }

    /** A black image of this size. */
    public static FloatImage blank(int width, int height) {
        return new FloatImage(width, height, new float[3 * width * height]);
    }

    public float get(int c, int i, int j) { return data[(c * height + i) * width + j]; }

    public int longestSide() { return Math.max(width, height); }

    /** Shape for ClContext.buffer: {3, H, W}. */
    public int[] shape() { return new int[] {3, height, width}; }

    @Override
    public String toString() { return "FloatImage[" + width + "x" + height + "]"; }
}
