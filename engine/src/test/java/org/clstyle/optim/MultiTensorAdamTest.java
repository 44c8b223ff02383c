package org.clstyle.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;
import org.clstyle.cl.ClBuffer;
import org.clstyle.cl.ClContext;
import org.clstyle.reference.VectorReference;
import org.clstyle.testing.Tensors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * MultiTensorAdam against VectorReference.adam per tensor (double) over 6 steps with fresh random
 * gradients each step and a learning-rate change after step 3 (a decay schedule), then a resume: a
 * second optimiser given the first's moments and step count continues identically. Tolerance as
 * VectorOpsTest's Adam: atol 1e-6 + rtol 1e-5 on the parameters.
 */
class MultiTensorAdamTest {
    private static ClContext ctx;

    @BeforeAll
    static void open() {
        ctx = ClContext.createDefault();
    }

    @AfterAll
    static void close() {
        ctx.close();
    }

    @Test
    void stepsEveryTensorAsTheReferenceAndResumesExactly() {
        int[][] shapes = {{8, 3, 3, 3}, {8}, {1}, {3, 48, 1, 1}};
        List<ClBuffer> params = new ArrayList<>(), grads = new ArrayList<>();
        List<double[]> p = new ArrayList<>(), m = new ArrayList<>(), v = new ArrayList<>();
        for (int k = 0; k < shapes.length; k++) {
            int n = 1;
            for (int s : shapes[k]) n *= s;
            float[] init = Tensors.uniform(k, n, -1, 1);
            params.add(ctx.buffer(init, shapes[k]));
            grads.add(ctx.buffer(shapes[k]));
            p.add(Tensors.toDouble(init));
            m.add(new double[n]);
            v.add(new double[n]);
        }
        Adam.Options opt = new Adam.Options(1e-2, 0.9, 0.999, 1e-8);
        MultiTensorAdam adam = new MultiTensorAdam(ctx, params, opt);
        MultiTensorAdam resumed = null;
        try {
            for (int step = 1; step <= 6; step++) {
                double lr = step <= 3 ? 1e-2 : 5e-3;
                MultiTensorAdam a = step <= 4 ? adam : resumed;
                a.setLearningRate(lr);
                for (int k = 0; k < shapes.length; k++) {
                    float[] g = Tensors.uniform(100 * step + k, p.get(k).length, -1, 1);
                    grads.get(k).write(g);
                    VectorReference.adam(p.get(k), Tensors.toDouble(g), m.get(k), v.get(k), lr, 0.9, 0.999, 1e-8, step);
                }
                a.step(grads);
                assertEquals(step, a.steps());
                if (step == 4) {
                    // Resume: a fresh optimiser with the saved moments and step count.
                    resumed = new MultiTensorAdam(ctx, params, opt);
                    for (int k = 0; k < shapes.length; k++) {
                        resumed.firstMoments().get(k).write(adam.firstMoments().get(k).read());
                        resumed.secondMoments().get(k).write(adam.secondMoments().get(k).read());
                    }
                    resumed.setSteps(adam.steps());
                }
            }
            for (int k = 0; k < shapes.length; k++) {
                Tensors.assertClose("tensor " + k, f(p.get(k)), params.get(k).read(), 1e-6, 1e-5);
            }
            assertThrows(IllegalArgumentException.class, () -> adam.step(grads.subList(0, 2)));
        } finally {
            adam.close();
            if (resumed != null) resumed.close();
            params.forEach(ClBuffer::close);
            grads.forEach(ClBuffer::close);
        }
    }

    private static float[] f(double[] d) {
        float[] r = new float[d.length];
        for (int i = 0; i < d.length; i++) r[i] = (float) d[i];
        return r;
    }
}
