// gemm.cl: the shared tiled matrix-multiply core, C[M, N] = sum_k A[m, k] * B[k, n].
// Included (#include "gemm.cl") by conv3x3.cl and gram.cl; each of those writes its own kernels with
// its own A/B tile loaders (e.g. implicit-GEMM im2col on the fly for conv) around the pieces here:
//
//   GEMM_LOCAL_TILES(At, Bt);                     // __local tiles [TS_K][TS_M + A_PAD] and [TS_K][TS_N] (two each
//                                                 // with GEMM_DOUBLE_BUFFER)
//   VECW acc[WPT_M][WPT_NV]; gemm_zero(acc);
//   for (int k0 = 0; k0 < K; k0 += TS_K) {
//       GEMM_STEP_TILES(At, Bt, k0 / TS_K, As, Bs); // this K step's pair: __local float* As, Bs
//       for each load slot s: As[AS_IDX(kk, mm)] = A(m0 + mm, k0 + kk); Bs[BS_IDX(kk, nn)] = B(k0 + kk, n0 + nn);
//       GEMM_BARRIER();
//       gemm_tile_fma(As, Bs, tx, ty, acc);
//       GEMM_END_STEP();                          // a second barrier, unless double-buffered
//   }
//   float c[WPT_M][WPT_N]; gemm_result(acc, c);
//   work-item (tx, ty) owns C rows m0 + GEMM_ROW(ty, i) (i < WPT_M) and columns n0 + GEMM_COL(tx, j) (j < WPT_N).
//
// Work-group: RTS_N x RTS_M work-items (dimension 0 runs along N). Each work-group computes a
// TS_M x TS_N block of C; each work-item a WPT_M x WPT_N register block whose columns are
// contiguous and held as vectors of VW floats: per k step, WPT_M broadcasts of As and WPT_N / VW
// vector loads of Bs feed WPT_M * WPT_N / VW vector multiply-adds. That is the register-blocked
// micro-kernel a CPU needs (PoCL does not vectorise across work-items once a kernel has barriers in
// a loop, so the SIMD has to be explicit), and on GPUs it is the usual float4-style blocking.

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
#define WPT_M 4
#endif
// Columns per work-item (contiguous, a multiple of VW).
#ifndef WPT_N
#define WPT_N 16
#endif
// Multiply-add of the inner loop: fma is one instruction on FMA hardware (x86 since Haswell, every
// GPU); mad may be faster on old hardware without FMA units.
#ifndef GEMM_FMA
#define GEMM_FMA fma
#endif
// Vector width along N inside a work-item: 8 fills an AVX2 register, 4 suits most GPUs.
#ifndef VW
#define VW 8
#endif
// Padding of an As row: avoids local-memory bank conflicts on the transposing store (GPUs).
#ifndef A_PAD
#define A_PAD 1
#endif
// 1: two pairs of local tiles, K steps alternating between them. Step k+1 loads into the other pair
// while slower work-items still multiply step k's, so a step needs one barrier instead of two, for twice
// the local memory (GPUs, whose work-groups otherwise stall at the second barrier; PoCL gains nothing).
#ifndef GEMM_DOUBLE_BUFFER
#define GEMM_DOUBLE_BUFFER 0
#endif

#if (TS_M % WPT_M) != 0 || (TS_N % WPT_N) != 0 || (WPT_N % VW) != 0
#error "TS_M must be a multiple of WPT_M, TS_N of WPT_N, WPT_N of VW"
#endif
#if VW != 1 && VW != 2 && VW != 4 && VW != 8 && VW != 16
#error "VW must be 1, 2, 4, 8 or 16"
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#if VW == 1
#define VECW float
#define VLOADW(p) (*(p))
#define VSTOREW(v, p) (*(p) = (v))
#else
#define VECW GEMM_CAT(float, VW)
#define VLOADW(p) GEMM_CAT(vload, VW)(0, p)
#define VSTOREW(v, p) GEMM_CAT(vstore, VW)(v, 0, p)
#endif
#define WPT_NV (WPT_N / VW)           // vectors per work-item row

#define RTS_M (TS_M / WPT_M)          // work-items along M
#define RTS_N (TS_N / WPT_N)          // work-items along N
#define GEMM_WG (RTS_M * RTS_N)       // work-items per work-group
#define LDA_S (TS_M + A_PAD)          // row stride of As
#define AS_IDX(kk, mm) ((kk) * LDA_S + (mm))
#define BS_IDX(kk, nn) ((kk) * TS_N + (nn))
#define GEMM_ROW(ty, i) ((ty) + (i) * RTS_M)
#define GEMM_COL(tx, j) ((tx) * WPT_N + (j))
// Load slots per work-item to fill each tile (the last slot may be partly idle).
#define A_LOADS ((TS_M * TS_K + GEMM_WG - 1) / GEMM_WG)
#define B_LOADS ((TS_K * TS_N + GEMM_WG - 1) / GEMM_WG)

// PoCL does not inline these by itself; without inlining the accumulators live in memory.
#define GEMM_INLINE inline __attribute__((always_inline))
#define GEMM_ATTR __attribute__((reqd_work_group_size(RTS_N, RTS_M, 1)))
// A one-work-item group needs no barrier; leaving them out spares PoCL its per-work-item context arrays.
#if GEMM_WG > 1
#define GEMM_BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#else
#define GEMM_BARRIER() mem_fence(CLK_LOCAL_MEM_FENCE)
#endif
#define A_TILE (TS_K * LDA_S)         // floats of one As tile
#define B_TILE (TS_K * TS_N)          // floats of one Bs tile
#if GEMM_DOUBLE_BUFFER
#define GEMM_LOCAL_TILES(At, Bt) \
    __local float At[2 * A_TILE]; /* [2, TS_K, TS_M + A_PAD] */ \
    __local float Bt[2 * B_TILE]  /* [2, TS_K, TS_N] */
// The pair K step number `step` uses: the two alternate. Its loads cannot overwrite the pair a slower
// work-item still multiplies (step - 1's), and step + 1 reuses step - 1's only after every work-item
// passed step's barrier, which follows its multiply of step - 1.
#define GEMM_STEP_TILES(At, Bt, step, As, Bs) \
    __local float* As = (At) + ((step) & 1) * A_TILE; \
    __local float* Bs = (Bt) + ((step) & 1) * B_TILE
#define GEMM_END_STEP() ((void)0)
#else
#define GEMM_LOCAL_TILES(At, Bt) \
    __local float At[A_TILE]; /* [TS_K, TS_M + A_PAD] */ \
    __local float Bt[B_TILE]  /* [TS_K, TS_N] */
#define GEMM_STEP_TILES(At, Bt, step, As, Bs) \
    __local float* As = (At); \
    __local float* Bs = (Bt)
// Every work-item done multiplying before the next step's loads overwrite the tiles.
#define GEMM_END_STEP() GEMM_BARRIER()
#endif

// Tile coordinates of load slot s of work-item lid. A slots run fastest along k (A rows are
// contiguous in k in every user), B slots fastest along n (B rows are contiguous in n).
#define A_SLOT_K(lid, s) (((lid) + (s) * GEMM_WG) % TS_K)
#define A_SLOT_M(lid, s) (((lid) + (s) * GEMM_WG) / TS_K)
#define B_SLOT_N(lid, s) (((lid) + (s) * GEMM_WG) % TS_N)
#define B_SLOT_K(lid, s) (((lid) + (s) * GEMM_WG) / TS_N)
#define A_SLOT_VALID(lid, s) ((TS_M * TS_K) % GEMM_WG == 0 || (lid) + (s) * GEMM_WG < TS_M * TS_K)
#define B_SLOT_VALID(lid, s) ((TS_K * TS_N) % GEMM_WG == 0 || (lid) + (s) * GEMM_WG < TS_K * TS_N)

GEMM_INLINE void gemm_zero(VECW acc[WPT_M][WPT_NV]) {
    for (int i = 0; i < WPT_M; i++)
        for (int v = 0; v < WPT_NV; v++)
            acc[i][v] = (VECW)(0.0f);
}

// acc += As^T Bs for this work-item's register block, fully unrolled.
GEMM_INLINE void gemm_tile_fma(__local const float* As, __local const float* Bs, int tx, int ty,
                          VECW acc[WPT_M][WPT_NV]) {
#pragma unroll
    for (int k = 0; k < TS_K; k++) {
        VECW b[WPT_NV];
#pragma unroll
        for (int v = 0; v < WPT_NV; v++) b[v] = VLOADW(Bs + BS_IDX(k, GEMM_COL(tx, v * VW)));
#pragma unroll
        for (int i = 0; i < WPT_M; i++) {
            VECW a = (VECW)(As[AS_IDX(k, GEMM_ROW(ty, i))]);
#pragma unroll
            for (int v = 0; v < WPT_NV; v++)
                acc[i][v] = GEMM_FMA(a, b[v], acc[i][v]);
        }
    }
}

// The accumulators as plain floats, c[i][j] for row GEMM_ROW(ty, i), column GEMM_COL(tx, j).
GEMM_INLINE void gemm_result(VECW acc[WPT_M][WPT_NV], float c[WPT_M][WPT_N]) {
    for (int i = 0; i < WPT_M; i++)
        for (int v = 0; v < WPT_NV; v++)
            VSTOREW(acc[i][v], &c[i][v * VW]);
}

// The epilogue every GEMM kernel ends with: for each element of this work-item's block that lies in
// rows < M and columns < N of the output tile at (m0, n0), STORE(m, col, value), where STORE is a
// function-like macro the kernel defines (its index mapping, bias, ReLU or accumulation).
#define GEMM_STORE(acc, m0, n0, M, N, STORE)                                          \
    do {                                                                              \
        float gemm_res_[WPT_M][WPT_N];                                                \
        gemm_result(acc, gemm_res_);                                                  \
        const int gemm_tx_ = get_local_id(0), gemm_ty_ = get_local_id(1);             \
        for (int gemm_i_ = 0; gemm_i_ < WPT_M; gemm_i_++) {                           \
            const int gemm_m_ = (m0) + GEMM_ROW(gemm_ty_, gemm_i_);                   \
            if (gemm_m_ >= (M)) continue;                                             \
            for (int gemm_j_ = 0; gemm_j_ < WPT_N; gemm_j_++) {                       \
                const int gemm_c_ = (n0) + GEMM_COL(gemm_tx_, gemm_j_);               \
                if (gemm_c_ < (N)) STORE(gemm_m_, gemm_c_, gemm_res_[gemm_i_][gemm_j_]); \
            }                                                                         \
        }                                                                             \
    } while (0)

#endif
