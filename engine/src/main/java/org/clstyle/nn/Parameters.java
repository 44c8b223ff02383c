package org.clstyle.nn;

/**
 * Where a network's parameters come from: host arrays by full name (conv1_1.weight, conv1_1.bias), in
 * the layer's row-major parameter shape (see {@link Layer.Conv2d#parameterShape}).
 */
@FunctionalInterface
public interface Parameters {
    /** The values of parameter {@code name}; never modified by the caller. */
    float[] get(String name);
}
