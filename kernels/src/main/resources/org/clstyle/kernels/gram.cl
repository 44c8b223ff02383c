// gram.cl: Gram matrix of a feature map and its gradient, on the shared tiled core.
//   forward:  G [C, C]  = F [C, N] F^T / n
//   backward: dF [C, N] (+)= (dG + dG^T) [C, C] F [C, N] / n
// With few channels (C = 64: one 64x64 tile) the forward's C x C outputs cannot fill a GPU, each being a
// dot product over N = H*W (a million at 1024 px), so the forward also comes split along N ("split-K"):
// gram_forward_split writes one partial tile per (tile, chunk of N) and gram_split_reduce sums the
// chunks in a fixed order (deterministic, no float atomics). Only the tiles on and above the diagonal
// are computed (G is symmetric); the reduce mirrors the rest. The backward's output is C x N, which
// already fills any device, so it is not split.

#include "gemm.cl"

// acc = the work-item's block of f [C, N] f^T over columns [kbeg, kend) for the tile at (m0, n0).
GEMM_INLINE void gram_tile(__global const float* f, int c, int n, int kbeg, int kend, int m0, int n0,
                           __local float* At, __local float* Bt, VECW acc[WPT_M][WPT_NV]) {
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    gemm_zero(acc);
    for (int k0 = kbeg; k0 < kend; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, (k0 - kbeg) / TS_K, As, Bs);
        // A(m, k) = f[m, k]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                As[AS_IDX(kk, mm)] = (m < c && k < kend) ? f[(size_t)m * n + k] : 0.0f;
            }
        }
        // B(k, col) = f[col, k]
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), nn = B_SLOT_N(lid, s);
                int col = n0 + nn, k = k0 + kk;
                Bs[BS_IDX(kk, nn)] = (col < c && k < kend) ? f[(size_t)col * n + k] : 0.0f;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }
}

// out [C, C] (the tile at (m0, n0)) = acc * scale.
GEMM_INLINE void gram_store(VECW acc[WPT_M][WPT_NV], int c, int m0, int n0, float scale, __global float* out) {
#define STORE_G(m, col, v) out[(m) * c + (col)] = (v) * scale
    GEMM_STORE(acc, m0, n0, c, c, STORE_G);
#undef STORE_G
}

// g [C, C] = f [C, N] f^T * invn
__kernel GEMM_ATTR
void gram_forward(__global const float* f, __global float* g, int c, int n, float invn) {
    GEMM_LOCAL_TILES(At, Bt);
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    VECW acc[WPT_M][WPT_NV];
    gram_tile(f, c, n, 0, n, m0, n0, At, Bt, acc);
    gram_store(acc, c, m0, n0, invn, g);
}

// df [C, N] = (dg + dg^T) [C, C] f [C, N] * invn, added to df when accumulate != 0.
__kernel GEMM_ATTR
void gram_backward(__global const float* dg, __global const float* f, __global float* df,
                   int c, int n, float invn, int accumulate) {
    GEMM_LOCAL_TILES(At, Bt);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < c; k0 += TS_K) {
        GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs);
        // A(m, k) = dg[m, k] + dg[k, m]: the symmetrised gradient, formed while loading
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                As[AS_IDX(kk, mm)] = (m < c && k < c) ? dg[m * c + k] + dg[k * c + m] : 0.0f;
            }
        }
        // B(k, col) = f[k, col]
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), nn = B_SLOT_N(lid, s);
                int col = n0 + nn, k = k0 + kk;
                Bs[BS_IDX(kk, nn)] = (col < n && k < c) ? f[k * n + col] : 0.0f;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_END_STEP();
    }

#define STORE_DF(m, col, v) { const float t_ = (v) * invn; \
        df[(m) * n + (col)] = accumulate ? df[(m) * n + (col)] + t_ : t_; }
    GEMM_STORE(acc, m0, n0, c, n, STORE_DF);
#undef STORE_DF
}

// part [chunks, C, C] (upper tiles only) = f [C, N] f^T over columns [z*kchunk, (z+1)*kchunk) for z =
// group id 2. Square tiles (TS_M == TS_N): a work-group whose tile lies below the diagonal returns at
// once, as a whole, before any barrier.
__kernel GEMM_ATTR
void gram_forward_split(__global const float* f, __global float* part, int c, int n, int kchunk) {
    if (get_group_id(0) < get_group_id(1)) return;  // below the diagonal: mirrored by the reduce
    GEMM_LOCAL_TILES(At, Bt);
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;
    const int kbeg = get_group_id(2) * kchunk;
    VECW acc[WPT_M][WPT_NV];
    gram_tile(f, c, n, kbeg, min(n, kbeg + kchunk), m0, n0, At, Bt, acc);
    gram_store(acc, c, m0, n0, 1.0f, part + (size_t)get_group_id(2) * c * c);
}

// g [C, C] = invn * sum over z of part [z] (chunks summed in order z = 0, 1, ...); an entry in a tile
// below the diagonal reads its mirror, which gram_forward_split computed.
__kernel void gram_split_reduce(__global const float* part, __global float* g, int c, int chunks, float invn) {
    const int idx = get_global_id(0);
    if (idx >= c * c) return;
    const int r = idx / c, col = idx - r * c;
    const bool upper = col / TS_N >= r / TS_M;
    __global const float* p = part + (upper ? r * c + col : col * c + r);
    const size_t plane = (size_t)c * c;
    float sum = 0.0f;
    for (int z = 0; z < chunks; z++) sum += p[z * plane];
    g[idx] = sum * invn;
}
