// conv3x3_winograd.cl: 3x3 convolution, stride 1, zero padding 1, as Winograd F(2x2, 3x3) for CPU
// devices (Lavin & Gray 2015): Y = A^T [ (G g G^T) . (B^T d B) ] A per 2x2 output tile, summed over
// input channels. 2.25x fewer multiplies than the direct convolution, paid for by the transforms,
// which stream 4x the input and output through memory: it wins where Cin and Cout are large and the
// planes small (see Conv3x3's choice). Three steps, none with local memory or barriers:
//   conv3x3_wino_input   V [16, K, NTP]  = B^T d B of each 4x4 input tile (zero padded)
//   conv3x3_wino_gemm    M [16, Mo, NTP] = U[e] [Mo, K] x V[e] [K, NTP], 16 independent GEMMs, each an
//                        MR x NR register block per work-item as in conv3x3_direct.cl
//   conv3x3_wino_output  y [Mo, H, W]    = A^T M A + bias (+ ReLU), stores inside the image only
// The weight transform U = G g G^T is done once per weight buffer (conv3x3_wino_pack), packed so the
// MR broadcasts of one input channel are contiguous. Tiles are numbered n = ti * TW + tj
// (TW = ceil(W/2) tile columns); tiles past the last one are zero padding.
// The host runs the three steps on chunks of tiles nbase .. nbase+NTP-1 (NTP a multiple of NR), so that
// V and M of one chunk stay in the caches: with whole images they went to memory and back (512
// channels at 64 x 64: 1.1x faster than direct against 1.6x at 32 x 32).
// Backward to the input is the same with the ReLU-masked dy and the flipped, transposed weights.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].

#include "winograd_gemm.cl"

// u [16, ceil(rows/MR), kin, MR] = G g G^T of weight [cout, cin, 3, 3]; zero for rows past the end.
// flip != 0: the backward weight (rows = cin, kin = cout, taps reversed), as conv3x3_direct_pack.
__kernel void conv3x3_wino_pack(__global const float* w, __global float* u, int cout, int cin, int flip) {
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
    float tg[4][3]; // G g
    for (int j = 0; j < 3; j++) {
        tg[0][j] = g[j];
        tg[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        tg[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        tg[3][j] = g[6 + j];
    }
    const size_t plane = (size_t)blocks * kin * MR;
    __global float* dst = u + ((size_t)mb * kin + c) * MR + r;
    for (int i = 0; i < 4; i++) { // (G g) G^T
        dst[(4 * i + 0) * plane] = tg[i][0];
        dst[(4 * i + 1) * plane] = 0.5f * (tg[i][0] + tg[i][1] + tg[i][2]);
        dst[(4 * i + 2) * plane] = 0.5f * (tg[i][0] - tg[i][1] + tg[i][2]);
        dst[(4 * i + 3) * plane] = tg[i][2];
    }
}

// v [16, c, ntp] (planes WINO_PLANE apart) = B^T d B with d = x [ch, 2ti-1 .. 2ti+2, 2tj-1 .. 2tj+2] (zero outside the image,
// times (mask > 0) when masked), zero for the padding tiles n >= tiles. Each work-item transforms 8
// consecutive tiles as float8 lanes, so the 16 stores are vector stores (scattered scalar stores ran at
// a few GB/s). Inside the image, 8 tiles of one tile row read each input row with two unaligned
// float16 loads split into even and odd columns. Global: (ntp / 8, c).
__kernel void conv3x3_wino_input(__global const float* x, __global const float* mask, int masked,
                                 __global float* v, int c, int h, int w, int tw, int tiles, int nbase, int ntp) {
    const int nl = get_global_id(0) * 8, ch = get_global_id(1), n0 = nbase + nl;
    if (nl >= ntp || ch >= c) return;
    __global const float* xc = x + (size_t)ch * h * w;
    __global const float* mc = mask + (size_t)ch * h * w;
    const int ti0 = n0 / tw, tj0 = n0 - ti0 * tw;
    float8 d[4][4];
    if (n0 + 8 <= tiles && tj0 + 8 <= tw && ti0 >= 1 && 2 * ti0 + 2 < h && tj0 >= 1 && 2 * tj0 + 16 < w) {
        for (int a = 0; a < 4; a++) {
            const size_t at = (size_t)(2 * ti0 - 1 + a) * w + 2 * tj0 - 1; // column of tap 0 of lane 0
            float16 p = vload16(0, xc + at), q = vload16(0, xc + at + 2);
            if (masked) {
                p = select((float16)(0.0f), p, isgreater(vload16(0, mc + at), (float16)(0.0f)));
                q = select((float16)(0.0f), q, isgreater(vload16(0, mc + at + 2), (float16)(0.0f)));
            }
            d[a][0] = p.even; d[a][1] = p.odd; d[a][2] = q.even; d[a][3] = q.odd;
        }
    } else {
        // Borders, padding tiles and tile groups across a row end: per lane, zero outside the image.
        float dd[4][4][8];
        for (int l = 0; l < 8; l++) {
            const int n = n0 + l, ti = n / tw, tj = n - ti * tw;
            for (int a = 0; a < 4; a++) {
                const int i = 2 * ti - 1 + a;
                for (int b = 0; b < 4; b++) {
                    const int j = 2 * tj - 1 + b;
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
        for (int a = 0; a < 4; a++) {
            for (int b = 0; b < 4; b++) d[a][b] = vload8(0, dd[a][b]);
        }
    }
    float8 t[4][4]; // B^T d
    for (int b = 0; b < 4; b++) {
        t[0][b] = d[0][b] - d[2][b];
        t[1][b] = d[1][b] + d[2][b];
        t[2][b] = d[2][b] - d[1][b];
        t[3][b] = d[1][b] - d[3][b];
    }
    const size_t plane = WINO_PLANE(c, ntp);
    __global float* dst = v + (size_t)ch * ntp + nl;
    for (int a = 0; a < 4; a++) { // (B^T d) B
        vstore8(t[a][0] - t[a][2], 0, dst + (4 * a + 0) * plane);
        vstore8(t[a][1] + t[a][2], 0, dst + (4 * a + 1) * plane);
        vstore8(t[a][2] - t[a][1], 0, dst + (4 * a + 2) * plane);
        vstore8(t[a][1] - t[a][3], 0, dst + (4 * a + 3) * plane);
    }
}

// mo [16, cout, ntp] (planes WINO_PLANE apart) = u[e] x v[e] for each of the 16 elements (winograd_gemm.cl).
__kernel void conv3x3_wino_gemm(__global const float* u, __global const float* v, __global float* mo,
                                int cin, int cout, int ntp, int ngrp, int ngroups) {
    winograd_gemm(u, v, mo, cin, cout, ntp, ngrp, ngroups);
}

// y [cout, h, w] = A^T M A (+ bias when has_bias, then ReLU when relu) of each tile; only the pixels
// inside the image are stored (odd h or w: the last tile row or column is half used). Each work-item
// does 8 consecutive tiles as float8 lanes; 8 tiles inside one tile row store each output row as one
// interleaved float16. Global: (ceil(tiles / 8), cout).
__kernel void conv3x3_wino_output(__global const float* mo, __global const float* bias, int has_bias,
                                  __global float* y, int cout, int h, int w, int tw, int tiles, int nbase,
                                  int ntp, int relu) {
    const int nl = get_global_id(0) * 8, m = get_global_id(1), n0 = nbase + nl;
    if (n0 >= tiles || nl >= ntp || m >= cout) return;
    const size_t plane = WINO_PLANE(cout, ntp);
    __global const float* src = mo + (size_t)m * ntp + nl; // ntp is a multiple of 8: in bounds
    float8 t[2][4]; // A^T M
    for (int b = 0; b < 4; b++) {
        const float8 m0 = vload8(0, src + (0 + b) * plane), m1 = vload8(0, src + (4 + b) * plane);
        const float8 m2 = vload8(0, src + (8 + b) * plane), m3 = vload8(0, src + (12 + b) * plane);
        t[0][b] = m0 + m1 + m2;
        t[1][b] = m1 - m2 - m3;
    }
    const float8 b0 = (float8)(has_bias ? bias[m] : 0.0f);
    float8 o[2][2];
    for (int a = 0; a < 2; a++) { // (A^T M) A
        o[a][0] = t[a][0] + t[a][1] + t[a][2] + b0;
        o[a][1] = t[a][1] - t[a][2] - t[a][3] + b0;
        if (relu) { // select keeps NaN, like the other variants
            o[a][0] = select(o[a][0], (float8)(0.0f), isless(o[a][0], (float8)(0.0f)));
            o[a][1] = select(o[a][1], (float8)(0.0f), isless(o[a][1], (float8)(0.0f)));
        }
    }
    __global float* ym = y + (size_t)m * h * w;
    const int ti0 = n0 / tw, tj0 = n0 - ti0 * tw;
    if (n0 + 8 <= tiles && tj0 + 8 <= tw && 2 * ti0 + 1 < h && 2 * tj0 + 16 <= w) {
        const uint16 mix = (uint16)(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
        for (int a = 0; a < 2; a++) {
            vstore16(shuffle2(o[a][0], o[a][1], mix), 0, ym + (size_t)(2 * ti0 + a) * w + 2 * tj0);
        }
    } else {
        float oo[2][2][8];
        for (int a = 0; a < 2; a++) {
            vstore8(o[a][0], 0, oo[a][0]);
            vstore8(o[a][1], 0, oo[a][1]);
        }
        for (int l = 0; l < 8; l++) {
            const int n = n0 + l, ti = n / tw, tj = n - ti * tw;
            if (n >= tiles) break;
            for (int a = 0; a < 2; a++) {
                const int i = 2 * ti + a;
                if (i >= h) break;
                for (int b = 0; b < 2; b++) {
                    const int j = 2 * tj + b;
                    if (j < w) ym[(size_t)i * w + j] = oo[a][b][l];
                }
            }
        }
    }
}
