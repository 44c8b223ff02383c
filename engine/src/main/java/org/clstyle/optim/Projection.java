package org.clstyle.optim;

import org.clstyle.cl.ClBuffer;

/**
 * Applied in place to every point the optimiser is about to evaluate or keep (e.g. clamping an image to
 * [0,1]); {@link #NONE} leaves x as it is.
 */
@FunctionalInterface
public interface Projection {
    Projection NONE = x -> { };

    void apply(ClBuffer x);
}
