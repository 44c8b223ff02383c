// winograd_gemm.cl: the GEMM stage that conv3x3_winograd.cl (F(2x2,3x3): E = 16 transform elements) and
// conv3x3_winograd4.cl (F(4x4,3x3): E = 36) share, included by both:
//   mo [E, cout, ntp]: mo[e] = u[e] (as [cout, cin]) x v[e] [cin, ntp]
// with u packed by the file's pack kernel as [E, ceil(cout / MR), cin, MR] and ntp a multiple of NR. Each
// work-item computes an MR x NR register block (MR output channels, NR = 8 * NV tiles as NV float8).
// Global: dim 0 = the NR-tile blocks of one group of ngrp blocks (rounded up to the work-group), dim 1 =
// ceil(cout/MR) channel blocks, dim 2 = E * ngroups (groups inner). Work-groups run in linear order: one
// group's strip of v [cin, ngrp*NR] stays in L2 while all channel blocks go by, each using its u rows
// ngrp times.

#ifndef CLSTYLE_WINOGRAD_GEMM_CL
#define CLSTYLE_WINOGRAD_GEMM_CL

// Output channels per work-item of the GEMM; MR * NV float8 accumulators plus NV loaded vectors and
// a broadcast must fit the 16 AVX2 registers.
#ifndef MR
#define MR 6
#endif
// float8 vectors of tiles per work-item of the GEMM (NR = 8 * NV tiles).
#ifndef NV
#define NV 2
#endif
#define NR (8 * NV)

// Floats between the end of one transform-element plane of V [E, c, ntp] or M [E, cout, ntp] and the start
// of the next (the host sizes the buffers with the same value). Without it the planes are c * ntp floats
// apart, a multiple of 4 KiB whenever c * ntp * 4 is (64 channels, 128-tile chunks: 32 KiB), so the 16 or 36
// streams each transform work-item writes or reads all fall into the same cache sets.
#ifndef WINO_PLANE_PAD
#define WINO_PLANE_PAD 16
#endif
#define WINO_PLANE(rows, ntp) ((size_t)(rows) * (ntp) + WINO_PLANE_PAD)

// PoCL does not inline by itself; without inlining the accumulators would live in memory.
inline __attribute__((always_inline))
void winograd_gemm(__global const float* u, __global const float* v, __global float* mo,
                   int cin, int cout, int ntp, int ngrp, int ngroups) {
    const int g2 = get_global_id(2);
    const int e = g2 / ngroups, grp = g2 - e * ngroups;
    const int lb = get_global_id(0), mb = get_global_id(1);
    const int nb = grp * ngrp + lb;
    const int mblocks = (cout + MR - 1) / MR;
    if (lb >= ngrp || nb * NR >= ntp || mb >= mblocks) return;

    float8 acc[MR][NV];
    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        _Pragma("unroll") for (int q = 0; q < NV; q++) acc[r][q] = (float8)(0.0f);
    }
    __global const float* vp = v + (size_t)e * WINO_PLANE(cin, ntp) + nb * NR;
    __global const float* up = u + ((size_t)e * mblocks + mb) * cin * MR;
    int c = 0;
    // Four channels per iteration: 4 * MR * NV FMAs between loop tests.
    for (; c + 4 <= cin; c += 4) {
        _Pragma("unroll") for (int cc = 0; cc < 4; cc++) {
            float8 a[NV];
            _Pragma("unroll") for (int q = 0; q < NV; q++) a[q] = vload8(q, vp + cc * ntp);
            _Pragma("unroll") for (int r = 0; r < MR; r++) {
                const float8 b = (float8)(up[cc * MR + r]);
                _Pragma("unroll") for (int q = 0; q < NV; q++) acc[r][q] = fma(b, a[q], acc[r][q]);
            }
        }
        vp += 4 * ntp;
        up += 4 * MR;
    }
    for (; c < cin; c++) {
        float8 a[NV];
        _Pragma("unroll") for (int q = 0; q < NV; q++) a[q] = vload8(q, vp);
        _Pragma("unroll") for (int r = 0; r < MR; r++) {
            const float8 b = (float8)(up[r]);
            _Pragma("unroll") for (int q = 0; q < NV; q++) acc[r][q] = fma(b, a[q], acc[r][q]);
        }
        vp += ntp;
        up += MR;
    }
    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        const int m = mb * MR + r;
        if (m >= cout) break;
        __global float* dst = mo + (size_t)e * WINO_PLANE(cout, ntp) + (size_t)m * ntp + nb * NR; // ntp is a multiple of NR
        _Pragma("unroll") for (int q = 0; q < NV; q++) vstore8(acc[r][q], q, dst);
    }
}

#endif
