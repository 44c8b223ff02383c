package org.clstyle.weights;

import java.util.Arrays;

/** A float32 tensor as read from a source file: row-major data of the given shape. */
record RawTensor(int[] shape, float[] data) {
    RawTensor {
        long n = numel(shape);
        if (n != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + n + " values, not " + data.length);
        }
    }

    static long numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    String shapeString() {
        return Arrays.toString(shape);
    }
}
