package org.clstyle.ops;

import java.util.Arrays;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.cl.ClProgram;

/**
 * Concatenation along channels, as torch.cat(parts, dim=1) (kernels/channels.cl): parts
 * [N, C_k, H, W] into y [N, sum C_k, H, W] in order; the backward splits dy back into the parts'
 * gradients.
 */
public final class ChannelConcat {
    private final ClContext ctx;
    private final ClProgram program;

    public ChannelConcat(ClContext ctx) {
        this.ctx = ctx;
        this.program = ctx.program("channels");
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
