package org.clstyle.ops;

import java.util.Map;
import java.util.Optional;

/**
 * The settings an op runs with per shape class (its variant and kernel defines), chosen above the ops:
 * tune.TuningTable is the implementation the engine passes down, filled by `clstyle tune`. An op only
 * reads them; with {@link #NONE} every op runs its built-in defaults.
 */
public interface OpSettings {
    /** No settings: every op and shape class runs the op's defaults. */
    OpSettings NONE = new OpSettings() {
        @Override
        public boolean isEmpty() {
            return true;
        }

        @Override
        public Map<String, Object> definesFor(String op, ShapeClass c) {
            return Map.of();
        }

        @Override
        public Optional<String> variantFor(String op, ShapeClass c) {
            return Optional.empty();
        }
    };

    /** True when nothing is set for any op (every call runs the defaults). */
    boolean isEmpty();

    /** The kernel defines for {@code op} at class {@code c}; empty for the defaults. */
    Map<String, Object> definesFor(String op, ShapeClass c);

    /** The variant (an enum constant name of the op's Variant) for {@code op} at class {@code c}, if one is set. */
    Optional<String> variantFor(String op, ShapeClass c);
}
