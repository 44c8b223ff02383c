// pool.cl: 2x2 pooling with stride 2 over [C, H, W]; output [C, H/2, W/2] (floor: an odd last row or
// column is dropped, as in PyTorch). Backward kernels gather (one work-item per input element), so
// they need no atomics and write every element of dx, the dropped ones as 0.

// Row-major offset in the window of its maximum: 0..3 for (0,0), (0,1), (1,0), (1,1). The first
// maximum wins on ties and a NaN wins over numbers, exactly PyTorch's CPU rule (v > max || isnan(v)).
int window_argmax(__global const float* p, const int W) {
    float best = p[0];
    int at = 0;
    const float v1 = p[1], v2 = p[W], v3 = p[W + 1];
    if (v1 > best || isnan(v1)) { best = v1; at = 1; }
    if (v2 > best || isnan(v2)) { best = v2; at = 2; }
    if (v3 > best || isnan(v3)) { best = v3; at = 3; }
    return at;
}

// global: [Wo, Ho, C]
__kernel void max_pool_forward(__global const float* x,  // [C, H, W]
                               __global float* y,        // [C, Ho, Wo]
                               const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= Wo || i >= Ho || c >= C) return;
    __global const float* p = x + IDX3(c, 2 * i, 2 * j, H, W);
    const int at = window_argmax(p, W);
    y[IDX3(c, i, j, Ho, Wo)] = p[(at >> 1) * W + (at & 1)];
}

// global: [W, H, C]; dx gets dy where this element is its window's (first) maximum, else 0.
__kernel void max_pool_backward(__global const float* x,   // [C, H, W]
                                __global const float* dy,  // [C, Ho, Wo]
                                __global float* dx,        // [C, H, W]
                                const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= W || i >= H || c >= C) return;
    const int oi = i >> 1, oj = j >> 1;
    float g = 0.0f;
    if (oi < Ho && oj < Wo) {
        const int at = window_argmax(x + IDX3(c, 2 * oi, 2 * oj, H, W), W);
        if (at == ((i & 1) << 1 | (j & 1))) {
            g = dy[IDX3(c, oi, oj, Ho, Wo)];
        }
    }
    dx[IDX3(c, i, j, H, W)] = g;
}

// global: [Wo, Ho, C]; sum in row-major window order, then / 4 (exact: a power of two), as PyTorch.
__kernel void avg_pool_forward(__global const float* x,  // [C, H, W]
                               __global float* y,        // [C, Ho, Wo]
                               const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= Wo || i >= Ho || c >= C) return;
    __global const float* p = x + IDX3(c, 2 * i, 2 * j, H, W);
    y[IDX3(c, i, j, Ho, Wo)] = (((p[0] + p[1]) + p[W]) + p[W + 1]) * 0.25f;
}

// global: [W, H, C]
__kernel void avg_pool_backward(__global const float* dy,  // [C, Ho, Wo]
                                __global float* dx,        // [C, H, W]
                                const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= W || i >= H || c >= C) return;
    const int oi = i >> 1, oj = j >> 1;
    dx[IDX3(c, i, j, H, W)] = (oi < Ho && oj < Wo) ? dy[IDX3(c, oi, oj, Ho, Wo)] * 0.25f : 0.0f;
}
