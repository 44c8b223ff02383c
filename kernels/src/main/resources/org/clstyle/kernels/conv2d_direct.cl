// conv2d_direct.cl: general KxK convolution over a batch (stride S, zero padding), as a register-blocked
// direct convolution for CPU devices: conv3x3_direct.cl's scheme for any kernel size and stride, and its
// weight gradient. No local memory and no barriers. Each work-item of the forward keeps an MR x NR block
// of outputs (MR output channels x NR = 8*NV consecutive pixels of one output row) in float8 registers and
// walks Cin*K*K with one broadcast weight and NV vector loads per tap.
//
// The input is zero-padded once per call into xp [N, HP, nsegs, C, S, segw]: each padded row is cut into
// row segments of segpx output columns, and each segment's input columns are split into the S column
// phases of the stride, so that for tap (di, dj) the input columns of NR consecutive output pixels are
// one dense run: phase dj % S from offset dj / S (segw = segpx + (K-1)/S covers the halo). Every load of
// the inner loop is in bounds and branch-free.
//
// The same kernels give the input gradient: dx = the stride-1 convolution of dy dilated by S (zeros
// between its pixels, written by the pad kernel), padded by K-1-p, with the weights flipped 180 degrees
// and transposed (conv2d_direct_pack with flip). At stride 2 that multiplies S*S = 4 times the work of a
// phase-split gather, and still runs several times faster than the GEMM gather on CPUs.
//
// The weight gradient (conv2d_direct_weight) is a long dot product over pixels: each work-item keeps
// WMR output channels x the K taps dj of one (ci, di) in float8 accumulators over 8 pixel lanes and one
// chunk of output rows; chunks are summed in a fixed order on the host side (conv2d_sum_splits),
// so results are deterministic.

// Kernel size and stride (compile-time constants: taps unroll, divisions by constants).
#ifndef CONV_K
#define CONV_K 3
#endif
#ifndef CONV_S
#define CONV_S 1
#endif
// Output channels per work-item of the forward (rows of the register block); MR * NV float8
// accumulators, NV loaded vectors and a broadcast must fit the registers.
#ifndef MR
#define MR 6
#endif
// float8 vectors of pixels per work-item of the forward (NR = 8 * NV consecutive pixels of one row).
#ifndef NV
#define NV 2
#endif
// Output channels per work-item of the weight gradient (times CONV_K float8 accumulators).
#ifndef WMR
#if CONV_K == 1
#define WMR 8
#elif CONV_K <= 3
#define WMR 4
#else
#define WMR 2
#endif
#endif

#define KK (CONV_K * CONV_K)
#define NR (8 * NV)

// wp [ceil(rows/MR), kin*KK, MR] from weight [cout, cin, K, K]; zero for rows past the last.
// flip == 0: rows = cout, kin = cin (the forward). flip != 0: rows = cin, kin = cout, taps reversed
// (the transposed, 180-degree-flipped kernel of the input gradient).
__kernel void conv2d_direct_pack(__global const float* w, __global float* wp, int cout, int cin, int flip) {
    const int rows = flip ? cin : cout, kin = flip ? cout : cin;
    const int kdim = kin * KK;
    const int idx = get_global_id(0);
    const int blocks = (rows + MR - 1) / MR;
    if (idx >= blocks * kdim * MR) return;
    const int r = idx % MR, k = (idx / MR) % kdim, mb = idx / (MR * kdim);
    const int m = mb * MR + r, c = k / KK, t = k - c * KK;
    float v = 0.0f;
    if (m < rows) {
        v = flip ? w[(c * cin + m) * KK + (KK - 1 - t)] : w[(m * cin + c) * KK + t];
    }
    wp[idx] = v;
}

// xp [n, hp, nsegs, c, phases, segw] from x [n, c, h, w]: padded row ii, segment s, phase q, slot u holds
// the image pixel at padded coordinates (ii, (s*segpx + u)*phases + q), i.e. image row (ii - padt) / dil
// and column ((s*segpx + u)*phases + q - padl) / dil where both divisions are exact and in range, else 0
// (dil > 1 dilates: the input gradient of a strided convolution). One work-item per padded row of one
// channel of one image.
__kernel void conv2d_direct_pad(__global const float* x, __global float* xp, int n, int c, int h, int w,
                                int hp, int nsegs, int segpx, int segw, int phases, int padt, int padl, int dil) {
    const int row = get_global_id(0);
    if (row >= n * hp * c) return;
    const int b = row / (hp * c), rem = row - b * hp * c, ii = rem / c, ch = rem - ii * c;
    const int rr = ii - padt;
    const int ri = rr / dil;
    const bool rowok = rr >= 0 && ri * dil == rr && ri < h;
    __global const float* src = x + ((size_t)(b * c + ch) * h + (rowok ? ri : 0)) * w;
    for (int s = 0; s < nsegs; s++) {
        for (int q = 0; q < phases; q++) {
            __global float* dst = xp + (((((size_t)b * hp + ii) * nsegs + s) * c + ch) * phases + q) * segw;
            const int c0 = s * segpx * phases + q - padl; // dilated image column of dst[0]
            if (!rowok) {
                for (int u = 0; u < segw; u++) dst[u] = 0.0f;
            } else if (dil == 1 && phases == 1) {
                // dst[lo .. hi) holds image columns c0 + u: plain runs the compiler vectorises
                const int lo = clamp(-c0, 0, segw), hi = clamp(w - c0, lo, segw);
                for (int u = 0; u < lo; u++) dst[u] = 0.0f;
                for (int u = lo; u < hi; u++) dst[u] = src[c0 + u];
                for (int u = hi; u < segw; u++) dst[u] = 0.0f;
            } else {
                for (int u = 0; u < segw; u++) {
                    const int cc = c0 + u * phases, ci = cc / dil;
                    dst[u] = (cc >= 0 && ci * dil == cc && ci < w) ? src[ci] : 0.0f;
                }
            }
        }
    }
}

// y [n, cout, ho, wo] = conv(xp, wp) (+ bias [cout] when has_bias) with xp [n, hp, nsegs, cin, S, segw]
// the padded input (conv2d_direct_pad with phases = S) and wp [ceil(cout/MR), cin*KK, MR] the packed
// weight. Output pixel (oi, oj) reads padded rows oi*S + di and padded columns oj*S + dj.
// Work order (cache blocking): tiles of `band` output rows x one row segment of `segblocks` pixel blocks.
// Global size: dim 0 = segblocks pixel blocks (rounded up to the work-group), dim 1 = band * ceil(cout/MR)
// (rows inner, then channel blocks), dim 2 = n * bands * nsegs (segments inner, then bands, then images).
__kernel void conv2d_direct(__global const float* xp, __global const float* wp, __global const float* bias,
                            __global float* y, int cin, int cout, int ho, int wo, int hp, int nsegs, int segw,
                            int has_bias, int band, int bands, int segblocks) {
    const int pb = get_global_id(0), q = get_global_id(1), t = get_global_id(2);
    const int mb = q / band;
    const int tiles = bands * nsegs;
    const int b = t / tiles, t2 = t - b * tiles;
    const int oi = (t2 / nsegs) * band + (q - mb * band), seg = t2 % nsegs;
    const int j0 = (seg * segblocks + pb) * NR;
    if (pb >= segblocks || j0 >= wo || oi >= ho || mb * MR >= cout) return;

    const int hw = ho * wo;
    __global float* yb = y + (size_t) b * cout * hw;
    float8 acc[MR][NV];
    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = (float8)(0.0f);
    }

    const int rowstride = nsegs * cin * CONV_S * segw;
    __global const float* xr = xp + ((((size_t) b * hp + oi * CONV_S) * nsegs + seg) * cin) * CONV_S * segw + pb * NR;
    __global const float* wk = wp + (size_t) mb * cin * KK * MR;
    for (int c = 0; c < cin; c++) {
        _Pragma("unroll") for (int di = 0; di < CONV_K; di++) {
            _Pragma("unroll") for (int dj = 0; dj < CONV_K; dj++) {
                __global const float* src = xr + di * rowstride + (dj % CONV_S) * segw + dj / CONV_S;
                float8 a[NV];
                _Pragma("unroll") for (int v = 0; v < NV; v++) a[v] = vload8(v, src);
                _Pragma("unroll") for (int r = 0; r < MR; r++) {
                    const float8 wv = (float8)(wk[(di * CONV_K + dj) * MR + r]);
                    _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = fma(wv, a[v], acc[r][v]);
                }
            }
        }
        xr += CONV_S * segw;
        wk += KK * MR;
    }

    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        const int m = mb * MR + r;
        if (m >= cout) break;
        __global float* dst = yb + (size_t) m * hw + oi * wo + j0;
        // The bias is added last, as the GEMM variant does: a bias large against the sum would otherwise
        // round away its low bits (which a following normalisation of a flat plane amplifies).
        const float b0 = has_bias ? bias[m] : 0.0f;
        _Pragma("unroll") for (int v = 0; v < NV; v++) {
            const int col = j0 + 8 * v;
            const float8 o = acc[r][v] + b0;
            if (col + 8 <= wo) {
                vstore8(o, v, dst);
            } else {
                // Row end: only the lanes inside the image.
                float tmp[8];
                vstore8(o, 0, tmp);
                for (int l = 0; l < 8 && col + l < wo; l++) dst[8 * v + l] = tmp[l];
            }
        }
    }
}

// part[z, cout, cin, K, K]: the weight gradient summed over output rows [z*rows, (z+1)*rows) of the
// n*ho rows of the batch: part[z, co, ci, di, dj] = sum dy[b, co, oi, oj] * x at padded (oi*S + di, oj*S + dj).
// xp as for the forward; dyp [n, ho, nsegs, cout, segpx] is dy cut into the same row segments, zero past
// column wo (conv2d_direct_pad with phases 1, no padding), so every lane past the image adds zero.
// Global size: dim 0 = ceil(cout/WMR) output channel blocks, dim 1 = cin * K (ci, di), dim 2 = chunks z.
__kernel void conv2d_direct_weight(__global const float* xp, __global const float* dyp, __global float* part,
                                   int n, int cin, int cout, int ho, int hp, int nsegs, int segw, int segpx,
                                   int rows) {
    const int mb = get_global_id(0), cd = get_global_id(1), z = get_global_id(2);
    const int ci = cd / CONV_K, di = cd - ci * CONV_K;
    if (mb * WMR >= cout || ci >= cin) return;
    int mrow[WMR];
    _Pragma("unroll") for (int r = 0; r < WMR; r++) mrow[r] = min(mb * WMR + r, cout - 1);

    float8 acc[WMR][CONV_K];
    _Pragma("unroll") for (int r = 0; r < WMR; r++) {
        _Pragma("unroll") for (int dj = 0; dj < CONV_K; dj++) acc[r][dj] = (float8)(0.0f);
    }
    const int r0 = z * rows, r1 = min(n * ho, r0 + rows);
    for (int row = r0; row < r1; row++) {
        const int b = row / ho, oi = row - b * ho;
        for (int seg = 0; seg < nsegs; seg++) {
            __global const float* xs = xp + (((((size_t) b * hp + oi * CONV_S + di) * nsegs + seg) * cin + ci) * CONV_S) * segw;
            __global const float* ds = dyp + (((size_t) b * ho + oi) * nsegs + seg) * cout * segpx;
            for (int p = 0; p < segpx; p += 8) {
                float8 d[WMR];
                _Pragma("unroll") for (int r = 0; r < WMR; r++) d[r] = vload8(0, ds + mrow[r] * segpx + p);
                _Pragma("unroll") for (int dj = 0; dj < CONV_K; dj++) {
                    const float8 a = vload8(0, xs + (dj % CONV_S) * segw + p + dj / CONV_S);
                    _Pragma("unroll") for (int r = 0; r < WMR; r++) acc[r][dj] = fma(d[r], a, acc[r][dj]);
                }
            }
        }
    }

    __global float* out = part + (size_t) z * cout * cin * KK;
    _Pragma("unroll") for (int r = 0; r < WMR; r++) {
        const int m = mb * WMR + r;
        if (m >= cout) break;
        _Pragma("unroll") for (int dj = 0; dj < CONV_K; dj++) {
            const float8 a = acc[r][dj];
            const float4 h4 = a.lo + a.hi;
            const float2 h2 = h4.lo + h4.hi;
            out[((size_t) m * cin + ci) * KK + di * CONV_K + dj] = h2.x + h2.y;
        }
    }
}
