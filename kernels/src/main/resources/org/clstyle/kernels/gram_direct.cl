// gram_direct.cl: Gram matrix and its gradient for CPU devices (PoCL and the like), register-blocked
// with no local memory and no barriers (the GPU variant is gram.cl on the tiled core of gemm.cl).
//   forward:  G [C, C] = F [C, N] F^T / n
//   backward: dF [C, N] (+)= S [C, C] F, S = (dG + dG^T) / n
// Forward is a dot-product form: both operands are rows of F, contiguous along N. Each work-item
// keeps a GM x GN block of G as float8 partial sums along N and reduces them horizontally at the
// end; only blocks touching the upper triangle run, and each writes its element and its mirror.
// N is split into chunks (grid dimension 2) so that one chunk of all C rows stays in cache while
// the work-items of all blocks go over it; the per-chunk partials are then summed in chunk order
// (deterministic, no atomics).
// Backward is a GEMM in the shape of conv3x3_direct's inner loop without taps: each work-item keeps
// MR rows x NR = 8*NV columns of dF in float8 accumulators, walks k over C with NV vector loads of
// F's row k and MR broadcasts of S, packed as sp [ceil(C/MR), C, MR] so the broadcasts are contiguous.
// The F column panel shared by a group's row blocks is copied once into local memory (one barrier,
// none in the loop), where it is contiguous.

// Rows of the forward's G block (from F rows i) and columns (F rows j): GM*GN float8 accumulators
// plus GM loaded vectors and one streamed vector must fit the 16 AVX2 registers (3 x 4: 12 + 3 + 1).
#ifndef GM
#define GM 3
#endif
#ifndef GN
#define GN 4
#endif
// Backward rows per work-item and float8 vectors of columns (NR = 8 * NV); MR * NV accumulators
// plus NV loads and a broadcast must fit the registers (6 x 2: 12 + 2 + 1).
#ifndef MR
#define MR 6
#endif
#ifndef NV
#define NV 2
#endif
#define NR (8 * NV)

inline float hsum8(float8 v) {
    float4 a = v.lo + v.hi;
    float2 b = a.lo + a.hi;
    return b.x + b.y;
}

// Partial (or whole) Gram blocks over one chunk of N.
// f [c, n]; chunk z covers columns [z*kc, min(n, (z+1)*kc)).
// direct_out != 0 (one chunk): out = g [c, c], written scaled by invn, both triangles.
// direct_out == 0: out = part [chunks, c, c], unscaled, upper triangle (row <= col) only.
// Global size: dim 0 = ceil(c/GN) column blocks, dim 1 = ceil(c/GM) row blocks, dim 2 = chunks.
__kernel void gram_direct_forward(__global const float* f, __global float* out, int c, int n, int kc,
                                  int direct_out, float invn) {
    const int bj = get_global_id(0), bi = get_global_id(1), z = get_global_id(2);
    const int i0 = bi * GM, j0 = bj * GN;
    if (i0 >= c || j0 >= c) return;
    if (j0 + GN - 1 < i0) return; // block entirely below the diagonal: its mirror is computed
    const int k0 = z * kc;
    if (k0 >= n) return;
    const int len = min(n - k0, kc);
    const int len8 = len & ~7;

    // Rows past c are clamped to row c-1 (in bounds, results dropped): no branches in the loop.
    __global const float* a[GM];
    __global const float* b[GN];
    _Pragma("unroll") for (int r = 0; r < GM; r++) a[r] = f + (size_t)min(i0 + r, c - 1) * n + k0;
    _Pragma("unroll") for (int j = 0; j < GN; j++) b[j] = f + (size_t)min(j0 + j, c - 1) * n + k0;

    // Fully unrolled loops over r and j keep acc in registers (PoCL's LLVM does not unroll them itself).
    float8 acc[GM][GN];
    _Pragma("unroll") for (int r = 0; r < GM; r++)
        _Pragma("unroll") for (int j = 0; j < GN; j++) acc[r][j] = (float8)(0.0f);

    for (int k = 0; k < len8; k += 8) {
        float8 av[GM];
        _Pragma("unroll") for (int r = 0; r < GM; r++) av[r] = vload8(0, a[r] + k);
        _Pragma("unroll") for (int j = 0; j < GN; j++) {
            const float8 bv = vload8(0, b[j] + k);
            _Pragma("unroll") for (int r = 0; r < GM; r++) acc[r][j] = fma(av[r], bv, acc[r][j]);
        }
    }

    float s[GM][GN];
    _Pragma("unroll") for (int r = 0; r < GM; r++)
        _Pragma("unroll") for (int j = 0; j < GN; j++) s[r][j] = hsum8(acc[r][j]);
    // The last len % 8 columns of the chunk.
    for (int k = len8; k < len; k++) {
        _Pragma("unroll") for (int r = 0; r < GM; r++)
            _Pragma("unroll") for (int j = 0; j < GN; j++) s[r][j] = fma(a[r][k], b[j][k], s[r][j]);
    }

    _Pragma("unroll") for (int r = 0; r < GM; r++) {
        const int row = i0 + r;
        _Pragma("unroll") for (int j = 0; j < GN; j++) {
            const int col = j0 + j;
            if (row < c && col < c && col >= row) {
                if (direct_out) {
                    const float v = s[r][j] * invn;
                    out[row * c + col] = v;
                    out[col * c + row] = v;
                } else {
                    out[((size_t)z * c + row) * c + col] = s[r][j];
                }
            }
        }
    }
}

// g [c, c] = invn * sum over z = 0..chunks-1 (in that order) of part [z, c, c], read from the upper
// triangle for both g[r, col] and g[col, r].
__kernel void gram_direct_reduce(__global const float* part, __global float* g, int c, int chunks, float invn) {
    const int idx = get_global_id(0);
    if (idx >= c * c) return;
    const int r = idx / c, col = idx - r * c;
    const int lo = min(r, col), hi = max(r, col);
    __global const float* p = part + lo * c + hi;
    const size_t plane = (size_t)c * c;
    float sum = 0.0f;
    for (int z = 0; z < chunks; z++) sum += p[z * plane];
    g[idx] = sum * invn;
}

// sp [ceil(c/MR), c, MR] = (dg + dg^T) * invn packed by row blocks; zero for rows past c.
__kernel void gram_direct_sym(__global const float* dg, __global float* sp, int c, float invn) {
    const int idx = get_global_id(0);
    const int blocks = (c + MR - 1) / MR;
    if (idx >= blocks * c * MR) return;
    const int r = idx % MR, k = (idx / MR) % c, mb = idx / (MR * c);
    const int m = mb * MR + r;
    sp[idx] = m < c ? (dg[m * c + k] + dg[k * c + m]) * invn : 0.0f;
}

// df [c, n] (+)= S f with S packed as sp [ceil(c/MR), c, MR] (see gram_direct_sym), f [c, n].
// Global size: dim 0 = ceil(n/NR) column blocks, dim 1 = ceil(c/MR) row blocks, both rounded up to
// the group size. A group (JG column blocks x some row blocks) first copies its column panel
// f[0..c, jg0..jg0+JG*NR] into local memory (zero past n), reading each row as one contiguous run,
// then each work-item runs from there. Read in place, a work-item's c lines lie a row of f apart:
// each is a separate cache miss that no prefetcher follows, and with power-of-two n (the VGG planes)
// they all fall into the same cache set, so they do not stay cached for the next row block.
__kernel void gram_direct_backward(__global const float* sp, __global const float* f, __global float* df,
                                   int c, int n, int accumulate, __local float* panel /* [c, JG*NR] */) {
    const int jb = get_global_id(0), mb = get_global_id(1);
    const int jg = get_local_size(0), lj = get_local_id(0);
    const int lid = get_local_id(1) * jg + lj, lsize = jg * get_local_size(1);
    const int pw = jg * NR; // panel width
    const int jg0 = get_group_id(0) * pw;
    for (int idx = lid; idx < c * jg; idx += lsize) {
        const int k = idx / jg, q = idx - k * jg;
        const int col = jg0 + q * NR;
        __global const float* src = f + (size_t)k * n + col;
        __local float* dst = panel + k * pw + q * NR;
        if (col + NR <= n) {
            _Pragma("unroll") for (int v = 0; v < NV; v++) vstore8(vload8(v, src), v, dst);
        } else {
            for (int l = 0; l < NR; l++) dst[l] = col + l < n ? src[l] : 0.0f;
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    const int j0 = jb * NR;
    if (mb * MR >= c || j0 >= n) return;

    // Fully unrolled loops over r and v keep acc in registers (PoCL's LLVM does not unroll them itself).
    float8 acc[MR][NV];
    _Pragma("unroll") for (int r = 0; r < MR; r++)
        _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = (float8)(0.0f);

    __global const float* w = sp + (size_t)mb * c * MR;
    __local const float* src = panel + lj * NR;
    for (int k = 0; k < c; k++) {
        float8 a[NV];
        _Pragma("unroll") for (int v = 0; v < NV; v++) a[v] = vload8(v, src);
        _Pragma("unroll") for (int r = 0; r < MR; r++) {
            const float8 b = (float8)(w[r]);
            _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = fma(b, a[v], acc[r][v]);
        }
        src += pw;
        w += MR;
    }

    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        const int m = mb * MR + r;
        if (m >= c) break;
        __global float* dst = df + (size_t)m * n + j0;
        _Pragma("unroll") for (int v = 0; v < NV; v++) {
            const int col = j0 + 8 * v;
            if (col + 8 <= n) {
                float8 o = acc[r][v];
                if (accumulate) o += vload8(v, dst);
                vstore8(o, v, dst);
            } else {
                float tmp[8];
                vstore8(acc[r][v], 0, tmp);
                for (int l = 0; l < 8 && col + l < n; l++) dst[8 * v + l] = accumulate ? dst[8 * v + l] + tmp[l] : tmp[l];
            }
        }
    }
}
