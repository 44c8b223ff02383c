package org.clstyle.ops;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The op instances a default-constructed op delegates to, one per distinct tuned setting: classes
 * with equal settings share an instance, and a class the table says nothing about (every class of
 * an untuned device) runs on the untuned instance itself, so an empty table changes nothing.
 * A table entry the op refuses (an IllegalArgumentException from the factory: a hand-edited or
 * stale file) falls back to the untuned instance too.
 *
 * @param <T> the op class
 */
public final class TunedInstances<T> {
    /** Makes an op of the variant (enum constant name) with the define overrides. */
    public interface Factory<T> {
        T create(String variant, Map<String, Object> defines);
    }

    private final OpSettings table;
    private final String op;
    private final T untuned;
    private final String untunedVariant;
    private final Factory<T> factory;
    private final Map<String, T> made = new HashMap<>();
    private final List<String> refused = new ArrayList<>();

    public TunedInstances(OpSettings table, String op, T untuned, String untunedVariant, Factory<T> factory) {
        this.table = table;
        this.op = op;
        this.untuned = untuned;
        this.untunedVariant = untunedVariant;
        this.factory = factory;
    }

    /** The instance for calls of class {@code c}. */
    public T forClass(ShapeClass c) {
        if (table.isEmpty()) {
            return untuned;
        }
        Map<String, Object> defines = table.definesFor(op, c);
        String variant = table.variantFor(op, c).orElse(untunedVariant);
        if (defines.isEmpty() && variant.equals(untunedVariant)) {
            return untuned;
        }
        String key = variant + " " + defines;
        T t = made.get(key);
        if (t == null) {
            try {
                t = factory.create(variant, defines);
            } catch (IllegalArgumentException e) {
                refused.add(c + " " + key + ": " + e.getMessage());
                t = untuned;
            }
            made.put(key, t);
        }
        return t;
    }

    /** The tuned instances made so far (not the untuned one), e.g. to pass on a prepare call. */
    public Collection<T> made() {
        List<T> out = new ArrayList<>();
        for (T t : made.values()) {
            if (t != untuned && !out.contains(t)) {
                out.add(t);
            }
        }
        return out;
    }

    /** The table entries that were refused and replaced by the defaults, if any. */
    public Optional<String> refused() {
        return refused.isEmpty() ? Optional.empty() : Optional.of(String.join("; ", refused));
    }
}
