// resample.cl: nearest-neighbour upsampling by an integer factor r and average pooling of r x r
// windows at stride r (no padding; Ho = H / r rounded down), over planes [P, H, W] (P = N*C).
// Both backward passes gather (one work-item per input element, fixed order: deterministic).

// y[p, i, j] = x[p, i / r, j / r]. global: [W*r, H*r, P]
__kernel void upsample_nearest_forward(__global const float* x,  // [P, H, W]
                                       __global float* y,        // [P, H*r, W*r]
                                       int planes, int h, int w, int r) {
    const int j = get_global_id(0), i = get_global_id(1), p = get_global_id(2);
    const int ho = h * r, wo = w * r;
    if (j >= wo || i >= ho || p >= planes) return;
    y[((size_t) p * ho + i) * wo + j] = x[((size_t) p * h + i / r) * w + j / r];
}

// dx[p, i, j] = sum of dy over the r x r block it was copied to. global: [W, H, P]
__kernel void upsample_nearest_backward(__global const float* dy,  // [P, H*r, W*r]
                                        __global float* dx,        // [P, H, W]
                                        int planes, int h, int w, int r) {
    const int j = get_global_id(0), i = get_global_id(1), p = get_global_id(2);
    if (j >= w || i >= h || p >= planes) return;
    const int wo = w * r;
    __global const float* d = dy + ((size_t) p * h * r + (size_t) i * r) * wo + (size_t) j * r;
    float s = 0.0f;
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) s += d[a * wo + b];
    dx[((size_t) p * h + i) * w + j] = s;
}

// y[p, i, j] = mean of x over rows i*r .. i*r+r-1, columns j*r .. j*r+r-1. global: [Wo, Ho, P]
__kernel void avg_pool_forward(__global const float* x,  // [P, H, W]
                               __global float* y,        // [P, Ho, Wo]
                               int planes, int h, int w, int r) {
    const int j = get_global_id(0), i = get_global_id(1), p = get_global_id(2);
    const int ho = h / r, wo = w / r;
    if (j >= wo || i >= ho || p >= planes) return;
    __global const float* s0 = x + ((size_t) p * h + (size_t) i * r) * w + (size_t) j * r;
    float s = 0.0f;
    for (int a = 0; a < r; a++)
        for (int b = 0; b < r; b++) s += s0[a * w + b];
    y[((size_t) p * ho + i) * wo + j] = s / (float) (r * r);
}

// dx[p, i, j] = dy[p, i / r, j / r] / r^2, 0 past the last whole window. global: [W, H, P]
__kernel void avg_pool_backward(__global const float* dy,  // [P, Ho, Wo]
                                __global float* dx,        // [P, H, W]
                                int planes, int h, int w, int r) {
    const int j = get_global_id(0), i = get_global_id(1), p = get_global_id(2);
    if (j >= w || i >= h || p >= planes) return;
    const int ho = h / r, wo = w / r;
    const int oi = i / r, oj = j / r;
    dx[((size_t) p * h + i) * w + j] = (oi < ho && oj < wo)
            ? dy[((size_t) p * ho + oi) * wo + oj] / (float) (r * r) : 0.0f;
}

// The nearest upsample's passes for CPU devices, one work-item per input row: the forward reads the
// row once and writes its r output rows; the backward sums each r x r block of the r output rows.
// global: [H, P]
__kernel void upsample_nearest_forward_rows(__global const float* x,  // [P, H, W]
                                            __global float* y,        // [P, H*r, W*r]
                                            int planes, int h, int w, int r) {
    const int i = get_global_id(0), p = get_global_id(1);
    if (i >= h || p >= planes) return;
    const int wo = w * r;
    __global const float* xr = x + ((size_t) p * h + i) * w;
    __global float* y0 = y + ((size_t) p * h * r + (size_t) i * r) * wo;
    for (int j = 0; j < w; j++) {
        const float v = xr[j];
        for (int b = 0; b < r; b++) y0[j * r + b] = v;
    }
    for (int a = 1; a < r; a++) {
        for (int j = 0; j < wo; j++) y0[a * wo + j] = y0[j];
    }
}

// global: [H, P]
__kernel void upsample_nearest_backward_rows(__global const float* dy,  // [P, H*r, W*r]
                                             __global float* dx,        // [P, H, W]
                                             int planes, int h, int w, int r) {
    const int i = get_global_id(0), p = get_global_id(1);
    if (i >= h || p >= planes) return;
    const int wo = w * r;
    __global const float* d = dy + ((size_t) p * h * r + (size_t) i * r) * wo;
    __global float* xr = dx + ((size_t) p * h + i) * w;
    for (int j = 0; j < w; j++) {
        float s = 0.0f;
        for (int a = 0; a < r; a++)
            for (int b = 0; b < r; b++) s += d[a * wo + j * r + b];
        xr[j] = s;
    }
}
