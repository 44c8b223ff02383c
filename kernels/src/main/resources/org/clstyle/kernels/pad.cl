// pad.cl: spatial padding of x [N, C, H, W] to y [N, C, Ho, Wo], Ho = top + H + bottom,
// Wo = left + W + right, as PyTorch's F.pad; a negative amount crops. Modes (codes):
// 0 zero, 1 replicate (edge value), 2 circular (wrap around), 3 reflect (mirror without repeating
// the edge; needs every amount < the size).

#define PAD_ZERO 0
#define PAD_REPLICATE 1
#define PAD_CIRCULAR 2
#define PAD_REFLECT 3

// The input index along an axis of length n that output index o reads, or -1 (a zero).
int pad_source(int o, int before, int n, int mode) {
    int i = o - before;
    if (i >= 0 && i < n) return i;
    if (mode == PAD_REPLICATE) return i < 0 ? 0 : n - 1;
    if (mode == PAD_CIRCULAR) return ((i % n) + n) % n;
    if (mode == PAD_REFLECT) return i < 0 ? -i : 2 * (n - 1) - i;
    return -1;
}

// global: [Wo, Ho, N*C]
__kernel void pad_forward(__global const float* x,  // [N, C, H, W]
                          __global float* y,        // [N, C, Ho, Wo]
                          int planes, int h, int w, int ho, int wo, int top, int left, int mode) {
    const int oj = get_global_id(0), oi = get_global_id(1), p = get_global_id(2);
    if (oj >= wo || oi >= ho || p >= planes) return;
    const int i = pad_source(oi, top, h, mode), j = pad_source(oj, left, w, mode);
    y[((size_t) p * ho + oi) * wo + oj] = (i < 0 || j < 0) ? 0.0f : x[((size_t) p * h + i) * w + j];
}

// The t-th output index along an axis that may read input index i: t = 0 the identity o = i + before,
// then the `before` leading and the trailing padded positions. Returns -1 where there is none.
int pad_candidate(int t, int i, int before, int n, int no) {
    if (t == 0) {
        int o = i + before;
        return (o >= 0 && o < no) ? o : -1;
    }
    int lead = clamp(before, 0, no);
    if (t <= lead) return t - 1;
    int o = max(before + n, 0) + (t - 1 - lead);
    return o < no ? o : -1;
}

// dx = the sum of dy over every output position that read each input element; a gather in a fixed
// order (deterministic). global: [W, H, N*C]
__kernel void pad_backward(__global const float* dy,  // [N, C, Ho, Wo]
                           __global float* dx,        // [N, C, H, W]
                           int planes, int h, int w, int ho, int wo, int top, int left, int mode) {
    const int j = get_global_id(0), i = get_global_id(1), p = get_global_id(2);
    if (j >= w || i >= h || p >= planes) return;
    const int bottom = ho - h - top, right = wo - w - left;
    // Candidates: the identity, the leading pad and the trailing pad positions.
    const int rows = 1 + clamp(top, 0, ho) + max(bottom, 0);
    const int cols = 1 + clamp(left, 0, wo) + max(right, 0);
    __global const float* d = dy + (size_t) p * ho * wo;
    float acc = 0.0f;
    for (int a = 0; a < rows; a++) {
        int oi = pad_candidate(a, i, top, h, ho);
        if (oi < 0 || pad_source(oi, top, h, mode) != i) continue;
        if (mode == PAD_ZERO && a > 0) continue;
        for (int b = 0; b < cols; b++) {
            int oj = pad_candidate(b, j, left, w, wo);
            if (oj < 0 || pad_source(oj, left, w, mode) != j) continue;
            acc += d[oi * wo + oj];
        }
    }
    dx[((size_t) p * h + i) * w + j] = acc;
}

// The same two passes with one work-item per row, for CPU devices: each row's interior is one plain
// copy loop the compiler vectorises, and only the padded (or border) columns take the index logic.
// global: [Ho, N*C]
__kernel void pad_forward_rows(__global const float* x,  // [N, C, H, W]
                               __global float* y,        // [N, C, Ho, Wo]
                               int planes, int h, int w, int ho, int wo, int top, int left, int mode) {
    const int oi = get_global_id(0), p = get_global_id(1);
    if (oi >= ho || p >= planes) return;
    __global float* yr = y + ((size_t) p * ho + oi) * wo;
    const int i = pad_source(oi, top, h, mode);
    if (i < 0) {
        for (int oj = 0; oj < wo; oj++) yr[oj] = 0.0f;
        return;
    }
    __global const float* xr = x + ((size_t) p * h + i) * w;
    const int lo = clamp(left, 0, wo), hi = clamp(left + w, lo, wo); // [lo, hi) reads xr[oj - left]
    for (int oj = 0; oj < lo; oj++) {
        const int j = pad_source(oj, left, w, mode);
        yr[oj] = j < 0 ? 0.0f : xr[j];
    }
    for (int oj = lo; oj < hi; oj++) yr[oj] = xr[oj - left];
    for (int oj = hi; oj < wo; oj++) {
        const int j = pad_source(oj, left, w, mode);
        yr[oj] = j < 0 ? 0.0f : xr[j];
    }
}

// The sum over the output columns of row dr (of width wo) that read input column j (fixed order).
float pad_gather_cols(__global const float* dr, int j, int left, int w, int wo, int cols, int mode) {
    float v = 0.0f;
    for (int b = 0; b < cols; b++) {
        int oj = pad_candidate(b, j, left, w, wo);
        if (oj < 0 || pad_source(oj, left, w, mode) != j) continue;
        if (mode == PAD_ZERO && b > 0) continue;
        v += dr[oj];
    }
    return v;
}

// global: [H, N*C]. Per input row: every output row that read it, in candidate order; within each,
// the interior columns (read only by the identity: at least max(left, right) + 1 from either edge when
// no amount crops) are one copy or add loop, the others gather as pad_backward does.
__kernel void pad_backward_rows(__global const float* dy,  // [N, C, Ho, Wo]
                                __global float* dx,        // [N, C, H, W]
                                int planes, int h, int w, int ho, int wo, int top, int left, int mode) {
    const int i = get_global_id(0), p = get_global_id(1);
    if (i >= h || p >= planes) return;
    const int bottom = ho - h - top, right = wo - w - left;
    const int rows = 1 + clamp(top, 0, ho) + max(bottom, 0);
    const int cols = 1 + clamp(left, 0, wo) + max(right, 0);
    const bool crops = left < 0 || right < 0;
    const int edge = max(left, right) + 1;
    const int jlo = crops ? w : min(edge, w), jhi = crops ? w : max(jlo, w - edge); // interior [jlo, jhi)
    __global float* xr = dx + ((size_t) p * h + i) * w;
    bool first = true;
    for (int a = 0; a < rows; a++) {
        const int oi = pad_candidate(a, i, top, h, ho);
        if (oi < 0 || pad_source(oi, top, h, mode) != i) continue;
        if (mode == PAD_ZERO && a > 0) continue;
        __global const float* dr = dy + ((size_t) p * ho + oi) * wo;
        if (first) {
            for (int j = 0; j < jlo; j++) xr[j] = pad_gather_cols(dr, j, left, w, wo, cols, mode);
            for (int j = jlo; j < jhi; j++) xr[j] = dr[j + left];
            for (int j = jhi; j < w; j++) xr[j] = pad_gather_cols(dr, j, left, w, wo, cols, mode);
        } else {
            for (int j = 0; j < jlo; j++) xr[j] += pad_gather_cols(dr, j, left, w, wo, cols, mode);
            for (int j = jlo; j < jhi; j++) xr[j] += dr[j + left];
            for (int j = jhi; j < w; j++) xr[j] += pad_gather_cols(dr, j, left, w, wo, cols, mode);
        }
        first = false;
    }
    if (first) {
        for (int j = 0; j < w; j++) xr[j] = 0.0f;
    }
}
