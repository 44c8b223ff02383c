package org.clstyle.optim;

import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.ops.VectorOps;

/**
 * PyTorch's Adam (no weight decay, no amsgrad) over many parameter tensors, as torch.optim.Adam over a
 * network's parameters: one shared step count, a moment pair per tensor, one fused kernel per tensor
 * per step (VectorOps.adam). The learning rate may change between steps (a decay schedule); the step
 * count and moments can be read and restored for an exact resume.
 */
public final class MultiTensorAdam implements AutoCloseable {
    private final VectorOps ops;
    private final List<ClBuffer> params;
    private final List<ClBuffer> m = new ArrayList<>(); // per tensor, its shape
    private final List<ClBuffer> v = new ArrayList<>(); // per tensor, its shape
    private final Adam.Options options;
    private double lr;
    private int steps;

    /** Moments zeroed, for {@code params} (updated in place by each step). */
    public MultiTensorAdam(ClContext ctx, List<ClBuffer> params, Adam.Options options) {
        if (params.isEmpty()) {
            throw new IllegalArgumentException("MultiTensorAdam: no parameters");
        }
        this.ops = new VectorOps(ctx);
        this.params = List.copyOf(params);
        this.options = options;
        this.lr = options.lr();
        for (ClBuffer p : this.params) {
            ClBuffer mk = ctx.buffer(p.shape()), vk = ctx.buffer(p.shape());
            ops.fill(mk, 0f);
            ops.fill(vk, 0f);
            m.add(mk);
            v.add(vk);
        }
    }

    /** One step of every tensor with its gradient (grads in the parameters' order and shapes). */
    public void step(List<ClBuffer> grads) {
        if (grads.size() != params.size()) {
            throw new IllegalArgumentException("MultiTensorAdam: " + grads.size() + " gradients for " + params.size()
                    + " parameter tensors");
        }
        steps++;
        for (int k = 0; k < params.size(); k++) {
            ops.adam(params.get(k), grads.get(k), m.get(k), v.get(k), (float) lr, (float) options.beta1(),
                    (float) options.beta2(), (float) options.eps(), steps);
        }
    }

    /** The learning rate of the next steps. */
    public void setLearningRate(double lr) {
        if (!(lr > 0)) {
            throw new IllegalArgumentException("MultiTensorAdam: learning rate must be positive but is " + lr);
        }
        this.lr = lr;
    }

    public double learningRate() { return lr; }

    /** Steps taken (the bias corrections' t of the last step). */
    public int steps() { return steps; }

    /** Restores the step count (with the moments, for a resume). */
    public void setSteps(int steps) {
        if (steps < 0) {
            throw new IllegalArgumentException("MultiTensorAdam: steps must be >= 0 but is " + steps);
        }
        this.steps = steps;
    }

    /** The first moments, one per tensor (read or write them to save or restore). */
    public List<ClBuffer> firstMoments() { return List.copyOf(m); }

    /** The second moments, one per tensor. */
    public List<ClBuffer> secondMoments() { return List.copyOf(v); }

    public long deviceBytes() {
        long b = 0;
        for (ClBuffer x : m) b += 2 * x.bytes();
        return b;
    }

    @Override
    public void close() {
        m.forEach(ClBuffer::close);
        v.forEach(ClBuffer::close);
    }
}
