// tv.cl: total variation of x [C, H, W]: the sum over c, i, j of the squared (L2) or absolute (L1)
// forward differences to the right neighbour (j + 1 < W) and to the one below (i + 1 < H).
#include "reduce.cl"

// Stage 1 of the L2 sum. global: groups * REDUCE_WG; n = C * H * W.
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void tv_l2_partials(__global const float* x,  // [C, H, W]
                    const int H, const int W, const int n,
                    __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        const int j = (int) (k % W), i = (int) ((k / W) % H);
        const float v = x[k];
        if (j + 1 < W) { const float d = x[k + 1] - v; acc += d * d; }
        if (i + 1 < H) { const float d = x[k + W] - v; acc += d * d; }
    }
    reduce_group_store(acc, scratch, partials);
}

// Stage 1 of the L1 sum.
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void tv_l1_partials(__global const float* x,  // [C, H, W]
                    const int H, const int W, const int n,
                    __global float* partials) {  // [groups]
    __local float scratch[REDUCE_WG];
    float acc = 0.0f;
    for (size_t k = get_global_id(0); k < (size_t) n; k += get_global_size(0)) {
        const int j = (int) (k % W), i = (int) ((k / W) % H);
        const float v = x[k];
        if (j + 1 < W) acc += fabs(x[k + 1] - v);
        if (i + 1 < H) acc += fabs(x[k + W] - v);
    }
    reduce_group_store(acc, scratch, partials);
}

float sign0(const float d) {
    return d > 0.0f ? 1.0f : (d < 0.0f ? -1.0f : 0.0f);
}

// d TV / d x[c,i,j] times scale: each difference touching x[c,i,j] contributes, with its sign;
// L2 terms give 2 d, L1 terms sign(d) with sign(0) = 0. grad (+)= that. global: n.
__kernel void tv_backward(__global const float* x,   // [C, H, W]
                          const int H, const int W, const int n,
                          const int l1,                // 0: L2, else L1
                          const float scale,
                          __global float* grad,      // [C, H, W]
                          const int accumulate) {
    const int k = (int) get_global_id(0);
    if (k >= n) return;
    const int j = k % W, i = (k / W) % H;
    const float v = x[k];
    float g = 0.0f;
    // Differences where x[c,i,j] is the minuend (from the left / from above) count +, subtrahend -.
    if (l1) {
        if (j > 0) g += sign0(v - x[k - 1]);
        if (j + 1 < W) g -= sign0(x[k + 1] - v);
        if (i > 0) g += sign0(v - x[k - W]);
        if (i + 1 < H) g -= sign0(x[k + W] - v);
    } else {
        if (j > 0) g += 2.0f * (v - x[k - 1]);
        if (j + 1 < W) g -= 2.0f * (x[k + 1] - v);
        if (i > 0) g += 2.0f * (v - x[k - W]);
        if (i + 1 < H) g -= 2.0f * (x[k + W] - v);
    }
    g *= scale;
    grad[k] = accumulate ? grad[k] + g : g;
}
