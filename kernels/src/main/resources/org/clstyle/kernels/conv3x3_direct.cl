// conv3x3_direct.cl: 3x3 convolution, stride 1, zero padding 1, as a register-blocked direct
// convolution for CPU devices (PoCL and the like). No local memory and no barriers: each work-item
// keeps an MR x NR block of outputs (MR output channels x NR consecutive pixels of one row) in
// float8 registers and walks K = Cin*9 with one broadcast weight and NR/8 vector loads per tap.
// The input is zero-padded once per call into xp [Cin, H+2, WP] with WP >= ceil(W/NR)*NR + 2, so
// every load of the inner loop is in bounds and branch-free; the weights are packed once per
// weight buffer into wp [ceil(Cout/MR), Cin*9, MR] so the MR broadcasts of a tap are contiguous.
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

// xp [c, h+2, wpd] = x [c, h, w] surrounded by zeros (and zeros to the right up to wpd); when
// masked != 0 each value is multiplied by (mask > 0), the ReLU mask of the backward pass.
__kernel void conv3x3_direct_pad(__global const float* x, __global const float* mask, int masked,
                                 __global float* xp, int c, int h, int w, int wpd) {
    const int j = get_global_id(0), row = get_global_id(1);
    if (j >= wpd || row >= c * (h + 2)) return;
    const int ch = row / (h + 2), i = row - ch * (h + 2) - 1, jj = j - 1;
    float v = 0.0f;
    if (i >= 0 && i < h && jj >= 0 && jj < w) {
        const int s = (ch * h + i) * w + jj;
        v = x[s];
        if (masked && !(mask[s] > 0.0f)) v = 0.0f;
    }
    xp[row * wpd + j] = v;
}

// y [cout, h, w] = conv(x, weight) (+ bias [cout] when has_bias, then ReLU when relu) with
// xp [cin, h+2, wpd] the padded input and wp [ceil(cout/MR), cin*9, MR] the packed weight.
// Global size: dim 0 = ceil(w/NR) * h pixel blocks, dim 1 = ceil(cout/MR) channel blocks.
__kernel void conv3x3_direct(__global const float* xp, __global const float* wp, __global const float* bias,
                             __global float* y, int cin, int cout, int h, int w, int wpd,
                             int has_bias, int relu) {
    const int blocks_per_row = (w + NR - 1) / NR;
    const int pb = get_global_id(0), mb = get_global_id(1);
    if (pb >= blocks_per_row * h || mb * MR >= cout) return;
    const int i = pb / blocks_per_row, j0 = (pb - i * blocks_per_row) * NR;

    float8 acc[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) acc[r][v] = (float8)(0.0f);

    // Output pixel (i, j) reads padded rows i..i+2 and columns j..j+2.
    __global const float* xr = xp + i * wpd + j0;
    __global const float* wk = wp + (size_t)mb * cin * 9 * MR;
    const int plane = (h + 2) * wpd;
    for (int c = 0; c < cin; c++) {
        for (int t = 0; t < 9; t++) {
            __global const float* src = xr + (t / 3) * wpd + (t % 3);
            float8 a[NV];
            for (int v = 0; v < NV; v++) a[v] = vload8(v, src);
            for (int r = 0; r < MR; r++) {
                const float8 b = (float8)(wk[t * MR + r]);
                for (int v = 0; v < NV; v++) acc[r][v] = fma(b, a[v], acc[r][v]);
            }
        }
        xr += plane;
        wk += 9 * MR;
    }

    const int hw = h * w;
    for (int r = 0; r < MR; r++) {
        const int m = mb * MR + r;
        if (m >= cout) break;
        const float b = has_bias ? bias[m] : 0.0f;
        __global float* dst = y + m * hw + i * w + j0;
        for (int v = 0; v < NV; v++) {
            float8 o = acc[r][v] + b;
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
