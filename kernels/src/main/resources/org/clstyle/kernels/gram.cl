// gram.cl: Gram matrix of a feature map and its gradient, on the shared tiled core.
//   forward:  G [C, C]  = F [C, N] F^T / n
//   backward: dF [C, N] (+)= (dG + dG^T) [C, C] F [C, N] / n

#include "gemm.cl"

// g [C, C] = f [C, N] f^T * invn
__kernel GEMM_ATTR
void gram_forward(__global const float* f, __global float* g, int c, int n, float invn) {
    GEMM_LOCAL_TILES(As, Bs);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < n; k0 += TS_K) {
        // A(m, k) = f[m, k]
        for (int s = 0; s < A_LOADS; s++) {
            if (A_SLOT_VALID(lid, s)) {
                int kk = A_SLOT_K(lid, s), mm = A_SLOT_M(lid, s);
                int m = m0 + mm, k = k0 + kk;
                As[AS_IDX(kk, mm)] = (m < c && k < n) ? f[m * n + k] : 0.0f;
            }
        }
        // B(k, col) = f[col, k]
        for (int s = 0; s < B_LOADS; s++) {
            if (B_SLOT_VALID(lid, s)) {
                int kk = B_SLOT_K(lid, s), nn = B_SLOT_N(lid, s);
                int col = n0 + nn, k = k0 + kk;
                Bs[BS_IDX(kk, nn)] = (col < c && k < n) ? f[col * n + k] : 0.0f;
            }
        }
        GEMM_BARRIER();
        gemm_tile_fma(As, Bs, tx, ty, acc);
        GEMM_BARRIER();
    }

    float res[WPT_M][WPT_N];
    gemm_result(acc, res);
    for (int i = 0; i < WPT_M; i++) {
        int m = m0 + GEMM_ROW(ty, i);
        if (m >= c) continue;
        for (int j = 0; j < WPT_N; j++) {
            int col = n0 + GEMM_COL(tx, j);
            if (col < c) g[m * c + col] = res[i][j] * invn;
        }
    }
}

// df [C, N] = (dg + dg^T) [C, C] f [C, N] * invn, added to df when accumulate != 0.
__kernel GEMM_ATTR
void gram_backward(__global const float* dg, __global const float* f, __global float* df,
                   int c, int n, float invn, int accumulate) {
    GEMM_LOCAL_TILES(As, Bs);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int lid = ty * RTS_N + tx;
    const int m0 = get_group_id(1) * TS_M, n0 = get_group_id(0) * TS_N;

    VECW acc[WPT_M][WPT_NV];
    gemm_zero(acc);
    for (int k0 = 0; k0 < c; k0 += TS_K) {
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
        GEMM_BARRIER();
    }

    float res[WPT_M][WPT_N];
    gemm_result(acc, res);
    for (int i = 0; i < WPT_M; i++) {
        int m = m0 + GEMM_ROW(ty, i);
        if (m >= c) continue;
        for (int j = 0; j < WPT_N; j++) {
            int col = n0 + GEMM_COL(tx, j);
            if (col < n) {
                float v = res[i][j] * invn;
                df[m * n + col] = accumulate ? df[m * n + col] + v : v;
            }
        }
    }
}
