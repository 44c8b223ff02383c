// conv3x3_winograd4.cl: 3x3 convolution, stride 1, zero padding 1, as Winograd F(4x4, 3x3) for CPU
// devices: Y = A^T [ (G g G^T) . (B^T d B) ] A per 4x4 output tile from a 6x6 input tile, summed over
// input channels. 2.25 multiplies per output against 4 for F(2x2, 3x3) (conv3x3_winograd.cl) and 9 for
// the direct convolution, and the transforms stream 2.25x the input and output through memory (F(2,3):
// 4x). Same three steps and the same tile chunks as conv3x3_winograd.cl, with 36 GEMMs instead of 16:
//   conv3x3_wino4_input   V [36, K, NTP]  = B^T d B of each 6x6 input tile (zero padded)
//   conv3x3_wino4_gemm    M [36, Mo, NTP] = U[e] [Mo, K] x V[e] [K, NTP], MR x NR register blocks
//   conv3x3_wino4_output  y [Mo, H, W]    = A^T M A + bias (+ ReLU), stores inside the image only
// Tiles are numbered n = ti * TW + tj (TW = ceil(W/4) tile columns); tiles past the last are padding.
// Backward to the input is the same with the ReLU-masked dy and the flipped, transposed weights.
//
// Interpolation points 0, 1, -1, 1/2, -2 (and infinity) instead of Lavin & Gray's 0, +-1, +-2: the
// reciprocal pair 1/2, -2 keeps the largest coefficients of A^T at 8 (as with +-2) but halves those of
// B^T (at most 5/2 against 5), and in a float32 simulation of VGG-like layers (ReLU inputs, He-scaled
// weights, 64-512 channels) its max error relative to the largest output was 2.0-5.2e-6 against
// 4.4e-6-1.3e-5 for 0, +-1, +-2 (F(2,3): 3-7e-7). This is the point set Barabasz et al. (2020, "Error
// analysis and improving the accuracy of Winograd convolution for deep neural networks") found best
// for six points. All coefficients of B^T and A^T are dyadic (exact in float); G's are not, but the
// weight transform runs once per weight buffer. The matrices (Toom-Cook, checked exactly in rationals):
//   B^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0; 0 1/2 -1 -1/2 1 0;
//          0 1 -3/2 -2 3/2 1]
//   G   = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1]

#include "winograd_gemm.cl"

// t = B^T d for one column of 6 values (8 tiles as float8 lanes).
#define WINO4_BT(t, d0, d1, d2, d3, d4, d5) do {                    \
        t[0] = d0 - 1.5f * d1 - 2.0f * d2 + 1.5f * d3 + d4;         \
        t[1] = -d1 + 0.5f * d2 + 2.5f * d3 + d4;                    \
        t[2] = d1 - 2.5f * d2 + 0.5f * d3 + d4;                     \
        t[3] = -2.0f * d1 - d2 + 2.0f * d3 + d4;                    \
        t[4] = 0.5f * d1 - d2 - 0.5f * d3 + d4;                     \
        t[5] = d1 - 1.5f * d2 - 2.0f * d3 + 1.5f * d4 + d5;         \
    } while (0)

// o = A^T m for one column of 6 values.
#define WINO4_AT(o, m0, m1, m2, m3, m4, m5) do {                    \
        const float8 s12 = m1 + m2, d12 = m1 - m2;                  \
        o[0] = m0 + s12 + m3 + m4;                                  \
        o[1] = d12 + 0.5f * m3 - 2.0f * m4;                         \
        o[2] = s12 + 0.25f * m3 + 4.0f * m4;                        \
        o[3] = d12 + 0.125f * m3 - 8.0f * m4 + m5;                  \
    } while (0)

// u [36, ceil(rows/MR), kin, MR] = G g G^T of weight [cout, cin, 3, 3]; zero for rows past the end.
// flip != 0: the backward weight (rows = cin, kin = cout, taps reversed), as conv3x3_direct_pack.
__kernel void conv3x3_wino4_pack(__global const float* w, __global float* u, int cout, int cin, int flip) {
    const int rows = flip ? cin : cout, kin = flip ? cout : cin;
    const int blocks = (rows + MR - 1) / MR;
    const int idx = get_global_id(0);
    if (idx >= blocks * kin * MR) return;
    const int r = idx % MR, c = (idx / MR) % kin, mb = idx / (MR * kin);
    const int m = mb * MR + r;
    float g[9];
    for (int t = 0; t < 9; t++) {
        g[t] = m < rows ? (flip ? w[(c * cin + m) * 9 + (8 - t)] : w[(m * cin + c) * 9 + t]) : 0.0f;
    }
    float tg[6][3]; // G g
    for (int j = 0; j < 3; j++) {
        const float a = g[j], b = g[3 + j], e = g[6 + j];
        tg[0][j] = a;
        tg[1][j] = (a + b + e) / 3.0f;
        tg[2][j] = (b - a - e) / 3.0f;
        tg[3][j] = -(16.0f * a + 8.0f * b + 4.0f * e) / 15.0f;
        tg[4][j] = (a - 2.0f * b + 4.0f * e) / 15.0f;
        tg[5][j] = e;
    }
    const size_t plane = (size_t)blocks * kin * MR;
    __global float* dst = u + ((size_t)mb * kin + c) * MR + r;
    for (int i = 0; i < 6; i++) { // (G g) G^T
        const float a = tg[i][0], b = tg[i][1], e = tg[i][2];
        dst[(6 * i + 0) * plane] = a;
        dst[(6 * i + 1) * plane] = (a + b + e) / 3.0f;
        dst[(6 * i + 2) * plane] = (b - a - e) / 3.0f;
        dst[(6 * i + 3) * plane] = -(16.0f * a + 8.0f * b + 4.0f * e) / 15.0f;
        dst[(6 * i + 4) * plane] = (a - 2.0f * b + 4.0f * e) / 15.0f;
        dst[(6 * i + 5) * plane] = e;
    }
}

// v [36, c, ntp] (planes WINO_PLANE apart) = B^T d B with d = x [ch, 4ti-1 .. 4ti+4, 4tj-1 .. 4tj+4] (zero outside the image,
// times (mask > 0) when masked), zero for the padding tiles n >= tiles. Each work-item transforms 8
// consecutive tiles as float8 lanes (vector stores). Inside the image, 8 tiles of one tile row read
// each of their 6 input rows (34 floats) with four unaligned float16 loads, split by column mod 4.
// Global: (ntp / 8, c).
__kernel void conv3x3_wino4_input(__global const float* x, __global const float* mask, int masked,
                                  __global float* v, int c, int h, int w, int tw, int tiles, int nbase, int ntp) {
    const int nl = get_global_id(0) * 8, ch = get_global_id(1), n0 = nbase + nl;
    if (nl >= ntp || ch >= c) return;
    __global const float* xc = x + (size_t)ch * h * w;
    __global const float* mc = mask + (size_t)ch * h * w;
    const int ti0 = n0 / tw, tj0 = n0 - ti0 * tw;
    float8 d[6][6];
    if (n0 + 8 <= tiles && tj0 + 8 <= tw && ti0 >= 1 && 4 * ti0 + 4 < h && tj0 >= 1 && 4 * tj0 + 35 <= w) {
        for (int a = 0; a < 6; a++) {
            const size_t at = (size_t)(4 * ti0 - 1 + a) * w + 4 * tj0 - 1; // column of tap 0 of lane 0
            float16 p = vload16(0, xc + at), q = vload16(0, xc + at + 16);
            float16 r = vload16(0, xc + at + 4), s = vload16(0, xc + at + 20);
            if (masked) {
                const float16 z = (float16)(0.0f);
                p = select(z, p, isgreater(vload16(0, mc + at), z));
                q = select(z, q, isgreater(vload16(0, mc + at + 16), z));
                r = select(z, r, isgreater(vload16(0, mc + at + 4), z));
                s = select(z, s, isgreater(vload16(0, mc + at + 20), z));
            }
            // Lane l, tap b is column 4l + b: p holds lanes 0-3, q lanes 4-7; r and s the same 4 further on.
            d[a][0] = (float8)(p.s048c, q.s048c);
            d[a][1] = (float8)(p.s159d, q.s159d);
            d[a][2] = (float8)(p.s26ae, q.s26ae);
            d[a][3] = (float8)(p.s37bf, q.s37bf);
            d[a][4] = (float8)(r.s048c, s.s048c);
            d[a][5] = (float8)(r.s159d, s.s159d);
        }
    } else {
        // Borders, padding tiles and tile groups across a row end: per lane, zero outside the image.
        float dd[6][6][8];
        for (int l = 0; l < 8; l++) {
            const int n = n0 + l, ti = n / tw, tj = n - ti * tw;
            for (int a = 0; a < 6; a++) {
                const int i = 4 * ti - 1 + a;
                for (int b = 0; b < 6; b++) {
                    const int j = 4 * tj - 1 + b;
                    float val = 0.0f;
                    if (n < tiles && i >= 0 && i < h && j >= 0 && j < w) {
                        const size_t at = (size_t)i * w + j;
                        val = xc[at];
                        if (masked) val = mc[at] > 0.0f ? val : 0.0f;
                    }
                    dd[a][b][l] = val;
                }
            }
        }
        for (int a = 0; a < 6; a++) {
            for (int b = 0; b < 6; b++) d[a][b] = vload8(0, dd[a][b]);
        }
    }
    float8 t[6][6]; // B^T d, stored transposed: t[b][a] = (B^T d)[a][b]
    for (int b = 0; b < 6; b++) {
        WINO4_BT(t[b], d[0][b], d[1][b], d[2][b], d[3][b], d[4][b], d[5][b]);
    }
    const size_t plane = WINO_PLANE(c, ntp);
    __global float* dst = v + (size_t)ch * ntp + nl;
    for (int a = 0; a < 6; a++) { // (B^T d) B: row a of B^T d times B
        float8 o[6];
        WINO4_BT(o, t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a]);
        for (int b = 0; b < 6; b++) vstore8(o[b], 0, dst + (6 * a + b) * plane);
    }
}

// mo [36, cout, ntp] (planes WINO_PLANE apart) = u[e] x v[e] for each of the 36 elements (winograd_gemm.cl).
__kernel void conv3x3_wino4_gemm(__global const float* u, __global const float* v, __global float* mo,
                                 int cin, int cout, int ntp, int ngrp, int ngroups) {
    winograd_gemm(u, v, mo, cin, cout, ntp, ngrp, ngroups);
}

// y [cout, h, w] = A^T M A (+ bias when has_bias, then ReLU when relu) of each tile; only the pixels
// inside the image are stored (the last tile row or column may be partly outside). Each work-item does
// 8 consecutive tiles as float8 lanes; 8 tiles inside one tile row store each output row (32 floats)
// as two interleaved float16. Global: (ceil(tiles / 8), cout).
__kernel void conv3x3_wino4_output(__global const float* mo, __global const float* bias, int has_bias,
                                   __global float* y, int cout, int h, int w, int tw, int tiles, int nbase,
                                   int ntp, int relu) {
    const int nl = get_global_id(0) * 8, m = get_global_id(1), n0 = nbase + nl;
    if (n0 >= tiles || nl >= ntp || m >= cout) return;
    const size_t plane = WINO_PLANE(cout, ntp);
    __global const float* src = mo + (size_t)m * ntp + nl; // ntp is a multiple of 8: in bounds
    float8 t[6][4]; // t[b][a] = (A^T M)[a][b]
    for (int b = 0; b < 6; b++) {
        WINO4_AT(t[b], vload8(0, src + (0 + b) * plane), vload8(0, src + (6 + b) * plane),
                 vload8(0, src + (12 + b) * plane), vload8(0, src + (18 + b) * plane),
                 vload8(0, src + (24 + b) * plane), vload8(0, src + (30 + b) * plane));
    }
    const float8 b0 = (float8)(has_bias ? bias[m] : 0.0f);
    float8 o[4][4];
    for (int a = 0; a < 4; a++) { // (A^T M) A
        WINO4_AT(o[a], t[0][a], t[1][a], t[2][a], t[3][a], t[4][a], t[5][a]);
        for (int b = 0; b < 4; b++) {
            o[a][b] += b0;
            if (relu) o[a][b] = select(o[a][b], (float8)(0.0f), isless(o[a][b], (float8)(0.0f))); // keeps NaN
        }
    }
    __global float* ym = y + (size_t)m * h * w;
    const int ti0 = n0 / tw, tj0 = n0 - ti0 * tw;
    if (n0 + 8 <= tiles && tj0 + 8 <= tw && 4 * ti0 + 3 < h && 4 * tj0 + 32 <= w) {
        const uint16 mix = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        const uint16 lo = (uint16)(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
        const uint16 hi = (uint16)(8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
        for (int a = 0; a < 4; a++) {
            // e01 = (o0[0], o1[0], o0[1], o1[1], ...), e23 likewise: row = o0[l], o1[l], o2[l], o3[l] per lane l.
            const float16 e01 = shuffle2(o[a][0], o[a][1], mix), e23 = shuffle2(o[a][2], o[a][3], mix);
            __global float* row = ym + (size_t)(4 * ti0 + a) * w + 4 * tj0;
            vstore16(shuffle2(e01, e23, lo), 0, row);
            vstore16(shuffle2(e01, e23, hi), 0, row + 16);
        }
    } else {
        float oo[4][4][8];
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++) vstore8(o[a][b], 0, oo[a][b]);
        }
        for (int l = 0; l < 8; l++) {
            const int n = n0 + l, ti = n / tw, tj = n - ti * tw;
            if (n >= tiles) break;
            for (int a = 0; a < 4; a++) {
                const int i = 4 * ti + a;
                if (i >= h) break;
                for (int b = 0; b < 4; b++) {
                    const int j = 4 * tj + b;
                    if (j < w) ym[(size_t)i * w + j] = oo[a][b][l];
                }
            }
        }
    }
}
