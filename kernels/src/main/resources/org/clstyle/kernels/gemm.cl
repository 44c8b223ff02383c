// gemm.cl: the shared tiled matrix-multiply core, C[M, N] = sum_k A[m, k] * B[k, n].
// Included (#include "gemm.cl") by conv3x3.cl and gram.cl; each of those writes its own kernels with
// its own A/B tile loaders (e.g. implicit-GEMM im2col on the fly for conv) around the pieces here:
//
//   GEMM_LOCAL_TILES(As, Bs);                     // __local tiles As [TS_K][TS_M + A_PAD], Bs [TS_K][TS_N]
//   float acc[WPT_M][WPT_N]; gemm_zero(acc);
//   for (int k0 = 0; k0 < K; k0 += TS_K) {
//       for each load slot s: As[AS_IDX(kk, mm)] = A(m0 + mm, k0 + kk); Bs[BS_IDX(kk, nn)] = B(k0 + kk, n0 + nn);
//       barrier(CLK_LOCAL_MEM_FENCE);
//       gemm_tile_fma(As, Bs, tx, ty, acc);
//       barrier(CLK_LOCAL_MEM_FENCE);
//   }
//   work-item (tx, ty) owns C rows m0 + ty + i*RTS_M (i < WPT_M) and columns n0 + tx + j*RTS_N (j < WPT_N).
//
// Work-group: RTS_N x RTS_M work-items (dimension 0 runs along N). Each work-group computes a
// TS_M x TS_N block of C; each work-item a WPT_M x WPT_N register block. A work-item's columns are
// strided by RTS_N so that neighbouring work-items read neighbouring Bs elements: on GPUs that is
// bank-conflict free, on PoCL's CPU driver (which vectorises across dimension-0 work-items) it turns
// into contiguous vector loads of Bs plus broadcasts of As.

#ifndef CLSTYLE_GEMM_CL
#define CLSTYLE_GEMM_CL

// Rows of C per work-group: more reuse of every loaded B element, more local memory and work-items.
#ifndef TS_M
#define TS_M 64
#endif
// Columns of C per work-group: more reuse of every loaded A element.
#ifndef TS_N
#define TS_N 64
#endif
// Depth of one K step: longer straight-line compute between barriers, more local memory.
#ifndef TS_K
#define TS_K 16
#endif
// Rows per work-item (register blocking): more accumulators per work-item, fewer work-items.
#ifndef WPT_M
#define WPT_M 8
#endif
// Columns per work-item.
#ifndef WPT_N
#define WPT_N 4
#endif
// Padding of an As row: avoids local-memory bank conflicts on the transposing store (GPUs).
#ifndef A_PAD
#define A_PAD 1
#endif

#if (TS_M % WPT_M) != 0 || (TS_N % WPT_N) != 0
#error "TS_M must be a multiple of WPT_M and TS_N a multiple of WPT_N"
#endif

#define RTS_M (TS_M / WPT_M)          // work-items along M
#define RTS_N (TS_N / WPT_N)          // work-items along N
#define GEMM_WG (RTS_M * RTS_N)       // work-items per work-group
#define LDA_S (TS_M + A_PAD)          // row stride of As
#define AS_IDX(kk, mm) ((kk) * LDA_S + (mm))
#define BS_IDX(kk, nn) ((kk) * TS_N + (nn))
// Load slots per work-item to fill each tile (the last slot may be partly idle).
#define A_LOADS ((TS_M * TS_K + GEMM_WG - 1) / GEMM_WG)
#define B_LOADS ((TS_K * TS_N + GEMM_WG - 1) / GEMM_WG)

#define GEMM_ATTR __attribute__((reqd_work_group_size(RTS_N, RTS_M, 1)))
#define GEMM_LOCAL_TILES(As, Bs) \
    __local float As[TS_K * LDA_S]; /* [TS_K, TS_M + A_PAD] */ \
    __local float Bs[TS_K * TS_N]   /* [TS_K, TS_N] */

// Tile coordinates of load slot s of work-item lid. A slots run fastest along k (A rows are
// contiguous in k in every user), B slots fastest along n (B rows are contiguous in n).
#define A_SLOT_K(lid, s) (((lid) + (s) * GEMM_WG) % TS_K)
#define A_SLOT_M(lid, s) (((lid) + (s) * GEMM_WG) / TS_K)
#define B_SLOT_N(lid, s) (((lid) + (s) * GEMM_WG) % TS_N)
#define B_SLOT_K(lid, s) (((lid) + (s) * GEMM_WG) / TS_N)
#define A_SLOT_VALID(lid, s) ((TS_M * TS_K) % GEMM_WG == 0 || (lid) + (s) * GEMM_WG < TS_M * TS_K)
#define B_SLOT_VALID(lid, s) ((TS_K * TS_N) % GEMM_WG == 0 || (lid) + (s) * GEMM_WG < TS_K * TS_N)

inline void gemm_zero(float acc[WPT_M][WPT_N]) {
    for (int i = 0; i < WPT_M; i++)
        for (int j = 0; j < WPT_N; j++)
            acc[i][j] = 0.0f;
}

// acc += As^T Bs for this work-item's register block; fully unrolled so that the compute region
// between barriers is straight-line code (PoCL can then vectorise its work-item loop).
inline void gemm_tile_fma(__local const float* As, __local const float* Bs, int tx, int ty,
                          float acc[WPT_M][WPT_N]) {
#pragma unroll
    for (int k = 0; k < TS_K; k++) {
        float a[WPT_M];
        float b[WPT_N];
#pragma unroll
        for (int i = 0; i < WPT_M; i++) a[i] = As[AS_IDX(k, ty + i * RTS_M)];
#pragma unroll
        for (int j = 0; j < WPT_N; j++) b[j] = Bs[BS_IDX(k, tx + j * RTS_N)];
#pragma unroll
        for (int i = 0; i < WPT_M; i++)
#pragma unroll
            for (int j = 0; j < WPT_N; j++)
                acc[i][j] = mad(a[i], b[j], acc[i][j]);
    }
}

#endif
