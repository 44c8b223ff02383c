package org.clstyle.optim;

import org.clstyle.cl.ClBuffer;

/**
 * A differentiable scalar function of a device buffer: returns f(x) and writes df/dx into {@code grad}
 * (same element count as x, overwritten). {@code LossFunction::evaluate} shaped, with the loss as a double.
 */
@FunctionalInterface
public interface Objective {
    double evaluate(ClBuffer x, ClBuffer grad);
}
