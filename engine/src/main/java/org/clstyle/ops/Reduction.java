package org.clstyle.ops;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClDevice;
import org.clstyle.cl.ClException;
import org.clstyle.cl.ClKernel;
import org.clstyle.cl.ClProgram;

/**
 * The host half of reduce.cl's deterministic two-stage sum, shared by the op families that reduce
 * (loss.cl, tv.cl, optim.cl). Stage 1 runs a family's {@code *_partials} kernel over a grid whose
 * size depends only on the element count and the work-group size; stage 2 sums the partials in one
 * work-group. So the same input gives a bit-identical sum on every run on a device. It also holds
 * the work-group size choices and shape checks that every elementwise op family in this package uses.
 */
final class Reduction {
    /** Preferred work-items per group (a power of two); lowered to what the device allows. */
    static final int PREFERRED_WG = 256;
    /** Terms each stage-1 work-item sums at least, before another group is added. */
    static final int ITEMS_PER_WORK_ITEM = 8;
    /** Most stage-1 groups; also the partials buffer's size, allocated once. */
    static final int MAX_GROUPS = 1024;
    private static final int CL_INVALID_WORK_GROUP_SIZE = -54;
    private static final int CL_INVALID_WORK_ITEM_SIZE = -55;

    private final ClContext ctx;
    private final ClBuffer partials; // [MAX_GROUPS]
    private final Map<String, ClProgram> programs = new HashMap<>(); // by family, for the current wg
    private int wg;

    Reduction(ClContext ctx) {
        this(ctx, PREFERRED_WG);
    }

    /** With at most {@code preferredWg} work-items per group (tests use this to try small devices' sizes). */
    Reduction(ClContext ctx, int preferredWg) {
        this.ctx = ctx;
        this.wg = workGroupSize(ctx.device(), preferredWg);
        this.partials = ctx.buffer(MAX_GROUPS);
    }

    /** Releases the partials buffer; the reduction is unusable afterwards. */
    void close() {
        partials.close();
    }

    /**
     * The largest power of two that is at most {@code preferred}, the device's maximum work-group
     * size, and (for a float per work-item of local scratch) its local memory.
     */
    static int workGroupSize(ClDevice device, int preferred) {
        long limit = Math.min(preferred, device.maxWorkGroupSize());
        if (device.localMemBytes() > 0) {
            limit = Math.min(limit, device.localMemBytes() / (2 * Float.BYTES));
        }
        return Integer.highestOneBit((int) Math.max(1, limit));
    }

    /** The work-group size the reduction kernels are built for (REDUCE_WG). */
    int workGroupSize() {
        return wg;
    }

    /** Family {@code family} built with this reduction's REDUCE_WG. */
    ClProgram program(String family) {
        return programs.computeIfAbsent(family, f -> ctx.program(f, Map.of("REDUCE_WG", wg)));
    }

    /** Stage-1 groups for {@code n} terms: enough for ITEMS_PER_WORK_ITEM each, at most MAX_GROUPS. */
    int groups(long n) {
        long perGroup = (long) wg * ITEMS_PER_WORK_ITEM;
        return (int) Math.max(1, Math.min(MAX_GROUPS, (n + perGroup - 1) / perGroup));
    }

    /**
     * Enqueues out[index] = scale * (sum of the terms that kernel {@code stage1} of {@code family}
     * produces for {@code n} elements). The kernel takes {@code args} and then the partials buffer.
     */
    void sum(String family, String stage1, long n, double scale, ClBuffer out, int index, Object... args) {
        checkIndex(out, index);
        while (true) {
            int groups = groups(n);
            Object[] all = Arrays.copyOf(args, args.length + 1);
            all[args.length] = partials;
            ClProgram program = program(family);
            try {
                program.kernel(stage1).launch(new long[] {(long) groups * wg}, new long[] {wg}, all);
            } catch (ClException e) {
                // The kernel may allow fewer work-items than the device (registers, local memory):
                // halve it (rebuilding) until it fits; it then stays fixed, so results stay reproducible.
                if (e.code() == CL_INVALID_WORK_GROUP_SIZE && wg > 1) {
                    wg /= 2;
                    programs.clear();
                    continue;
                }
                throw e;
            }
            program.kernel("reduce_partials").launch(new long[] {wg}, new long[] {wg},
                    partials, groups, out, index, (float) scale);
            return;
        }
    }

    /** A 1-D elementwise launch of kernel {@code name} of {@code family} over {@code n} work-items. */
    void elementwise(String family, String name, long n, Object... args) {
        launch(program(family).kernel(name), new long[] {n}, new long[] {Math.min(wg, Math.max(1, n))}, args);
    }

    /**
     * Launches with the given work-group shape, or with the driver's choice where this kernel on
     * this device cannot take that shape (a work-group or work-item size limit below ours).
     */
    static void launch(ClKernel kernel, long[] global, long[] local, Object... args) {
        try {
            kernel.launch(global, local, args);
        } catch (ClException e) {
            if (local != null && (e.code() == CL_INVALID_WORK_GROUP_SIZE || e.code() == CL_INVALID_WORK_ITEM_SIZE)) {
                kernel.launch(global, null, args);
            } else {
                throw e;
            }
        }
    }

    /** The work-group shape for kernels over [W, H, C] grids (x fastest), within the device's limit. */
    static long[] local3d(ClDevice device) {
        return device.maxWorkGroupSize() >= 128 ? new long[] {16, 8, 1} : null;
    }

    /** The 1-D work-group size for elementwise kernels that do not belong to a reducing family. */
    static long[] local1d(ClDevice device, long n) {
        return new long[] {Math.min(workGroupSize(device, PREFERRED_WG), Math.max(1, n))};
    }

    static void checkIndex(ClBuffer out, int index) {
        if (index < 0 || index >= out.elements()) {
            throw new IllegalArgumentException("output index " + index + " is outside " + out
                    + " (" + out.elements() + " elements)");
        }
    }

    static void checkSameSize(String what, ClBuffer a, String aName, ClBuffer b, String bName) {
        if (a.elements() != b.elements()) {
            throw new IllegalArgumentException(what + ": " + aName + " " + a + " has " + a.elements()
                    + " elements but " + bName + " " + b + " has " + b.elements());
        }
    }

    static void checkSameShape(String what, ClBuffer a, String aName, ClBuffer b, String bName) {
        if (!Arrays.equals(a.shape(), b.shape())) {
            throw new IllegalArgumentException(what + ": " + aName + " is " + a + " but " + bName + " is " + b);
        }
    }

}
