package org.clstyle.nn;

import java.util.List;

/**
 * One named output of a {@link Network}: {@code layer} applied to the outputs named in {@code inputs}
 * ({@link Network#INPUT} for the network's input). The name is what a recipe or a caller asks for
 * (conv1_1, relu1_1, pool1, ...); parameters are named {@code name + "." + parameter}.
 */
public record Node(String name, Layer layer, List<String> inputs) {
    public Node {
        if (name == null || name.isEmpty() || name.equals(Network.INPUT)) {
            throw new IllegalArgumentException("bad node name '" + name + "'");
        }
        inputs = List.copyOf(inputs);
        int arity = layer.arity();
        if (arity < 0 ? inputs.size() < 2 : inputs.size() != arity) {
            throw new IllegalArgumentException(name + ": a " + layer.getClass().getSimpleName() + " takes "
                    + (arity < 0 ? "two or more inputs" : arity == 1 ? "exactly one input" : arity + " inputs")
                    + ", got " + inputs);
        }
    }

    /** The first (for most kinds the single) input's name. */
    public String input() {
        return inputs.get(0);
    }

    /** The full name of one of this node's parameters, e.g. conv1_1.weight */
    public String parameter(String p) {
        return name + "." + p;
    }
}
