// conv3x3_direct.cl: 3x3 convolution, stride 1, zero padding 1, as a register-blocked direct
// convolution for CPU devices (PoCL and the like). No local memory and no barriers: each work-item
// keeps an MR x NR block of outputs (MR output channels x NR consecutive pixels of one row) in
// float8 registers and walks K = Cin*9 with one broadcast weight and NR/8 vector loads per tap.
// The input is zero-padded into xp [R+2, S, Cin, SW], one band of R output rows at a time (the host
// bounds R so that the padded band stays within a byte cap: the scratch does not grow with the image):
// the band's R + 2 input rows (its halo rows are the image's neighbouring rows, zeros only past the
// image's top and bottom) in S row segments of SW = SEG*NR + 2 columns (halo included), so every load
// of the inner loop is in bounds and branch-free. Rows come
// before channels so that the three input rows of one output row segment, over all channels, are
// dense streams (the [Cin, H+2, WP] order jumps a whole plane per channel, which prefetchers and TLB
// cannot follow: 2-4x slower at 64-256 channels; whole wide rows per channel are sparse likewise). The weights are packed once per weight buffer into
// wp [ceil(Cout/MR), Cin*9, MR] so the MR broadcasts of a tap are contiguous.
// On PoCL 3.1 (LLVM 15, AVX2) the per-channel loop compiles to 108 vfmadd231ps on registers,
// 54 vbroadcastss and 18 vmovups, no spills: FMA-bound.
// Backward to the input is the same kernel on the ReLU-masked, padded dy with the weights flipped
// 180 degrees and transposed (packed as a [Cin, Cout, 3, 3] weight).

// Output channels per work-item (rows of the register block); MR * NV float8 accumulators plus NV
// loaded vectors and a broadcast must fit the 16 AVX2 registers.
#ifndef MR
#define MR 6
#endif
// float8 vectors of pixels per work-item (NR = 8 * NV consecutive pixels of one output row).
#ifndef NV
#define NV 2
#endif
#define NR (8 * NV)

// wp [ceil(cout/MR), cin*9, MR] from weight [cout, cin, 3, 3]; zero for channels past cout.
// flip != 0 packs the backward weight instead: rows are the cin input channels, K runs over
// (cout, tap) with the taps reversed, i.e. the weight of the transposed, 180-degree-flipped kernel.
__kernel void conv3x3_direct_pack(__global const float* w, __global float* wp, int cout, int cin, int flip) {
    // As a forward weight [rows, kin, 3, 3]: rows = cout, kin = cin (flip: rows = cin, kin = cout).
    const int rows = flip ? cin : cout, kin = flip ? cout : cin;
    const int kdim = kin * 9;
    const int idx = get_global_id(0);
    const int blocks = (rows + MR - 1) / MR;
    if (idx >= blocks * kdim * MR) return;
    const int r = idx % MR, k = (idx / MR) % kdim, mb = idx / (MR * kdim);
    const int m = mb * MR + r, c = k / 9, t = k - c * 9;
    float v = 0.0f;
    if (m < rows) {
        v = flip ? w[(c * cin + m) * 9 + (8 - t)] : w[(m * cin + c) * 9 + t];
    }
    wp[idx] = v;
}

// xp [rows+2, nsegs, c, segpx+2] = image rows row0-1 .. row0+rows of x [c, h, w] (one band of rows
// output rows and its two halo rows; zeros for rows outside the image) cut into row segments of segpx
// columns, each with its two halo columns, transposed to rows-segments-channels, zeros past column w;
// when masked != 0 each value is multiplied by (mask > 0), the ReLU mask of the backward pass.
// Segments keep the channels of one segment close together: one work-group's loads over all channels
// are a dense stream (a full 512-pixel row per channel would leave 72 used bytes per 2 KiB: 1.6x slower).
__kernel void conv3x3_direct_pad(__global const float* x, __global const float* mask, int masked,
                                 __global float* xp, int c, int h, int w, int nsegs, int segpx,
                                 int row0, int rows) {
    // One work-item per padded row of one channel: plain loops over contiguous runs that the compiler
    // vectorises, and a select rather than a branch on the (random) mask.
    const int row = get_global_id(0);
    if (row >= c * (rows + 2)) return;
    const int ii = row / c, ch = row - ii * c, i = row0 + ii - 1; // band row ii holds image row i
    const int segw = segpx + 2;
    for (int s = 0; s < nsegs; s++) {
        __global float* dst = xp + ((size_t)(ii * nsegs + s) * c + ch) * segw;
        const int j0 = s * segpx - 1; // image column of dst[0]
        // dst[lo .. hi) holds image columns, the rest is zero
        const int lo = (i < 0 || i >= h) ? segw : max(0, -j0);
        const int hi = (i < 0 || i >= h) ? segw : min(segw, w - j0);
        for (int j = 0; j < lo; j++) dst[j] = 0.0f;
        if (lo < hi) {
            __global const float* src = x + ((size_t)ch * h + i) * w + (j0 + lo);
            __global const float* msk = mask + ((size_t)ch * h + i) * w + (j0 + lo);
            __global float* d = dst + lo;
            const int n = hi - lo;
            if (masked) {
                for (int j = 0; j < n; j++) d[j] = msk[j] > 0.0f ? src[j] : 0.0f;
            } else {
                for (int j = 0; j < n; j++) d[j] = src[j];
            }
        }
        for (int j = max(lo, hi); j < segw; j++) dst[j] = 0.0f;
    }
}

// y [cout, h, w] = conv(x, weight) (+ bias [cout] when has_bias, then ReLU when relu) with
// xp [rows+2, nsegs, cin, segw] the padded band of output rows row0 .. row0+rows-1 (segw = segblocks*NR + 2,
// see conv3x3_direct_pad) and wp [ceil(cout/MR), cin*9, MR] the packed weight. One call writes that band only.
// One call sums input channels k0 .. k0+kc-1 only: with accumulate != 0 it adds them to y (the
// partial sums of earlier calls over other channels) instead of starting from the bias, so the host
// can split Cin into cache-sized passes; the sum order is fixed, the result deterministic. The host
// passes has_bias on the first pass and relu on the last.
// Work order (cache blocking): the band is cut into tiles of `band` output rows x one row segment of
// `segblocks` pixel blocks (NR pixels each). Global size: dim 0 = segblocks pixel blocks of one row segment (rounded up
// to the work-group), dim 1 = band * ceil(cout/MR) (rows inner, then channel blocks), dim 2 =
// ceil(rows/band) * nsegs tiles (segments inner). Work-groups run in linear order, so one channel block's
// weights stay in L1 while it sweeps a tile's rows, and a tile's (band+2) input rows of the kc
// channels stay in L2 while all channel blocks go by. band = rows, nsegs = 1 gives "rows inner" (the
// input streams once per channel block); band = 1 "rows outer" (the weights stream once per row).
__kernel void conv3x3_direct(__global const float* xp, __global const float* wp, __global const float* bias,
                             __global float* y, int cin, int cout, int h, int w, int segw,
                             int has_bias, int relu, int k0, int kc, int accumulate,
                             int band, int segblocks, int nsegs, int row0, int rows) {
    const int q = get_global_id(1), t = get_global_id(2);
    const int mb = q / band, ib = (t / nsegs) * band + (q - mb * band); // row of the band
    const int pb = get_global_id(0);
    const int seg = t % nsegs;
    const int j0 = (seg * segblocks + pb) * NR;
    if (pb >= segblocks || j0 >= w || ib >= rows || mb * MR >= cout) return;
    const int i = row0 + ib; // row of the image

    const int hw = h * w;
    // Fully unrolled loops over r, v and t keep acc in registers (PoCL's LLVM does not unroll them itself).
    float8 acc[MR][NV];
    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        const int m = min(mb * MR + r, cout - 1); // rows past cout compute garbage that is never stored
        __global const float* src = y + m * hw + i * w + j0;
        const float b0 = has_bias ? bias[m] : 0.0f;
        _Pragma("unroll") for (int v = 0; v < NV; v++) {
            const int col = j0 + 8 * v;
            if (!accumulate) {
                acc[r][v] = (float8)(b0);
            } else if (col + 8 <= w) {
                acc[r][v] = vload8(v, src);
            } else {
                float tmp[8];
                for (int l = 0; l < 8; l++) tmp[l] = col + l < w ? src[8 * v + l] : 0.0f;
                acc[r][v] = vload8(0, tmp);
            }
        }
    }

    // Output pixel (i, j) reads the band's padded rows ib..ib+2 and columns j..j+2.
    __global const float* xr = xp + (((size_t)ib * nsegs + seg) * cin + k0) * segw + pb * NR;
    __global const float* wk = wp + ((size_t)mb * cin + k0) * 9 * MR;
    const int rowstride = nsegs * cin * segw;
    for (int c = 0; c < kc; c++) {
        _Pragma("unroll") for (int t = 0; t < 9; t++) {
            __global const float* src = xr + (t / 3) * rowstride + (t % 3);
            float8 a[NV];
            _Pragma("unroll") for (int v = 0; v < NV; v++) a[v] = vload8(v, src);
            _Pragma("unroll") for (int r = 0; r < MR; r++) {
                const float8 b = (float8)(wk[t * MR + r]);
                _Pragma("unroll") for (int v = 0; v < NV; v++) acc[r][v] = fma(b, a[v], acc[r][v]);
            }
        }
        xr += segw;
        wk += 9 * MR;
    }

    _Pragma("unroll") for (int r = 0; r < MR; r++) {
        const int m = mb * MR + r;
        if (m >= cout) break;
        __global float* dst = y + m * hw + i * w + j0;
        _Pragma("unroll") for (int v = 0; v < NV; v++) {
            float8 o = acc[r][v];
            // select keeps NaN, like the GEMM variant's (v < 0 ? 0 : v).
            if (relu) o = select(o, (float8)(0.0f), isless(o, (float8)(0.0f)));
            const int col = j0 + 8 * v;
            if (col + 8 <= w) {
                vstore8(o, v, dst);
            } else {
                // Row end: only the lanes inside the image.
                float tmp[8];
                vstore8(o, 0, tmp);
                for (int l = 0; l < 8 && col + l < w; l++) dst[8 * v + l] = tmp[l];
            }
        }
    }
}
