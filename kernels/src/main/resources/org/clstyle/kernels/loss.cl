// loss.cl: distances between two tensors of n elements: mean squared error and mean absolute error.
// Forward: stage 1 here (per-group partial sums), stage 2 reduce_partials with scale 1/n.
#include "reduce.cl"

// Stage 1 of sum((a - b)^2). global: groups * REDUCE_WG.
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void mse_partials(__global const float* a,   // [n]
                  __global const float* b,   // [n]
                  const int n,
                  __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        const float d = a[k] - b[k];
        acc += d * d;
    }
    reduce_group_store(acc, scratch, partials);
}

// Stage 1 of sum(|a - b|).
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void l1_partials(__global const float* a,   // [n]
                 __global const float* b,   // [n]
                 const int n,
                 __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        acc += fabs(a[k] - b[k]);
    }
    reduce_group_store(acc, scratch, partials);
}

// grad (+)= coef * (a - b), coef = scale * 2 / n from the host.
__kernel void mse_backward(__global const float* a,   // [n]
                           __global const float* b,   // [n]
                           const float coef,
                           __global float* grad,      // [n]
                           const int accumulate,
                           const int n) {
    const int k = (int) get_global_id(0);
    if (k >= n) return;
    const float g = coef * (a[k] - b[k]);
    grad[k] = accumulate ? grad[k] + g : g;
}

// grad (+)= coef * sign(a - b) with sign(0) = 0, coef = scale / n from the host.
__kernel void l1_backward(__global const float* a,   // [n]
                          __global const float* b,   // [n]
                          const float coef,
                          __global float* grad,      // [n]
                          const int accumulate,
                          const int n) {
    const int k = (int) get_global_id(0);
    if (k >= n) return;
    const float d = a[k] - b[k];
    const float g = d > 0.0f ? coef : (d < 0.0f ? -coef : 0.0f);
    grad[k] = accumulate ? grad[k] + g : g;
}
