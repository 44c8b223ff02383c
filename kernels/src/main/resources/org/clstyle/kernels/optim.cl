// optim.cl: vector operations for the optimisers (L-BFGS, Adam), over buffers seen as flat [n].
#include "reduce.cl"

// Stage 1 of sum(a * b). global: groups * REDUCE_WG.
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void dot_partials(__global const float* a,   // [n]
                  __global const float* b,   // [n]
                  const int n,
                  __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        acc += a[k] * b[k];
    }
    reduce_group_store(acc, scratch, partials);
}

// Stage 1 of sum(|a|).
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void sum_abs_partials(__global const float* a,   // [n]
                      const int n,
                      __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        acc += fabs(a[k]);
    }
    reduce_group_store(acc, scratch, partials);
}

// y += alpha * x
__kernel void axpy(const float alpha,
                   __global const float* x,  // [n]
                   __global float* y,        // [n]
                   const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) y[k] += alpha * x[k];
}

// y += (mul * coef[index]) * x, the coefficient read on the device (no round trip to the host).
__kernel void axpy_device_coef(__global const float* coef,  // [>= index + 1]
                               const int index,
                               const float mul,
                               __global const float* x,     // [n]
                               __global float* y,           // [n]
                               const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) y[k] += (mul * coef[index]) * x[k];
}

// x *= alpha
__kernel void scale_in_place(__global float* x,  // [n]
                             const float alpha, const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) x[k] *= alpha;
}

// x = value
__kernel void fill(__global float* x,  // [n]
                   const float value, const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) x[k] = value;
}

// One step of PyTorch's Adam (no weight decay, no amsgrad), in the order its single-tensor path
// evaluates it:
//   m = m * b1 + (1 - b1) * g;  v = v * b2 + ((1 - b2) * g) * g
//   p = p - stepSize * (m / (sqrt(v) / bc2Sqrt + eps))
// with stepSize = lr / (1 - b1^t) and bc2Sqrt = sqrt(1 - b2^t) computed in double on the host.
__kernel void adam_step(__global float* p,        // [n]
                        __global const float* g,  // [n]
                        __global float* m,        // [n]
                        __global float* v,        // [n]
                        const float b1, const float oneMinusB1,
                        const float b2, const float oneMinusB2,
                        const float stepSize, const float bc2Sqrt, const float eps,
                        const int n) {
    const int k = (int) get_global_id(0);
    if (k >= n) return;
    const float gk = g[k];
    const float mk = m[k] * b1 + oneMinusB1 * gk;
    const float vk = v[k] * b2 + (oneMinusB2 * gk) * gk;
    m[k] = mk;
    v[k] = vk;
    const float denom = sqrt(vk) / bc2Sqrt + eps;
    p[k] = p[k] - stepSize * (mk / denom);
}
