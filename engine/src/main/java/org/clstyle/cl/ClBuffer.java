package org.clstyle.cl;

import static org.lwjgl.opencl.CL10.*;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * A device buffer that knows its shape (e.g. [C, H, W]) and its element type: float32, or IEEE half
 * ({@link #isHalf}) for tensors stored at half precision (kernels read and write them through
 * vload_half/vstore_half_rte and compute in float; the host converts with {@link Half}). Offsets and
 * counts are in elements whatever the type.
 */
public final class ClBuffer implements AutoCloseable {
    private final ClContext ctx;
    private final int[] shape;
    private final long elements;
    private final boolean half;
    private long mem;
    private final ClBuffer owner; // the buffer whose memory this view reads; null for a buffer that owns its memory

    ClBuffer(ClContext ctx, int[] shape, boolean half) {
        this.owner = null;
        this.half = half;
        if (shape.length == 0) {
            throw new IllegalArgumentException("a buffer needs at least one dimension");
        }
        long n = 1;
        for (int s : shape) {
            if (s <= 0) {
                throw new IllegalArgumentException("buffer shape " + Arrays.toString(shape) + " has a non-positive size");
            }
            n = Math.multiplyExact(n, s);
        }
        this.ctx = ctx;
        this.shape = shape.clone();
        this.elements = n;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            mem = clCreateBuffer(ctx.handle(), CL_MEM_READ_WRITE, bytes(), err);
            if (err.get(0) != CL_SUCCESS) {
                throw new ClException("clCreateBuffer(" + bytes() + " bytes, shape " + Arrays.toString(shape) + ")",
                        err.get(0), null);
            }
        }
        ctx.allocated(bytes());
    }

    public int[] shape() { return shape.clone(); }

    /** Size of dimension {@code i}. */
    public int dim(int i) { return shape[i]; }

    public long elements() { return elements; }

    /** Element count as an int, for kernels that index with int. */
    public int size() { return Math.toIntExact(elements); }

    public long bytes() { return elements * elementBytes(); }

    /** True for a buffer of IEEE half elements, false for float32. */
    public boolean isHalf() { return half; }

    /** Bytes per element: 2 for half, 4 for float. */
    public int elementBytes() { return half ? 2 : Float.BYTES; }

    public long handle() {
        if (owner != null) {
            return owner.handle();
        }
        if (mem == 0) {
            throw new IllegalStateException("buffer " + Arrays.toString(shape) + " already released");
        }
        return mem;
    }

    public ClContext context() { return ctx; }

    /** Copies {@code data} (exactly {@link #elements()} floats) to the device; blocks until done. */
    public void write(float[] data) {
        write(data, 0);
    }

    /** Copies {@code data} to the device starting at element {@code offset}; blocks until done. */
    public void write(float[] data, long offset) {
        if (offset + data.length > elements) {
            throw new IllegalArgumentException("write of " + data.length + " floats at " + offset
                    + " overflows buffer of " + elements);
        }
        if (half) {
            ShortBuffer sb = MemoryUtil.memAllocShort(data.length);
            try {
                for (float f : data) {
                    sb.put(Half.fromFloat(f));
                }
                sb.flip();
                ctx.countHostWait();
                ClError.check(clEnqueueWriteBuffer(ctx.queue(), handle(), true, offset * 2, sb, null, null),
                        "clEnqueueWriteBuffer");
            } finally {
                MemoryUtil.memFree(sb);
            }
            return;
        }
        FloatBuffer fb = MemoryUtil.memAllocFloat(data.length);
        try {
            fb.put(data).flip();
            ctx.countHostWait();
            ClError.check(clEnqueueWriteBuffer(ctx.queue(), handle(), true, offset * Float.BYTES, fb, null, null),
                    "clEnqueueWriteBuffer");
        } finally {
            MemoryUtil.memFree(fb);
        }
    }

    /** Reads the whole buffer back; blocks until done. */
    public float[] read() {
        float[] out = new float[size()];
        read(out, 0);
        return out;
    }

    /** Reads {@code dst.length} floats starting at element {@code offset}; blocks until done. */
    public void read(float[] dst, long offset) {
        if (offset + dst.length > elements) {
            throw new IllegalArgumentException("read of " + dst.length + " floats at " + offset
                    + " overflows buffer of " + elements);
        }
        if (half) {
            ShortBuffer sb = MemoryUtil.memAllocShort(dst.length);
            try {
                ctx.countHostWait();
                ClError.check(clEnqueueReadBuffer(ctx.queue(), handle(), true, offset * 2, sb, null, null),
                        "clEnqueueReadBuffer");
                for (int i = 0; i < dst.length; i++) {
                    dst[i] = Half.toFloat(sb.get(i));
                }
            } finally {
                MemoryUtil.memFree(sb);
            }
            return;
        }
        FloatBuffer fb = MemoryUtil.memAllocFloat(dst.length);
        try {
            ctx.countHostWait();
            ClError.check(clEnqueueReadBuffer(ctx.queue(), handle(), true, offset * Float.BYTES, fb, null, null),
                    "clEnqueueReadBuffer");
            fb.get(dst);
        } finally {
            MemoryUtil.memFree(fb);
        }
    }

    /**
     * A quiet NaN with a payload no arithmetic produces (operations on finite values give the default
     * NaN 0x7FC00000): an element still holding it after a kernel was meant to write it was not written.
     */
    public static final int SENTINEL_BITS = 0x7FC5A5A5;

    /** The half buffers' sentinel: a quiet half NaN with a payload (0x7E5A), read back as this float. */
    static final int HALF_SENTINEL_AS_FLOAT = Float.floatToRawIntBits(Half.toFloat((short) 0x7E5A));

    /** Fills the buffer from the host with {@link #SENTINEL_BITS} (its half form for a half buffer); blocks until done. */
    public void fillSentinel() {
        float[] s = new float[size()];
        java.util.Arrays.fill(s, Float.intBitsToFloat(half ? HALF_SENTINEL_AS_FLOAT : SENTINEL_BITS));
        write(s);
    }

    /**
     * Checks, after a kernel that must write every element ran, that no element still holds the
     * sentinel {@link #fillSentinel} put there; otherwise throws a {@link KernelDidNotRunException} naming
     * {@code what}. Blocks until the queue has run up to the read.
     */
    public void requireWritten(String what) {
        float[] v = read();
        long left = 0;
        int sentinel = half ? HALF_SENTINEL_AS_FLOAT : SENTINEL_BITS;
        for (float f : v) {
            if (Float.floatToRawIntBits(f) == sentinel) {
                left++;
            }
        }
        if (left > 0) {
            throw new KernelDidNotRunException(what, left, v.length, ctx.device());
        }
    }

    /** Reads one element. */
    public float read(long index) {
        float[] one = new float[1];
        read(one, index);
        return one[0];
    }

    /** Device-side copy of all of {@code src} (same element count) into this buffer. */
    public void copyFrom(ClBuffer src) {
        if (src.elements != elements) {
            throw new IllegalArgumentException("copy of " + src.elements + " floats into buffer of " + elements);
        }
        sameType(src);
        ClError.check(clEnqueueCopyBuffer(ctx.queue(), src.handle(), handle(), 0, 0, bytes(), null, null),
                "clEnqueueCopyBuffer");
    }

    /**
     * Device-side copy of {@code count} floats of {@code src} from element {@code srcOffset} into this
     * buffer at element {@code dstOffset} (e.g. one image of a batch [N, C, H, W] to or from [C, H, W]).
     */
    public void copyFrom(ClBuffer src, long srcOffset, long dstOffset, long count) {
        if (srcOffset < 0 || dstOffset < 0 || count < 0 || srcOffset + count > src.elements || dstOffset + count > elements) {
            throw new IllegalArgumentException("copy of " + count + " floats from " + srcOffset + " of " + src.elements
                    + " to " + dstOffset + " of " + elements + " is out of range");
        }
        sameType(src);
        if (count == 0) {
            return;
        }
        int eb = elementBytes();
        ClError.check(clEnqueueCopyBuffer(ctx.queue(), src.handle(), handle(), srcOffset * eb,
                dstOffset * eb, count * eb, null, null), "clEnqueueCopyBuffer");
    }

    private void sameType(ClBuffer src) {
        if (src.half != half) {
            throw new IllegalArgumentException("copy between a " + (src.half ? "half" : "float") + " and a "
                    + (half ? "half" : "float") + " buffer: a byte copy would not convert");
        }
    }

    /**
     * Device-side copy of an h x w window of every channel: this[c, dstY + i, dstX + j] = src[c, srcY + i,
     * srcX + j] for 0 <= i < h, 0 <= j < w; both buffers [C, H, W] with the same C (sizes may differ).
     * One clEnqueueCopyBufferRect (OpenCL 1.1); the rest of this buffer is untouched.
     */
    public void copyRegionFrom(ClBuffer src, int srcY, int srcX, int dstY, int dstX, int h, int w) {
        if (shape.length != 3 || src.shape.length != 3 || shape[0] != src.shape[0]) {
            throw new IllegalArgumentException("region copy needs two [C, H, W] buffers of one C, got "
                    + Arrays.toString(src.shape) + " and " + Arrays.toString(shape));
        }
        if (h < 0 || w < 0 || srcY < 0 || srcX < 0 || dstY < 0 || dstX < 0
                || srcY + h > src.shape[1] || srcX + w > src.shape[2] || dstY + h > shape[1] || dstX + w > shape[2]) {
            throw new IllegalArgumentException("region " + h + "x" + w + " from (" + srcY + ", " + srcX + ") of "
                    + Arrays.toString(src.shape) + " to (" + dstY + ", " + dstX + ") of " + Arrays.toString(shape)
                    + " is out of range");
        }
        sameType(src);
        if (h == 0 || w == 0) {
            return;
        }
        int eb = elementBytes();
        try (MemoryStack stack = MemoryStack.stackPush()) {
            org.lwjgl.PointerBuffer srcOrigin = stack.pointers((long) srcX * eb, srcY, 0);
            org.lwjgl.PointerBuffer dstOrigin = stack.pointers((long) dstX * eb, dstY, 0);
            org.lwjgl.PointerBuffer region = stack.pointers((long) w * eb, h, shape[0]);
            long srcRow = (long) src.shape[2] * eb, dstRow = (long) shape[2] * eb;
            ClError.check(org.lwjgl.opencl.CL11.clEnqueueCopyBufferRect(ctx.queue(), src.handle(), handle(),
                    srcOrigin, dstOrigin, region, srcRow, srcRow * src.shape[1], dstRow, dstRow * shape[1], null, null),
                    "clEnqueueCopyBufferRect");
        }
    }

    /**
     * A buffer of {@code shape} over the first elements of this one's memory (no copy, no allocation):
     * one allocation sized for the largest of several shapes serves each in turn (a tiled evaluation's
     * tiles). Valid while this buffer is open; closing the view releases nothing.
     */
    public ClBuffer view(int... shape) {
        return new ClBuffer(owner != null ? owner : this, shape);
    }

    private ClBuffer(ClBuffer owner, int[] shape) {
        long n = 1;
        for (int s : shape) {
            if (s <= 0) {
                throw new IllegalArgumentException("view shape " + Arrays.toString(shape) + " has a non-positive size");
            }
            n = Math.multiplyExact(n, s);
        }
        if (n > owner.elements) {
            throw new IllegalArgumentException("view " + Arrays.toString(shape) + " (" + n + " floats) is larger than its buffer "
                    + Arrays.toString(owner.shape));
        }
        this.ctx = owner.ctx;
        this.shape = shape.clone();
        this.elements = n;
        this.owner = owner;
        this.half = owner.half;
    }

    @Override
    public void close() {
        if (owner != null) {
            return;
        }
        if (mem != 0) {
            clReleaseMemObject(mem);
            mem = 0;
            ctx.released(this, bytes());
        }
    }

    @Override
    public String toString() {
        return (half ? "ClBuffer(half)" : "ClBuffer") + Arrays.toString(shape);
    }
}
