package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.LongBuffer;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;

/**
 * Device time of a stretch of queued work, from profiling events: a marker before and one after,
 * and the difference of their end times on the device's clock. Needs a context made with
 * profiling; where the driver gives no profiling information for markers it falls back to the host
 * clock around the work and a finish (reported by {@link #deviceClock()}).
 */
public final class ClTimer {
    private final ClContext ctx;
    private boolean deviceClock = true;

    public ClTimer(ClContext ctx) {
        if (!ctx.profiling()) {
            throw new IllegalArgumentException("ClTimer needs a context created with profiling enabled");
        }
        this.ctx = ctx;
    }

    /** False once the driver refused marker profiling and the host clock is used instead. */
    public boolean deviceClock() { return deviceClock; }

    /** Nanoseconds from the end of the queue's earlier work to the end of the work {@code work} enqueues. */
    public long nanos(Runnable work) {
        ctx.finish();
        if (deviceClock) {
            long before = marker();
            long t0 = System.nanoTime();
            work.run();
            long after = marker();
            try {
                ClError.check(clWaitForEvents(after), "clWaitForEvents(marker)");
                long a = endTime(before), b = endTime(after);
                if (a > 0 && b >= a) {
                    return b - a;
                }
                deviceClock = false;
                return System.nanoTime() - t0;
            } catch (ClException e) {
                deviceClock = false; // e.g. CL_PROFILING_INFO_NOT_AVAILABLE for markers
                ctx.finish();
                return System.nanoTime() - t0;
            } finally {
                clReleaseEvent(before);
                clReleaseEvent(after);
            }
        }
        long t0 = System.nanoTime();
        work.run();
        ctx.finish();
        return System.nanoTime() - t0;
    }

    private long marker() {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer ev = stack.mallocPointer(1);
            ClError.check(clEnqueueMarker(ctx.queue(), ev), "clEnqueueMarker");
            return ev.get(0);
        }
    }

    private static long endTime(long ev) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            LongBuffer t = stack.mallocLong(1);
            ClError.check(clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, t, null), "clGetEventProfilingInfo(marker)");
            return t.get(0);
        }
    }
}
