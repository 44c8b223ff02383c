package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.IntBuffer;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.MemoryStack;

/**
 * One device's context and in-order command queue, the programs built on it (cached by source and
 * options), and an account of the buffer memory allocated on it. Closing it releases, in reverse
 * order of creation, every program and buffer still open, then the queue and the context.
 */
public final class ClContext implements AutoCloseable {
    private final ClDevice device;
    private final boolean profiling;
    private final long context;
    private final long queue;
    private final Map<String, ClProgram> programs = new LinkedHashMap<>();
    private final Deque<AutoCloseable> owned = new ArrayDeque<>();
    private long allocatedBytes;
    private long peakBytes;
    // kernel name -> {launches, device nanoseconds}, filled by profiled launches
    private final Map<String, long[]> kernelTimes = new LinkedHashMap<>();
    private boolean closed;
    // Commands that cost the host: kernel launches enqueued, and blocking calls (reads, writes, finish)
    // after which the device's queue is empty until the host enqueues more (a GPU idles meanwhile).
    private final java.util.concurrent.atomic.AtomicLong launches = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong hostWaits = new java.util.concurrent.atomic.AtomicLong();

    /** A context on {@code device}; with {@code profiling} every launch can report its device time. */
    public ClContext(ClDevice device, boolean profiling) {
        this.device = device;
        this.profiling = profiling;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            PointerBuffer props = stack.mallocPointer(3).put(CL_CONTEXT_PLATFORM).put(device.platformId()).put(0).flip();
            context = clCreateContext(props, device.deviceId(), null, 0, err);
            ClError.check(err.get(0), "clCreateContext");
            long q = clCreateCommandQueue(context, device.deviceId(), profiling ? CL_QUEUE_PROFILING_ENABLE : 0, err);
            if (err.get(0) != CL_SUCCESS) {
                clReleaseContext(context);
                ClError.check(err.get(0), "clCreateCommandQueue");
            }
            queue = q;
        }
    }

    /** A context on the default device (first GPU, else first device). */
    public static ClContext createDefault() {
        return new ClContext(ClDevice.select(null), false);
    }

    public ClDevice device() { return device; }

    public boolean profiling() { return profiling; }

    long handle() { return context; }

    long queue() { return queue; }

    /** A new zero-filled-or-undefined float32 buffer of the given shape, e.g. {@code buffer(C, H, W)}. */
    public ClBuffer buffer(int... shape) {
        checkOpen();
        ClBuffer b = new ClBuffer(this, shape, false);
        owned.push(b);
        return b;
    }

    /**
     * A new buffer of IEEE half elements (2 bytes each) of the given shape, for a tensor stored at half
     * precision; see {@link ClBuffer#isHalf}.
     */
    public ClBuffer halfBuffer(int... shape) {
        checkOpen();
        ClBuffer b = new ClBuffer(this, shape, true);
        owned.push(b);
        return b;
    }

    /** A new buffer holding {@code data}, with the given shape. */
    public ClBuffer buffer(float[] data, int... shape) {
        ClBuffer b = buffer(shape);
        b.write(data);
        return b;
    }

    /**
     * The program built from kernel family {@code family} (e.g. "conv3x3") with these defines; built
     * once per (family, defines) on this context's device.
     */
    public ClProgram program(String family, Map<String, ?> defines) {
        checkOpen();
        String source = KernelSource.load(family);
        StringBuilder opts = new StringBuilder("-cl-std=CL1.2");
        for (Map.Entry<String, ?> e : new TreeMap<>(defines).entrySet()) {
            opts.append(" -D").append(e.getKey()).append('=').append(e.getValue());
        }
        return programFromSource(family, source, opts.toString());
    }

    /** The program built from {@code family} with default defines. */
    public ClProgram program(String family) {
        return program(family, Map.of());
    }

    /** Builds (or returns the cached build of) arbitrary source with options. */
    public ClProgram programFromSource(String label, String source, String options) {
        checkOpen();
        String key = options + "\u0000" + source;
        ClProgram p = programs.get(key);
        if (p == null) {
            p = new ClProgram(this, label, source, options);
            programs.put(key, p);
            owned.push(p);
        }
        return p;
    }

    /** Waits until every queued command has finished. */
    public void finish() {
        hostWaits.incrementAndGet();
        ClError.check(clFinish(queue), "clFinish");
    }

    /** Kernel launches enqueued on this context so far. */
    public long launches() { return launches.get(); }

    /** Blocking host calls (buffer reads and writes, {@link #finish}) on this context so far: each drains the queue. */
    public long hostWaits() { return hostWaits.get(); }

    void countLaunch() { launches.incrementAndGet(); }

    void countHostWait() { hostWaits.incrementAndGet(); }

    /** Bytes of buffer memory currently allocated through this context. */
    public long allocatedBytes() { return allocatedBytes; }

    /** The most buffer memory allocated at once through this context. */
    public long peakBytes() { return peakBytes; }

    /**
     * Per kernel name, the launches and device nanoseconds of every launch since the last
     * {@link #resetKernelTimes} ({launches, ns}); empty unless the context profiles.
     */
    public synchronized Map<String, long[]> kernelTimes() {
        Map<String, long[]> copy = new LinkedHashMap<>();
        kernelTimes.forEach((k, v) -> copy.put(k, v.clone()));
        return copy;
    }

    /** Forgets the kernel times so far. */
    public synchronized void resetKernelTimes() {
        kernelTimes.clear();
    }

    synchronized void addKernelTime(String kernel, long ns) {
        long[] t = kernelTimes.computeIfAbsent(kernel, k -> new long[2]);
        t[0]++;
        t[1] += ns;
    }

    /** Forgets the peak so far; the next peak starts from what is allocated now. */
    public void resetPeak() { peakBytes = allocatedBytes; }

    void allocated(long bytes) {
        allocatedBytes += bytes;
        peakBytes = Math.max(peakBytes, allocatedBytes);
    }

    void released(AutoCloseable what, long bytes) {
        allocatedBytes -= bytes;
        owned.remove(what);
    }

    void forget(ClProgram p) {
        programs.values().remove(p);
        owned.remove(p);
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("OpenCL context already closed");
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        // Reverse order of creation: buffers and programs, then queue, then context.
        while (!owned.isEmpty()) {
            try {
                owned.peek().close();
            } catch (Exception e) {
                owned.poll();
            }
        }
        programs.clear();
        closed = true;
        clReleaseCommandQueue(queue);
        clReleaseContext(context);
    }
}
