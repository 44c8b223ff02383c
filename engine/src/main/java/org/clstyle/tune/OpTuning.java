package org.clstyle.tune;

import org.clstyle.ops.ShapeClass;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;

/**
 * What the {@link Autotuner} needs to know about one op family: its shape classes with a
 * representative shape to time and a small shape of the same class to check, the candidate grid
 * (in stages, each varying a few defines on top of the best so far, so the search stays a few dozen
 * points instead of the full product), how to build the op for a candidate, and the work to time
 * and check with its reference.
 */
public abstract class OpTuning {

    /** A point of the search: the op's variant (enum constant name) and define overrides. */
    public record Candidate(String variant, Map<String, Object> defines) {
        public Candidate {
            defines = Collections.unmodifiableMap(new TreeMap<>(defines));
        }

        /** This candidate with {@code more} defines added (replacing equal keys). */
        public Candidate with(Map<String, ?> more) {
            Map<String, Object> m = new TreeMap<>(defines);
            m.putAll(more);
            return new Candidate(variant, m);
        }

        /** A candidate of another variant with no overrides. */
        public Candidate ofVariant(String v) {
            return new Candidate(v, Map.of());
        }

        @Override
        public String toString() {
            return variant + (defines.isEmpty() ? " (defaults)" : " " + defines);
        }
    }

    /**
     * One class to tune: {@code timeShape} is a representative VGG19-like shape at a modest size (the
     * timing), {@code checkShape} a small one of the same class (compared with the reference). Shapes
     * are op-specific int arrays, see each op's {@link #describe}.
     */
    public record ClassPlan(ShapeClass cls, int[] timeShape, int[] checkShape) {}

    /** One step of the search: the candidates to try given the best candidate so far. */
    public interface Stage {
        List<Candidate> next(Candidate best);
    }

    /** Tolerance of one output: |actual - expected| &le; atol + rtol |expected|. */
    public record Tolerance(double atol, double rtol) {}

    /** Buffers and, for a check shape, reference outputs of one shape. */
    public abstract static class Workload implements AutoCloseable {
        private final List<ClBuffer> buffers = new ArrayList<>();
        private final SplittableRandom random;

        protected Workload(long seed) {
            this.random = new SplittableRandom(seed);
        }

        /** A buffer of {@code shape} filled from uniform [-1, 1] (its values returned through {@code into[0]} when given). */
        protected ClBuffer random(ClContext ctx, double[][] into, int... shape) {
            ClBuffer b = ctx.buffer(shape);
            float[] v = new float[b.size()];
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (random.nextDouble() * 2 - 1);
            }
            b.write(v);
            if (into != null) {
                double[] d = new double[v.length];
                for (int i = 0; i < v.length; i++) {
                    d[i] = v[i];
                }
                into[0] = d;
            }
            buffers.add(b);
            return b;
        }

        /** A buffer of {@code shape} for outputs. */
        protected ClBuffer output(ClContext ctx, int... shape) {
            ClBuffer b = ctx.buffer(shape);
            buffers.add(b);
            return b;
        }

        /** Enqueues the timed work of {@code op} (the methods the style-transfer loop calls). */
        public abstract void run(Object op);

        /** Output names in a fixed order, matching {@link #outputs} and {@link #reference()}. */
        public abstract List<String> names();

        /** Runs {@code op} once and reads its outputs (in the order of {@link #names()}). */
        public List<float[]> outputs(Object op) {
            run(op);
            List<float[]> out = new ArrayList<>();
            for (ClBuffer b : outputBuffers()) {
                out.add(b.read());
            }
            return out;
        }

        protected abstract List<ClBuffer> outputBuffers();

        /** The double-precision reference outputs (in the order of {@link #names()}). */
        public abstract List<double[]> reference();

        /** The tolerance of output {@code i}, as the op's unit tests state it. */
        public abstract Tolerance tolerance(int i);

        @Override
        public void close() {
            for (ClBuffer b : buffers) {
                b.close();
            }
            buffers.clear();
        }
    }

    /** "conv", "gram", "pool" or "relu". */
    public abstract String op();

    /** The classes to tune with their shapes; {@code quick} may use smaller timing shapes. */
    public abstract List<ClassPlan> plans(boolean quick);

    /** The variant the op picks for {@code d} with no overrides: the default candidate. */
    public abstract Candidate defaultCandidate(ClDevice d);

    /** The search stages on {@code d}; the default candidate is always tried first by the tuner. */
    public abstract List<Stage> stages(ClDevice d, boolean quick);

    /** The op for {@code c}; IllegalArgumentException (or a build error later) when the combination is invalid. */
    public abstract Object create(ClContext ctx, Candidate c);

    /** Buffers for {@code shape}; with the reference computed when {@code reference}. */
    public abstract Workload workload(ClContext ctx, int[] shape, boolean reference);

    /** The shape in words, e.g. "x [64, 16, 256] -> [64, 16, 256]". */
    public abstract String describe(int[] shape);

    /** Candidates varying one define over {@code values} on top of {@code best}. */
    protected static List<Candidate> vary(Candidate best, String key, int... values) {
        List<Candidate> out = new ArrayList<>();
        for (int v : values) {
            out.add(best.with(Map.of(key, v)));
        }
        return out;
    }

    /** Candidates setting two defines to each pair of {@code pairs} (flattened: k1, k2, k1, k2, ...). */
    protected static List<Candidate> pairs(Candidate best, String k1, String k2, int... pairs) {
        List<Candidate> out = new ArrayList<>();
        for (int i = 0; i + 1 < pairs.length; i += 2) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put(k1, pairs[i]);
            m.put(k2, pairs[i + 1]);
            out.add(best.with(m));
        }
        return out;
    }

    /**
     * gemm.cl tile configurations (TS_M, TS_N, TS_K, WPT_M, WPT_N) for the GEMM variants, GPU-shaped ones
     * included: 128x128 blocks of 16x16 work-items with 8x8 outputs each (the usual large-GPU SGEMM tile;
     * 16 KiB of local memory for a convolution, 32 KiB for the Gram's forward, which holds two tile pairs),
     * which the host never picks by itself. A device that cannot run one (work-group or local-memory
     * limits) fails that candidate, which the tuner skips.
     */
    protected static List<Candidate> gemmTiles(Candidate best, boolean quick) {
        // TS_M, TS_N, TS_K, WPT_M, WPT_N, and 1 for two pairs of local tiles (GEMM_DOUBLE_BUFFER: one barrier per K step).
        int[][] full = {
            {64, 64, 16, 4, 16, 0}, {64, 64, 16, 8, 8, 0}, {32, 32, 16, 4, 8, 0}, {64, 64, 8, 4, 16, 0},
            {64, 32, 16, 4, 8, 0}, {32, 64, 16, 4, 8, 0}, {128, 64, 16, 8, 8, 0}, {128, 128, 16, 8, 8, 0}, {128, 128, 8, 8, 8, 0},
            {128, 128, 8, 8, 8, 1}, {64, 64, 16, 8, 8, 1}, // double-buffered 128x128 TS_K 16 would need 32896 bytes
            {32, 32, 32, 4, 4, 0}, {16, 16, 16, 4, 4, 0},
        };
        int[][] few = {{64, 64, 16, 4, 16, 0}, {64, 64, 16, 8, 8, 0}, {128, 128, 16, 8, 8, 0}, {128, 128, 8, 8, 8, 1},
            {32, 32, 16, 4, 8, 0}, {16, 16, 16, 4, 4, 0}};
        List<Candidate> out = new ArrayList<>();
        for (int[] t : quick ? few : full) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("TS_M", t[0]);
            m.put("TS_N", t[1]);
            m.put("TS_K", t[2]);
            m.put("WPT_M", t[3]);
            m.put("WPT_N", t[4]);
            if (t[5] != 0) {
                m.put("GEMM_DOUBLE_BUFFER", 1);
            }
            out.add(best.with(m));
        }
        return out;
    }

    static String shape(int... s) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < s.length; i++) {
            b.append(i == 0 ? "" : ", ").append(s[i]);
        }
        return b.append(']').toString();
    }
}
