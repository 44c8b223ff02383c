package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.IntBuffer;
import java.nio.LongBuffer;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;

/**
 * One kernel of a program. {@link #launch} is the single place where arguments are set: they are
 * passed in order as a typed list ({@link ClBuffer}, Integer, Float, {@link Local}), so no caller
 * ever writes a bare argument index.
 */
public final class ClKernel {
    private final ClContext ctx;
    private final String name;
    private long kernel;

    /** A __local argument of {@code bytes} bytes. */
    public record Local(long bytes) {
        public static Local floats(long n) { return new Local(n * Float.BYTES); }
    }

    ClKernel(ClContext ctx, ClProgram program, String name) {
        this.ctx = ctx;
        this.name = name;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            kernel = clCreateKernel(program.handle(), name, err);
            ClError.check(err.get(0), "clCreateKernel(" + name + ")");
        }
    }

    public String name() { return name; }

    /**
     * The most work-items per group this kernel can take on the context's device
     * (CL_KERNEL_WORK_GROUP_SIZE): registers and local memory can make it smaller than the device's.
     */
    public long maxWorkGroupSize() {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            ClError.check(clGetKernelWorkGroupInfo(kernel, ctx.device().deviceId(), CL_KERNEL_WORK_GROUP_SIZE, size, null),
                    "clGetKernelWorkGroupInfo(" + name + ")");
            return size.get(0);
        }
    }

    /**
     * Sets {@code args} in order and enqueues the kernel over {@code global} work-items, in groups of
     * {@code local} (null lets the driver choose). Each global size is rounded up to a multiple of
     * its local size, so kernels must bound-check. Returns the device time in nanoseconds when the
     * context profiles (waiting for the kernel), else -1 without waiting.
     */
    public long launch(long[] global, long[] local, Object... args) {
        setArgs(args);
        checkLimits(global, local);
        int dims = global.length;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer g = stack.mallocPointer(dims);
            PointerBuffer l = local == null ? null : stack.mallocPointer(dims);
            for (int i = 0; i < dims; i++) {
                long gs = Math.max(1, global[i]);
                if (local != null) {
                    long ls = local[i];
                    gs = (gs + ls - 1) / ls * ls;
                    l.put(i, ls);
                }
                g.put(i, gs);
            }
            PointerBuffer event = ctx.profiling() ? stack.mallocPointer(1) : null;
            int rc = clEnqueueNDRangeKernel(ctx.queue(), kernel, dims, null, g, l, null, event);
            ctx.countLaunch();
            if (rc != CL_SUCCESS) {
                throw new ClException("clEnqueueNDRangeKernel(" + name + ", global " + describe(global)
                        + ", local " + (local == null ? "auto" : describe(local)) + ")", rc, null);
            }
            if (event == null) {
                return -1;
            }
            long ev = event.get(0);
            try {
                ClError.check(clWaitForEvents(ev), "clWaitForEvents(" + name + ")");
                LongBuffer t = stack.mallocLong(1);
                ClError.check(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, t, null), "clGetEventProfilingInfo");
                long start = t.get(0);
                ClError.check(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, t, null), "clGetEventProfilingInfo");
                long ns = t.get(0) - start;
                ctx.addKernelTime(name, ns);
                return ns;
            } finally {
                clReleaseEvent(ev);
            }
        }
    }

    /**
     * Holds every launch to the limits {@link ClDevice} reports (which {@link ClDevice#withLimits} may
     * lower below the real device's): a work-group larger than the device's, or along a dimension
     * than its work-item limit, is CL_INVALID_WORK_GROUP_SIZE / CL_INVALID_WORK_ITEM_SIZE; local memory
     * (static and arguments, CL_KERNEL_LOCAL_MEM_SIZE) beyond the device's is CL_OUT_OF_RESOURCES. The
     * same codes a GPU driver returns, so the ops' step-down paths run the same way everywhere.
     */
    private void checkLimits(long[] global, long[] local) {
        ClDevice dev = ctx.device();
        String call = "clEnqueueNDRangeKernel(" + name + ", global " + describe(global)
                + ", local " + (local == null ? "auto" : describe(local)) + ")";
        if (local != null) {
            long items = 1;
            long[] most = dev.maxWorkItemSizes();
            for (int i = 0; i < local.length; i++) {
                if (local[i] < 1) {
                    throw new ClException(call, -54, "local size " + local[i] + " along dimension " + i);
                }
                if (i < most.length && local[i] > most[i]) {
                    throw new ClException(call, -55, "local size " + local[i] + " along dimension " + i
                            + " exceeds the device's " + most[i]);
                }
                items *= local[i];
            }
            if (items > dev.maxWorkGroupSize()) {
                throw new ClException(call, -54, "work-group of " + items + " work-items exceeds the device's "
                        + dev.maxWorkGroupSize());
            }
        }
        long localBytes = localMemSize();
        if (localBytes > dev.localMemBytes()) {
            throw new ClException(call, -5, "kernel needs " + localBytes + " bytes of local memory, the device has "
                    + dev.localMemBytes());
        }
    }

    /** CL_KERNEL_LOCAL_MEM_SIZE on the context's device: static __local arrays plus __local arguments set. */
    public long localMemSize() {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            LongBuffer size = stack.mallocLong(1);
            ClError.check(clGetKernelWorkGroupInfo(kernel, ctx.device().deviceId(), CL_KERNEL_LOCAL_MEM_SIZE, size, null),
                    "clGetKernelWorkGroupInfo(" + name + ", CL_KERNEL_LOCAL_MEM_SIZE)");
            return size.get(0);
        }
    }

    private void setArgs(Object[] args) {
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            int rc;
            if (a instanceof ClBuffer b) {
                rc = clSetKernelArg1p(kernel, i, b.handle());
            } else if (a instanceof Integer v) {
                rc = clSetKernelArg1i(kernel, i, v);
            } else if (a instanceof Float v) {
                rc = clSetKernelArg1f(kernel, i, v);
            } else if (a instanceof Local loc) {
                rc = clSetKernelArg(kernel, i, loc.bytes());
            } else {
                throw new IllegalArgumentException("kernel " + name + " argument " + i + ": unsupported type "
                        + (a == null ? "null" : a.getClass().getSimpleName()));
            }
            if (rc != CL_SUCCESS) {
                throw new ClException("clSetKernelArg(" + name + ", arg " + i + ")", rc, null);
            }
        }
    }

    private static String describe(long[] v) {
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) {
            sb.append(i == 0 ? "" : ", ").append(v[i]);
        }
        return sb.append(']').toString();
    }

    void release() {
        if (kernel != 0) {
            clReleaseKernel(kernel);
            kernel = 0;
        }
    }
}
