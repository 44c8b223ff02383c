package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.util.HashMap;
import java.util.Map;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/** A program built for one device, and the kernels created from it (one object per kernel name). */
public final class ClProgram implements AutoCloseable {
    private final ClContext ctx;
    private final String label;
    private final String options;
    private final Map<String, ClKernel> kernels = new HashMap<>();
    private long program;
    /**
     * Builds run one at a time in this process: several contexts (one per device, each loss shard on its
     * own thread) building the same source at once made PoCL 3.1's kernel cache fail with "unable to rename
     * temporary ... to output file" (two builds sharing its temporary file names). Builds happen once per
     * program and context, before any iteration, so the lock costs nothing later.
     */
    private static final Object BUILD_LOCK = new Object();

    ClProgram(ClContext ctx, String label, String source, String options) {
        this.ctx = ctx;
        this.label = label;
        this.options = options;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            program = clCreateProgramWithSource(ctx.handle(), source, err);
            ClError.check(err.get(0), "clCreateProgramWithSource(" + label + ")");
            int rc;
            synchronized (BUILD_LOCK) {
                rc = clBuildProgram(program, ctx.device().deviceId(), options, null, 0);
            }
            if (rc != CL_SUCCESS) {
                String log = buildLog();
                clReleaseProgram(program);
                program = 0;
                throw new ClException("clBuildProgram(" + label + ", options \"" + options + "\")", rc,
                        "build log:\n" + log);
            }
        }
    }

    public String label() { return label; }

    public String options() { return options; }

    /** The kernel called {@code name}, created on first use. */
    public ClKernel kernel(String name) {
        ClKernel k = kernels.get(name);
        if (k == null) {
            k = new ClKernel(ctx, this, name);
            kernels.put(name, k);
        }
        return k;
    }

    long handle() {
        if (program == 0) {
            throw new IllegalStateException("program " + label + " already released");
        }
        return program;
    }

    private String buildLog() {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            long dev = ctx.device().deviceId();
            if (clGetProgramBuildInfo(program, dev, CL_PROGRAM_BUILD_LOG, (ByteBuffer) null, size) != CL_SUCCESS) {
                return "(no build log)";
            }
            ByteBuffer buf = MemoryUtil.memAlloc((int) Math.max(1, size.get(0)));
            try {
                clGetProgramBuildInfo(program, dev, CL_PROGRAM_BUILD_LOG, buf, null);
                return MemoryUtil.memUTF8(buf, Math.max(0, (int) size.get(0) - 1)).strip();
            } finally {
                MemoryUtil.memFree(buf);
            }
        }
    }

    @Override
    public void close() {
        if (program != 0) {
            for (ClKernel k : kernels.values()) {
                k.release();
            }
            kernels.clear();
            clReleaseProgram(program);
            program = 0;
            ctx.forget(this);
        }
    }
}
