// conv3x3.cl: 3x3 convolution, stride 1, zero padding 1, as implicit GEMM on the shared tiled core.
// The im2col matrix is never stored: the B-tile loaders gather it from the image on the fly.
//   forward:         y  [Cout, HW]    = W [Cout, Cin*9] * im2col(x) [Cin*9, HW]      (+ bias, ReLU)
//   backward input:  dx [Cin, HW]     = W^T-ish [Cin, Cout*9] * im2col'(dy') [Cout*9, HW] (flipped taps)
//   backward weight: dW [Cout, Cin*9] = dy' [Cout, HW] * im2col(x)^T [HW, Cin*9]
// where dy' = dy masked by (reluOutput > 0) when the forward fused a ReLU. k = c*9 + r, r = tap 0..8.
// x, y and the ReLU output are activations (ACT_T: half storage with ACT_HALF=1); weights, biases and
// gradients are float.

#include "gemm.cl"

// Work-items per work-group of the bias-gradient reduction (a power of two).
#ifndef BIAS_WG
#define BIAS_WG 64
#endif

// Row offset (-1, 0, 1) and column offset of tap r in 0..8.
#define TAP_DI(r) ((r) / 3 - 1)
#define TAP_DJ(r) ((r) % 3 - 1)
// A row index that puts every tap of an out-of-range column outside the image.
#define NO_ROW (-8)

// y [Cout, H, W] = conv(x [Cin, H, W], w [Cout, Cin, 3, 3]) + bias [Cout], then ReLU when relu != 0.
__kernel GEMM_ATTR
void conv3x3_forward(__global const ACT_T* x, __global const float* w, __global const float* bias,
                     __global ACT_T* y, int cin, int cout, int h, int wd, int relu) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int hw = h * wd, kdim = cin * 9;

    // Each B slot always loads the same output pixel: decode it once.
    int pi[B_LOADS], pj[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int n = n0 + B_SLOT_N(lid, s);
        pi[s] = n < hw ? n / wd : NO_ROW;
        pj[s] = n < hw ? n - (n / wd) * wd : 0;
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < kdim; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                As[AS_IDX(kk, mm)] = (m < cout && k < kdim) ? w[m * kdim + k] : 0.0f;
            }
        }
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < kdim) {
                    int c = k / 9, r = k - c * 9;
                    int i = pi[s] + TAP_DI(r), j = pj[s] + TAP_DJ(r);
                    if (i >= 0 && i < h && j >= 0 && j < wd) v = LOAD_ACT(x, (c * h + i) * wd + j);
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_Y(m, n, v) { const float t_ = (v) + bias[m]; STORE_ACT(y, (m) * hw + (n), (relu && t_ < 0.0f) ? 0.0f : t_); }
    GEMM_STORE(acc, m0, n0, cout, hw, STORE_Y);
#undef STORE_Y
}

// dx [Cin, H, W] = gradient of the forward w.r.t. x, given dy [Cout, H, W]; when mask != 0, dy is
// taken as zero where yr [Cout, H, W] (the forward's ReLU output) is not positive. Overwrites dx.
__kernel GEMM_ATTR
void conv3x3_backward_input(__global const float* dy, __global const float* w, __global const ACT_T* yr,
                            int mask, __global float* dx, int cin, int cout, int h, int wd) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int hw = h * wd, kdim = cout * 9;

    int pi[B_LOADS], pj[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int n = n0 + B_SLOT_N(lid, s);
        pi[s] = n < hw ? n / wd : NO_ROW;
        pj[s] = n < hw ? n - (n / wd) * wd : 0;
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < kdim; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        // A(ci, co*9 + r) = w[co, ci, r]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < cin && k < kdim) {
                    int co = k / 9, r = k - co * 9;
                    v = w[(co * cin + m) * 9 + r];
                }
                As[AS_IDX(kk, mm)] = v;
            }
        }
        // B(co*9 + r, (i, j)) = dy'[co, i - di(r), j - dj(r)]
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < kdim) {
                    int co = k / 9, r = k - co * 9;
                    int i = pi[s] - TAP_DI(r), j = pj[s] - TAP_DJ(r);
                    if (i >= 0 && i < h && j >= 0 && j < wd) {
                        int at = (co * h + i) * wd + j;
                        v = dy[at];
                        if (mask && !(LOAD_ACT(yr, at) > 0.0f)) v = 0.0f;
                    }
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_DX(m, n, v) dx[(m) * hw + (n)] = (v)
    GEMM_STORE(acc, m0, n0, cin, hw, STORE_DX);
#undef STORE_DX
}

// dw [Cout, Cin, 3, 3] = sum over pixels of dy'[co, p] * x[ci, p + tap]; overwrites dw.
__kernel GEMM_ATTR
void conv3x3_backward_weight(__global const float* x, __global const float* dy, __global const float* yr,
                             int mask, __global float* dw, int cin, int cout, int h, int wd) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int hw = h * wd, ndim = cin * 9;

    // Each B slot always loads the same (ci, tap) column: decode it once.
    int bc[B_LOADS], bdi[B_LOADS], bdj[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int n = n0 + B_SLOT_N(lid, s);
        int r = n % 9;
        bc[s] = n < ndim ? n / 9 : -1;
        bdi[s] = TAP_DI(r);
        bdj[s] = TAP_DJ(r);
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < hw; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        // A(co, p) = dy'[co, p]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < cout && k < hw) {
                    v = dy[m * hw + k];
                    if (mask && !(yr[m * hw + k] > 0.0f)) v = 0.0f;
                }
                As[AS_IDX(kk, mm)] = v;
            }
        }
        // B(p, ci*9 + r) = x[ci, i + di(r), j + dj(r)] with p = (i, j)
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < hw && bc[s] >= 0) {
                    int pi = k / wd;
                    int i = pi + bdi[s], j = k - pi * wd + bdj[s];
                    if (i >= 0 && i < h && j >= 0 && j < wd) v = x[(bc[s] * h + i) * wd + j];
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_DW(m, n, v) dw[(m) * ndim + (n)] = (v)
    GEMM_STORE(acc, m0, n0, cout, ndim, STORE_DW);
#undef STORE_DW
}

// db [Cout] = sum over pixels of dy'[co, p]. One work-group per output channel; fixed-order tree
// reduction in local memory, so the result is deterministic (no float atomics).
__kernel __attribute__((reqd_work_group_size(BIAS_WG, 1, 1)))
void conv3x3_backward_bias(__global const float* dy, __global const float* yr, int mask,
                           __global float* db, int hw) {
    __local float part[BIAS_WG];
    const int co = get_group_id(0), l = get_local_id(0);
    float s = 0.0f;
    for (int p = l; p < hw; p += BIAS_WG) {
        float v = dy[co * hw + p];
        if (mask && !(yr[co * hw + p] > 0.0f)) v = 0.0f;
        s += v;
    }
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = BIAS_WG / 2; stride > 0; stride >>= 1) {
        if (l < stride) part[l] += part[l + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) db[co] = part[0];
}
