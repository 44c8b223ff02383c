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

// The same over an activation window (ACT_T: half storage with ACT_HALF=1), for the per-element kernels.
int window_argmax_act(__global const ACT_T* p, const int W) {
    float best = LOAD_ACT(p, 0);
    int at = 0;
    const float v1 = LOAD_ACT(p, 1), v2 = LOAD_ACT(p, W), v3 = LOAD_ACT(p, W + 1);
    if (v1 > best || isnan(v1)) { best = v1; at = 1; }
    if (v2 > best || isnan(v2)) { best = v2; at = 2; }
    if (v3 > best || isnan(v3)) { best = v3; at = 3; }
    return at;
}

// The per-element kernels' x and y are activations (ACT_T: half storage with ACT_HALF=1); dy and dx
// are float. The row and masked forms below are float only.

// global: [Wo, Ho, C]
__kernel void max_pool_forward(__global const ACT_T* x,  // [C, H, W]
                               __global ACT_T* y,        // [C, Ho, Wo]
                               const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= Wo || i >= Ho || c >= C) return;
    __global const ACT_T* p = x + IDX3(c, 2 * i, 2 * j, H, W);
    const int at = window_argmax_act(p, W);
    STORE_ACT(y, IDX3(c, i, j, Ho, Wo), LOAD_ACT(p, (at >> 1) * W + (at & 1)));
}

// global: [W, H, C]; dx gets dy where this element is its window's (first) maximum, else 0.
__kernel void max_pool_backward(__global const ACT_T* x,   // [C, H, W]
                                __global const float* dy,  // [C, Ho, Wo]
                                __global float* dx,        // [C, H, W]
                                const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= W || i >= H || c >= C) return;
    const int oi = i >> 1, oj = j >> 1;
    float g = 0.0f;
    if (oi < Ho && oj < Wo) {
        const int at = window_argmax_act(x + IDX3(c, 2 * oi, 2 * oj, H, W), W);
        if (at == ((i & 1) << 1 | (j & 1))) {
            g = dy[IDX3(c, oi, oj, Ho, Wo)];
        }
    }
    dx[IDX3(c, i, j, H, W)] = g;
}

// global: [Wo, Ho, C]; sum in row-major window order, then / 4 (exact: a power of two), as PyTorch.
__kernel void avg_pool_forward(__global const ACT_T* x,  // [C, H, W]
                               __global ACT_T* y,        // [C, Ho, Wo]
                               const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= Wo || i >= Ho || c >= C) return;
    __global const ACT_T* p = x + IDX3(c, 2 * i, 2 * j, H, W);
    STORE_ACT(y, IDX3(c, i, j, Ho, Wo),
              (((LOAD_ACT(p, 0) + LOAD_ACT(p, 1)) + LOAD_ACT(p, W)) + LOAD_ACT(p, W + 1)) * 0.25f);
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

// ---------------------------------------------------------------------------------------------
// Row variant, for CPU devices (Pool2x2.Variant.ROWS). One work-item per output row: it walks the
// two input rows of its windows POOL_VW windows at a time with vector loads and stores, then the
// last Wo % POOL_VW windows one by one. The per-element kernels above compute an index per element
// and load with stride 2, which CPU compilers turn into scalar code (about 2 GB/s on PoCL); this
// form streams whole rows (measured: see Pool2x2). Same results bit for bit: the same comparisons
// and additions in the same order, only several windows side by side.

// Windows per vector step: 4, 8 or 16 (trades register use against loop overhead; 8 = one AVX register).
#ifndef POOL_VW
#define POOL_VW 8
#endif

#if POOL_VW == 4
typedef float4 pvec;      // one value per window
typedef float8 pvec2;     // the two input columns of POOL_VW windows, interleaved
typedef int4 pmask;
#define PVLOAD(p) vload4(0, p)
#define PVSTORE(v, p) vstore4(v, 0, p)
#define PVLOAD2(p) vload8(0, p)
#define PVSTORE2(v, p) vstore8(v, 0, p)
#define PINTERLEAVE(a, b) ((pvec2)((a).s0, (b).s0, (a).s1, (b).s1, (a).s2, (b).s2, (a).s3, (b).s3))
#elif POOL_VW == 8
typedef float8 pvec;
typedef float16 pvec2;
typedef int8 pmask;
#define PVLOAD(p) vload8(0, p)
#define PVSTORE(v, p) vstore8(v, 0, p)
#define PVLOAD2(p) vload16(0, p)
#define PVSTORE2(v, p) vstore16(v, 0, p)
#define PINTERLEAVE(a, b) ((pvec2)((a).s0, (b).s0, (a).s1, (b).s1, (a).s2, (b).s2, (a).s3, (b).s3, \
                                   (a).s4, (b).s4, (a).s5, (b).s5, (a).s6, (b).s6, (a).s7, (b).s7))
#elif POOL_VW == 16
typedef float16 pvec;
typedef int16 pmask;
#define PVLOAD(p) vload16(0, p)
#define PVSTORE(v, p) vstore16(v, 0, p)
// No 32-wide vectors in OpenCL C: two 16-wide halves.
#define PVLOAD2_HALVES 1
#else
#error "POOL_VW must be 4, 8 or 16"
#endif

// Splits 2*POOL_VW consecutive floats at p into the even (first column of each window) and odd
// (second column) elements.
inline void pool_load_pairs(__global const float* p, pvec* ev, pvec* od) {
#ifdef PVLOAD2_HALVES
    const float16 lo = vload16(0, p), hi = vload16(1, p);
    *ev = (float16)(lo.even, hi.even);
    *od = (float16)(lo.odd, hi.odd);
#else
    const pvec2 v = PVLOAD2(p);
    *ev = v.even;
    *od = v.odd;
#endif
}

// Stores ev, od interleaved: p[2k] = ev[k], p[2k+1] = od[k].
inline void pool_store_pairs(pvec ev, pvec od, __global float* p) {
#ifdef PVLOAD2_HALVES
    vstore16((float16)(ev.s0, od.s0, ev.s1, od.s1, ev.s2, od.s2, ev.s3, od.s3,
                       ev.s4, od.s4, ev.s5, od.s5, ev.s6, od.s6, ev.s7, od.s7), 0, p);
    vstore16((float16)(ev.s8, od.s8, ev.s9, od.s9, ev.sa, od.sa, ev.sb, od.sb,
                       ev.sc, od.sc, ev.sd, od.sd, ev.se, od.se, ev.sf, od.sf), 1, p);
#else
    PVSTORE2(PINTERLEAVE(ev, od), p);
#endif
}

// Masks (all bits set = true) of "this candidate replaces the running maximum", in window order
// a (0,0), b (0,1), c (1,0), d (1,1): window_argmax's rule, v > best || isnan(v), per lane. v != v
// is isnan(v) (true only for NaN), as one unordered compare; PoCL's isnan is integer bit tests.
inline void pool_argmax_masks(pvec a, pvec b, pvec c, pvec d, pmask* m1, pmask* m2, pmask* m3) {
    *m1 = (b > a) | (b != b);
    const pvec best1 = select(a, b, *m1);
    *m2 = (c > best1) | (c != c);
    const pvec best2 = select(best1, c, *m2);
    *m3 = (d > best2) | (d != d);
}

// global: [C * Ho] (one work-item per output row)
__kernel void max_pool_forward_rows(__global const float* x,  // [C, H, W]
                                    __global float* y,        // [C, Ho, Wo]
                                    const int C, const int H, const int W, const int Ho, const int Wo) {
    const int r = (int) get_global_id(0);
    if (r >= C * Ho) return;
    const int c = r / Ho, i = r - c * Ho;
    __global const float* p0 = x + IDX3(c, 2 * i, 0, H, W);
    __global const float* p1 = p0 + W;
    __global float* q = y + (size_t) r * Wo;
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        pvec a, b, cc, d;
        pool_load_pairs(p0 + 2 * j, &a, &b);
        pool_load_pairs(p1 + 2 * j, &cc, &d);
        pvec best = a;
        best = select(best, b, (b > best) | (b != b));
        best = select(best, cc, (cc > best) | (cc != cc));
        best = select(best, d, (d > best) | (d != d));
        PVSTORE(best, q + j);
    }
    for (; j < Wo; j++) {
        float best = p0[2 * j];
        const float v1 = p0[2 * j + 1], v2 = p1[2 * j], v3 = p1[2 * j + 1];
        if (v1 > best || isnan(v1)) best = v1;
        if (v2 > best || isnan(v2)) best = v2;
        if (v3 > best || isnan(v3)) best = v3;
        q[j] = best;
    }
}

// global: [C * ((H + 1) / 2)] (one work-item per pair of input rows; with H odd, the last one of
// each channel writes the dropped row's zeros). Writes every element of its rows of dx.
__kernel void max_pool_backward_rows(__global const float* x,   // [C, H, W]
                                     __global const float* dy,  // [C, Ho, Wo]
                                     __global float* dx,        // [C, H, W]
                                     const int C, const int H, const int W, const int Ho, const int Wo) {
    const int Hp = (H + 1) / 2;
    const int r = (int) get_global_id(0);
    if (r >= C * Hp) return;
    const int c = r / Hp, i = r - c * Hp;
    __global float* o0 = dx + IDX3(c, 2 * i, 0, H, W);
    if (i == Ho) {  // the dropped last row (H odd)
        for (int j = 0; j < W; j++) o0[j] = 0.0f;
        return;
    }
    __global float* o1 = o0 + W;
    __global const float* p0 = x + IDX3(c, 2 * i, 0, H, W);
    __global const float* p1 = p0 + W;
    __global const float* g = dy + IDX3(c, i, 0, Ho, Wo);
    const pvec zero = (pvec) 0.0f;
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        pvec a, b, cc, d;
        pool_load_pairs(p0 + 2 * j, &a, &b);
        pool_load_pairs(p1 + 2 * j, &cc, &d);
        pmask m1, m2, m3;
        pool_argmax_masks(a, b, cc, d, &m1, &m2, &m3);
        const pvec gv = PVLOAD(g + j);
        // The winner is the last candidate whose mask is set (d, then c, then b), else a.
        const pvec g3 = select(zero, gv, m3);
        const pvec g2 = select(zero, gv, m2 & ~m3);
        const pvec g1 = select(zero, gv, m1 & ~(m2 | m3));
        const pvec g0 = select(zero, gv, ~(m1 | m2 | m3));
        pool_store_pairs(g0, g1, o0 + 2 * j);
        pool_store_pairs(g2, g3, o1 + 2 * j);
    }
    for (; j < Wo; j++) {
        const int at = window_argmax(p0 + 2 * j, W);
        const float gj = g[j];
        o0[2 * j] = at == 0 ? gj : 0.0f;
        o0[2 * j + 1] = at == 1 ? gj : 0.0f;
        o1[2 * j] = at == 2 ? gj : 0.0f;
        o1[2 * j + 1] = at == 3 ? gj : 0.0f;
    }
    if (W & 1) {  // the dropped last column
        o0[W - 1] = 0.0f;
        o1[W - 1] = 0.0f;
    }
}

// global: [C * Ho]
__kernel void avg_pool_forward_rows(__global const float* x,  // [C, H, W]
                                    __global float* y,        // [C, Ho, Wo]
                                    const int C, const int H, const int W, const int Ho, const int Wo) {
    const int r = (int) get_global_id(0);
    if (r >= C * Ho) return;
    const int c = r / Ho, i = r - c * Ho;
    __global const float* p0 = x + IDX3(c, 2 * i, 0, H, W);
    __global const float* p1 = p0 + W;
    __global float* q = y + (size_t) r * Wo;
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        pvec a, b, cc, d;
        pool_load_pairs(p0 + 2 * j, &a, &b);
        pool_load_pairs(p1 + 2 * j, &cc, &d);
        PVSTORE((((a + b) + cc) + d) * 0.25f, q + j);
    }
    for (; j < Wo; j++) {
        q[j] = (((p0[2 * j] + p0[2 * j + 1]) + p1[2 * j]) + p1[2 * j + 1]) * 0.25f;
    }
}

// global: [C * ((H + 1) / 2)], as max_pool_backward_rows.
__kernel void avg_pool_backward_rows(__global const float* dy,  // [C, Ho, Wo]
                                     __global float* dx,        // [C, H, W]
                                     const int C, const int H, const int W, const int Ho, const int Wo) {
    const int Hp = (H + 1) / 2;
    const int r = (int) get_global_id(0);
    if (r >= C * Hp) return;
    const int c = r / Hp, i = r - c * Hp;
    __global float* o0 = dx + IDX3(c, 2 * i, 0, H, W);
    if (i == Ho) {
        for (int j = 0; j < W; j++) o0[j] = 0.0f;
        return;
    }
    __global float* o1 = o0 + W;
    __global const float* g = dy + IDX3(c, i, 0, Ho, Wo);
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        const pvec gv = PVLOAD(g + j) * 0.25f;
        pool_store_pairs(gv, gv, o0 + 2 * j);
        pool_store_pairs(gv, gv, o1 + 2 * j);
    }
    for (; j < Wo; j++) {
        const float gj = g[j] * 0.25f;
        o0[2 * j] = gj;
        o0[2 * j + 1] = gj;
        o1[2 * j] = gj;
        o1[2 * j + 1] = gj;
    }
    if (W & 1) {
        o0[W - 1] = 0.0f;
        o1[W - 1] = 0.0f;
    }
}

// ---------------------------------------------------------------------------------------------
// Backward through ReLU then pooling, in place: x is the pool's input, itself a ReLU output, and is
// overwritten by d loss / d (the ReLU's input) = (pool backward of dy) masked by x > 0. Saves the
// gradient buffer of x's shape in the VGG backward. Each window's four outputs depend only on its
// own four inputs and one dy, so a work-item reads its whole window before writing it and no other
// work-item touches that window: in place is safe. Dropped rows and columns get 0.

// global: [(W + 1) / 2, (H + 1) / 2, C] (one work-item per window, partial windows at an odd edge
// write the dropped elements' zeros).
__kernel void max_pool_backward_masked(__global float* x,         // [C, H, W] in: ReLU output; out: dx
                                       __global const float* dy,  // [C, Ho, Wo]
                                       const int C, const int H, const int W, const int Ho, const int Wo) {
    const int oj = (int) get_global_id(0), oi = (int) get_global_id(1), c = (int) get_global_id(2);
    if (2 * oj >= W || 2 * oi >= H || c >= C) return;
    __global float* p = x + IDX3(c, 2 * oi, 2 * oj, H, W);
    if (oi < Ho && oj < Wo) {
        const float v0 = p[0], v1 = p[1], v2 = p[W], v3 = p[W + 1];
        const int at = window_argmax(p, W);
        const float g = dy[IDX3(c, oi, oj, Ho, Wo)];
        p[0] = at == 0 && v0 > 0.0f ? g : 0.0f;
        p[1] = at == 1 && v1 > 0.0f ? g : 0.0f;
        p[W] = at == 2 && v2 > 0.0f ? g : 0.0f;
        p[W + 1] = at == 3 && v3 > 0.0f ? g : 0.0f;
    } else {
        for (int di = 0; di < 2 && 2 * oi + di < H; di++)
            for (int dj = 0; dj < 2 && 2 * oj + dj < W; dj++) p[di * W + dj] = 0.0f;
    }
}

// global: [W, H, C] (one work-item per element: each reads only its own x and dy).
__kernel void avg_pool_backward_masked(__global float* x,         // [C, H, W] in: ReLU output; out: dx
                                       __global const float* dy,  // [C, Ho, Wo]
                                       const int C, const int H, const int W, const int Ho, const int Wo) {
    const int j = (int) get_global_id(0), i = (int) get_global_id(1), c = (int) get_global_id(2);
    if (j >= W || i >= H || c >= C) return;
    const int oi = i >> 1, oj = j >> 1;
    const size_t k = IDX3(c, i, j, H, W);
    x[k] = (oi < Ho && oj < Wo && x[k] > 0.0f) ? dy[IDX3(c, oi, oj, Ho, Wo)] * 0.25f : 0.0f;
}

// Row forms. global: [C * ((H + 1) / 2)], as max_pool_backward_rows: each work-item owns its pair of
// rows, loads each group of windows before storing it.
__kernel void max_pool_backward_masked_rows(__global float* x,         // [C, H, W] in: ReLU output; out: dx
                                            __global const float* dy,  // [C, Ho, Wo]
                                            const int C, const int H, const int W, const int Ho, const int Wo) {
    const int Hp = (H + 1) / 2;
    const int r = (int) get_global_id(0);
    if (r >= C * Hp) return;
    const int c = r / Hp, i = r - c * Hp;
    __global float* o0 = x + IDX3(c, 2 * i, 0, H, W);
    if (i == Ho) {  // the dropped last row (H odd)
        for (int j = 0; j < W; j++) o0[j] = 0.0f;
        return;
    }
    __global float* o1 = o0 + W;
    __global const float* g = dy + IDX3(c, i, 0, Ho, Wo);
    const pvec zero = (pvec) 0.0f;
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        pvec a, b, cc, d;
        pool_load_pairs(o0 + 2 * j, &a, &b);
        pool_load_pairs(o1 + 2 * j, &cc, &d);
        pmask m1, m2, m3;
        pool_argmax_masks(a, b, cc, d, &m1, &m2, &m3);
        const pvec gv = PVLOAD(g + j);
        const pvec g3 = select(zero, gv, m3 & (d > zero));
        const pvec g2 = select(zero, gv, m2 & ~m3 & (cc > zero));
        const pvec g1 = select(zero, gv, m1 & ~(m2 | m3) & (b > zero));
        const pvec g0 = select(zero, gv, ~(m1 | m2 | m3) & (a > zero));
        pool_store_pairs(g0, g1, o0 + 2 * j);
        pool_store_pairs(g2, g3, o1 + 2 * j);
    }
    for (; j < Wo; j++) {
        const float v0 = o0[2 * j], v1 = o0[2 * j + 1], v2 = o1[2 * j], v3 = o1[2 * j + 1];
        const int at = window_argmax(o0 + 2 * j, W);
        const float gj = g[j];
        o0[2 * j] = at == 0 && v0 > 0.0f ? gj : 0.0f;
        o0[2 * j + 1] = at == 1 && v1 > 0.0f ? gj : 0.0f;
        o1[2 * j] = at == 2 && v2 > 0.0f ? gj : 0.0f;
        o1[2 * j + 1] = at == 3 && v3 > 0.0f ? gj : 0.0f;
    }
    if (W & 1) {  // the dropped last column
        o0[W - 1] = 0.0f;
        o1[W - 1] = 0.0f;
    }
}

// global: [C * ((H + 1) / 2)]
__kernel void avg_pool_backward_masked_rows(__global float* x,         // [C, H, W] in: ReLU output; out: dx
                                            __global const float* dy,  // [C, Ho, Wo]
                                            const int C, const int H, const int W, const int Ho, const int Wo) {
    const int Hp = (H + 1) / 2;
    const int r = (int) get_global_id(0);
    if (r >= C * Hp) return;
    const int c = r / Hp, i = r - c * Hp;
    __global float* o0 = x + IDX3(c, 2 * i, 0, H, W);
    if (i == Ho) {
        for (int j = 0; j < W; j++) o0[j] = 0.0f;
        return;
    }
    __global float* o1 = o0 + W;
    __global const float* g = dy + IDX3(c, i, 0, Ho, Wo);
    const pvec zero = (pvec) 0.0f;
    int j = 0;
    for (; j + POOL_VW <= Wo; j += POOL_VW) {
        pvec a, b, cc, d;
        pool_load_pairs(o0 + 2 * j, &a, &b);
        pool_load_pairs(o1 + 2 * j, &cc, &d);
        const pvec gv = PVLOAD(g + j) * 0.25f;
        pool_store_pairs(select(zero, gv, a > zero), select(zero, gv, b > zero), o0 + 2 * j);
        pool_store_pairs(select(zero, gv, cc > zero), select(zero, gv, d > zero), o1 + 2 * j);
    }
    for (; j < Wo; j++) {
        const float gj = g[j] * 0.25f;
        o0[2 * j] = o0[2 * j] > 0.0f ? gj : 0.0f;
        o0[2 * j + 1] = o0[2 * j + 1] > 0.0f ? gj : 0.0f;
        o1[2 * j] = o1[2 * j] > 0.0f ? gj : 0.0f;
        o1[2 * j + 1] = o1[2 * j + 1] > 0.0f ? gj : 0.0f;
    }
    if (W & 1) {
        o0[W - 1] = 0.0f;
        o1[W - 1] = 0.0f;
    }
}
