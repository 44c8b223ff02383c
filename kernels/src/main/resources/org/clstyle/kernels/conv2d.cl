// conv2d.cl: general KxK convolution over a batch, stride s, symmetric zero padding p, optional bias,
// as implicit GEMM on the shared tiled core (gemm.cl); the im2col matrix is never stored.
// x [N, Cin, H, W], w [Cout, Cin, K, K], y [N, Cout, Ho, Wo], Ho = (H + 2p - K) / s + 1.
// The batch is folded into the GEMM's column dimension, so every image shares each weight tile.
//   forward:         y  [Cout, N*Ho*Wo] = W [Cout, Cin*KK] * im2col(x) [Cin*KK, N*Ho*Wo]       (+ bias)
//   backward input:  dx [Cin, N*H*W]    = W^T [Cin, Cout*KK] * col2im-gather(dy) [Cout*KK, N*H*W]
//                    (stride 1; strided convolutions split dx into s*s phases, each with its own taps)
//   backward weight: dW [Cout, Cin*KK]  = dy [Cout, N*Ho*Wo] * im2col(x)^T [N*Ho*Wo, Cin*KK],
//                    its long K dimension split into fixed chunks (dimension 2 of the grid) whose
//                    partial products are summed in a fixed order by conv2d_sum_splits (deterministic).
// k = c*KK + r with r = di*K + dj the tap.

#include "gemm.cl"

// Kernel size K (a compile-time constant, so the tap decode divides by constants).
#ifndef CONV_K
#define CONV_K 3
#endif
// Work-items per work-group of the bias-gradient reduction (a power of two).
#ifndef BIAS_WG
#define BIAS_WG 64
#endif

#define KK (CONV_K * CONV_K)

// y [N, Cout, Ho, Wo] = conv(x [N, Cin, H, W], w [Cout, Cin, K, K]) (+ bias [Cout] when hasBias).
__kernel GEMM_ATTR
void conv2d_forward(__global const float* x, __global const float* w, __global const float* bias, int hasBias,
                    __global float* y, int n, int cin, int h, int wd, int cout, int stride, int pad, int ho,
                    int wo) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int howo = ho * wo, ncols = n * howo, kdim = cin * KK;

    // Each B slot always loads the same output pixel (b, oi, oj): decode it once.
    int base[B_LOADS], iy[B_LOADS], ix[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int col = n0 + B_SLOT_N(lid, s);
        if (col < ncols) {
            int b = col / howo, p = col - b * howo, oi = p / wo;
            base[s] = b * cin * h * wd;
            iy[s] = oi * stride - pad;
            ix[s] = (p - oi * wo) * stride - pad;
        } else {
            base[s] = 0;
            iy[s] = -h - CONV_K; // every tap outside the image
            ix[s] = 0;
        }
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
                    int c = k / KK, r = k - c * KK;
                    int di = r / CONV_K, dj = r - di * CONV_K;
                    int i = iy[s] + di, j = ix[s] + dj;
                    if (i >= 0 && i < h && j >= 0 && j < wd) v = x[base[s] + (c * h + i) * wd + j];
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_Y(m, col, v) { const int b_ = (col) / howo; \
        y[(b_ * cout + (m)) * howo + (col) - b_ * howo] = (v) + (hasBias ? bias[m] : 0.0f); }
    GEMM_STORE(acc, m0, n0, cout, ncols, STORE_Y);
#undef STORE_Y
}

// dx [N, Cin, H, W] = gradient of the forward w.r.t. x given dy [N, Cout, Ho, Wo]; overwrites dx.
// Output pixel (oi, oj) read x at (oi*s - p + di, oj*s - p + dj), so input pixel (i, j) gathers
// dy at oi = (i + p - di) / s wherever that division is exact and in range.
__kernel GEMM_ATTR
void conv2d_backward_input(__global const float* dy, __global const float* w, __global float* dx, int n,
                           int cin, int h, int wd, int cout, int stride, int pad, int ho, int wo) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int hw = h * wd, howo = ho * wo, ncols = n * hw, kdim = cout * KK;

    int base[B_LOADS], py[B_LOADS], px[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int col = n0 + B_SLOT_N(lid, s);
        if (col < ncols) {
            int b = col / hw, p = col - b * hw, i = p / wd;
            base[s] = b * cout * howo;
            py[s] = i + pad;
            px[s] = p - i * wd + pad;
        } else {
            base[s] = 0;
            py[s] = -1 - CONV_K; // every tap misses
            px[s] = 0;
        }
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < kdim; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        // A(ci, co*KK + r) = w[co, ci, r]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < cin && k < kdim) {
                    int co = k / KK, r = k - co * KK;
                    v = w[(co * cin + m) * KK + r];
                }
                As[AS_IDX(kk, mm)] = v;
            }
        }
        // B(co*KK + r, (b, i, j)) = dy[b, co, (i + p - di) / s, (j + p - dj) / s] where exact and in range
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < kdim) {
                    int co = k / KK, r = k - co * KK;
                    int di = r / CONV_K, dj = r - di * CONV_K;
                    int ti = py[s] - di, tj = px[s] - dj;
                    if (stride == 1) { // (uniform branch) no division
                        if (ti >= 0 && tj >= 0 && ti < ho && tj < wo) v = dy[base[s] + (co * ho + ti) * wo + tj];
                    } else if (ti >= 0 && tj >= 0) {
                        int oi = ti / stride, oj = tj / stride;
                        if (oi * stride == ti && oj * stride == tj && oi < ho && oj < wo) {
                            v = dy[base[s] + (co * ho + oi) * wo + oj];
                        }
                    }
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_DX(m, col, v) { const int b_ = (col) / hw; dx[(b_ * cin + (m)) * hw + (col) - b_ * hw] = (v); }
    GEMM_STORE(acc, m0, n0, cin, ncols, STORE_DX);
#undef STORE_DX
}

// The input gradient of a strided convolution, one phase at a time: input pixels (i, j) with
// (i + p) mod s = qi and (j + p) mod s = qj receive only the taps di = qi, qi + s, .. and dj = qj, qj + s, ..
// (the others would need a fractional output pixel), so per phase the GEMM is
//   dx_phase [Cin, N*Hq*Wq] = W_phase [Cin, Cout*TI*TJ] * dy-gather [Cout*TI*TJ, N*Hq*Wq]
// with rows i = i0 + a*s (a < Hq), columns j = j0 + b*s (b < Wq), TI = taps di < K, TJ likewise. The
// s*s phases together write every pixel of dx once (a phase without taps writes zeros).
__kernel GEMM_ATTR
void conv2d_backward_input_phase(__global const float* dy, __global const float* w, __global float* dx, int n,
                                 int cin, int h, int wd, int cout, int stride, int pad, int ho, int wo,
                                 int qi, int qj, int i0, int j0, int hq, int wq, int ti, int tj) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int hw = h * wd, howo = ho * wo, pq = hq * wq, ncols = n * pq;
    const int taps = ti * tj, kdim = cout * taps;

    // Per B slot: the batch offset into dy and (i + p, j + p) of its input pixel.
    int base[B_LOADS], py[B_LOADS], px[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int col = n0 + B_SLOT_N(lid, s);
        if (col < ncols) {
            int b = col / pq, p = col - b * pq, a = p / wq;
            base[s] = b * cout * howo;
            py[s] = i0 + a * stride + pad;
            px[s] = j0 + (p - a * wq) * stride + pad;
        } else {
            base[s] = 0;
            py[s] = -1 - CONV_K; // every tap misses
            px[s] = 0;
        }
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < kdim; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        // A(ci, co*taps + r) = w[co, ci, qi + (r / tj) s, qj + (r % tj) s]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < cin && k < kdim) {
                    int co = k / taps, r = k - co * taps, a = r / tj;
                    int di = qi + a * stride, dj = qj + (r - a * tj) * stride;
                    v = w[((co * cin + m) * CONV_K + di) * CONV_K + dj];
                }
                As[AS_IDX(kk, mm)] = v;
            }
        }
        // B(co*taps + r, pixel) = dy[b, co, (i + p - di) / s, (j + p - dj) / s] (exact divisions)
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < kdim) {
                    int co = k / taps, r = k - co * taps, a = r / tj;
                    int ti2 = py[s] - (qi + a * stride), tj2 = px[s] - (qj + (r - a * tj) * stride);
                    if (ti2 >= 0 && tj2 >= 0) {
                        int oi = ti2 / stride, oj = tj2 / stride;
                        if (oi < ho && oj < wo) v = dy[base[s] + (co * ho + oi) * wo + oj];
                    }
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_DX(m, col, v) { const int b_ = (col) / pq, p_ = (col) - b_ * pq, a_ = p_ / wq; \
        dx[(b_ * cin + (m)) * hw + (i0 + a_ * stride) * wd + j0 + (p_ - a_ * wq) * stride] = (v); }
    GEMM_STORE(acc, m0, n0, cin, ncols, STORE_DX);
#undef STORE_DX
}

// Partial weight gradients: split z = get_group_id(2) sums the pixels q in [z*chunk, (z+1)*chunk) of
// the N*Ho*Wo output pixels: part[z, co, ci*KK + r] = sum_q dy[b, co, oi, oj] * x[b, ci, oi*s - p + di,
// oj*s - p + dj]. With one split, part is dW itself.
__kernel GEMM_ATTR
void conv2d_backward_weight(__global const float* x, __global const float* dy, __global float* part, int n,
                            int cin, int h, int wd, int cout, int stride, int pad, int ho, int wo, int chunk) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int howo = ho * wo, ncols = cin * KK, kdim = n * howo;
    const int z = get_group_id(2);
    const int kbeg = z * chunk, kend = min(kdim, kbeg + chunk);

    // Each B slot always loads the same (ci, di, dj) column: decode it once.
    int bc[B_LOADS], bdi[B_LOADS], bdj[B_LOADS];
    for (int s = 0; s < B_LOADS; s++) {
        int col = n0 + B_SLOT_N(lid, s);
        int r = col % KK;
        bc[s] = col < ncols ? col / KK : -1;
        bdi[s] = r / CONV_K - pad;
        bdj[s] = r % CONV_K - pad;
    }

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = kbeg; k0 < kend; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, (k0 - kbeg) / TS_K, As, Bs);
        // A(co, q) = dy[b, co, p] with q = (b, p)
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                float v = 0.0f;
                if (m < cout && k < kend) {
                    int b = k / howo, p = k - b * howo;
                    v = dy[(b * cout + m) * howo + p];
                }
                As[AS_IDX(kk, mm)] = v;
            }
        }
        // B(q, ci*KK + r) = x[b, ci, oi*s - p + di, oj*s - p + dj]
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), k = k0 + kk;
                float v = 0.0f;
                if (k < kend && bc[s] >= 0) {
                    int b = k / howo, p = k - b * howo, oi = p / wo;
                    int i = oi * stride + bdi[s], j = (p - oi * wo) * stride + bdj[s];
                    if (i >= 0 && i < h && j >= 0 && j < wd) v = x[((b * cin + bc[s]) * h + i) * wd + j];
                }
                Bs[BS_IDX(kk, B_SLOT_N(lid, s))] = v;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

    __global float* out = part + (size_t) z * cout * ncols;
#define STORE_PART(m, col, v) out[(m) * ncols + (col)] = (v)
    GEMM_STORE(acc, m0, n0, cout, ncols, STORE_PART);
#undef STORE_PART
}

// dw[e] = sum over z = 0 .. splits-1 (in that order) of part[z, e]; e < count.
__kernel void conv2d_sum_splits(__global const float* part,  // [splits, count]
                                int splits, int count,
                                __global float* dw) {        // [count]
    const int e = (int) get_global_id(0);
    if (e >= count) return;
    float s = 0.0f;
    for (int z = 0; z < splits; z++) s += part[(size_t) z * count + e];
    dw[e] = s;
}

// db [Cout] = dy summed over the batch and the plane. One work-group per output channel; each
// work-item sums a strided run in a fixed order, then a tree in local memory (deterministic).
__kernel __attribute__((reqd_work_group_size(BIAS_WG, 1, 1)))
void conv2d_backward_bias(__global const float* dy,  // [N, Cout, plane]
                          __global float* db,        // [Cout]
                          int n, int cout, int plane) {
    __local float part[BIAS_WG];
    const int co = get_group_id(0), l = get_local_id(0);
    float s = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float* d = dy + (size_t) (b * cout + co) * plane;
        for (int p = l; p < plane; p += BIAS_WG) s += d[p];
    }
    part[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int stride = BIAS_WG / 2; stride > 0; stride >>= 1) {
        if (l < stride) part[l] += part[l + stride];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) db[co] = part[0];
}
