package org.clstyle.ops;

import java.util.Arrays;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Concatenation along channels, as torch.cat(parts, dim=1) (kernels/channels.cl): parts
 * [N, C_k, H, W] into y [N, sum C_k, H, W] in order; the backward splits dy back into the parts'
 * gradients. GPUs copy one element per work-item; CPU devices contiguous runs of 4096 with float8 steps.
 */
public final class ChannelConcat {
    private final ClContext ctx;
    private final ClProgram program;
    private final boolean chunks;
    /** Elements per work-item of the CPU kernel (COPY_CHUNK). */
    private static final int CHUNK = 4096;

    /** Runs of {@value #CHUNK} per work-item on CPU devices, one element each elsewhere. */
    public ChannelConcat(ClContext ctx) {
        this(ctx, ctx.device().isCpu());
    }

    /** With {@code chunks}: the CPU kernel (contiguous runs); else one work-item per element. */
    public ChannelConcat(ClContext ctx, boolean chunks) {
        this.ctx = ctx;
        this.program = ctx.program("channels", java.util.Map.of("COPY_CHUNK", CHUNK));
        this.chunks = chunks;
    }

    /** y = cat(parts) along dimension 1. */
    public void forward(List<ClBuffer> parts, ClBuffer y) {
        int[] s = check("forward", parts, y);
        int offset = 0;
        for (ClBuffer p : parts) {
            copy(p, p.dim(1), 0, y, s[1], offset, s[0], p.dim(1), s[2] * s[3]);
            offset += p.dim(1);
        }
    }

    /** grads[k] = dy's block of channels of part k (overwritten); grads shaped as the parts. */
    public void backward(ClBuffer dy, List<ClBuffer> grads) {
        int[] s = check("backward", grads, dy);
        int offset = 0;
        for (ClBuffer g : grads) {
            copy(dy, s[1], offset, g, g.dim(1), 0, s[0], g.dim(1), s[2] * s[3]);
            offset += g.dim(1);
        }
    }

    private void copy(ClBuffer src, int srcChannels, int srcOffset, ClBuffer dst, int dstChannels, int dstOffset, int n,
            int count, int plane) {
        long total = (long) n * count * plane;
        if (chunks) {
            long block = (long) count * plane;
            program.kernel("channel_copy_chunks").launch(new long[] {(block + CHUNK - 1) / CHUNK, n}, null,
                    src, srcChannels, srcOffset, dst, dstChannels, dstOffset, n, count, plane);
            return;
        }
        Reduction.launch(program.kernel("channel_copy"), new long[] {total}, Reduction.local1d(ctx.device(), total),
                src, srcChannels, srcOffset, dst, dstChannels, dstOffset, n, count, plane);
    }

    private static int[] check(String method, List<ClBuffer> parts, ClBuffer y) {
        String who = "ChannelConcat." + method;
        int[] s = y.shape();
        if (s.length != 4 || parts.isEmpty()) {
            throw new IllegalArgumentException(who + ": need [N, C, H, W] tensors and at least one part, got " + y);
        }
        int channels = 0;
        for (ClBuffer p : parts) {
            int[] ps = p.shape();
            if (ps.length != 4 || ps[0] != s[0] || ps[2] != s[2] || ps[3] != s[3]) {
                throw new IllegalArgumentException(who + ": part " + p + " does not match " + y + " in N, H, W");
            }
            channels += ps[1];
        }
        if (channels != s[1]) {
            throw new IllegalArgumentException(who + ": parts have " + channels + " channels in all but " + y + " has "
                    + s[1] + " (" + Arrays.toString(parts.stream().mapToInt(p -> p.dim(1)).toArray()) + ")");
        }
        return s;
    }
}
