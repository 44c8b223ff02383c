package org.clstyle.ops;

import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;

/**
 * The checks and build defines of the ops whose activation arguments may be stored as IEEE half
 * ({@link ClBuffer#isHalf}): Conv3x3's x, y and ReLU output, Relu's x and y, Pool2x2's x and y. Such an op
 * runs its per-element (GPU) kernels built with ACT_HALF=1 (common.cl's ACT_T, LOAD_ACT, STORE_ACT) on
 * every device; gradients, weights and biases are always float.
 */
final class ActivationStorage {
    private ActivationStorage() {
    }

    /** The define that builds a family's activation arguments as half. */
    static final String DEFINE = "ACT_HALF";

    /**
     * Whether activations {@code a} and {@code b} of one call are half: both or neither, else an
     * IllegalArgumentException naming them.
     */
    static boolean half(String what, ClBuffer a, String aName, ClBuffer b, String bName) {
        if (a.isHalf() != b.isHalf()) {
            throw new IllegalArgumentException(what + ": " + aName + " is " + type(a) + " but " + bName + " is "
                    + type(b) + "; activations of one call share their storage");
        }
        return a.isHalf();
    }

    /** Throws unless {@code b} (a gradient, weight or bias, or an argument of a float-only kernel) is float. */
    static void requireFloat(String what, ClBuffer b, String name) {
        if (b.isHalf()) {
            throw new IllegalArgumentException(what + ": " + name + " " + b + " must be float");
        }
    }

    /** {@code defines} plus ACT_HALF=1. */
    static Map<String, Object> halfDefines(Map<String, ?> defines) {
        Map<String, Object> d = new HashMap<>(defines);
        d.put(DEFINE, 1);
        return d;
    }

    private static String type(ClBuffer b) {
        return b.isHalf() ? "half" : "float";
    }
}
