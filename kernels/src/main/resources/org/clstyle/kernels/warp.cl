// warp.cl: an affine warp of images [C, Hi, Wi] -> [C, Ho, Wo] with bilinear sampling and a reflecting
// border, and its exact adjoint.
//
// Output pixel (i, j) (row, column; pixel centres at integers) samples the input at
//   sx = a0 j + a1 i + a2,   sy = a3 j + a4 i + a5
// as the bilinear (tent) interpolation of the input's taps floor(s) and floor(s) + 1 along each axis.
// Border: reflect-101 (mirror about the edge pixels' centres, as OpenCV's BORDER_REFLECT_101 and
// numpy's 'reflect'): tap -1 reads 1, tap Wi reads Wi - 2; a side of one pixel reads pixel 0 everywhere.
// Since the tent is linear between pixel centres, this equals sampling at the reflected coordinate.
//
// Backward, a gather (deterministic, no atomics): input pixel q receives
//   dx[q] = sum over output p, over taps t, u with reflect(t) = qj and reflect(u) = qi,
//           of tent(sx(p) - t) tent(sy(p) - u) dy[p]
// It enumerates q's mirror images (t, u) inside the host-given tap range of the whole output and, for
// each, the output pixels in the bounding box of the preimage of the square |s - (t, u)| < 1 (from the
// inverse map b0..b5), in a fixed order.

// The input index that tap t reads along a side of n pixels (reflect-101).
int warp_reflect(const int t, const int n) {
    if (n == 1) return 0;
    const int per = 2 * (n - 1);
    int r = t % per;
    if (r < 0) r += per;
    return r < n ? r : per - r;
}

// floor(a / b) and ceil(a / b) for b > 0.
int warp_floor_div(const int a, const int b) {
    const int q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int warp_ceil_div(const int a, const int b) {
    const int q = a / b;
    return (a % b != 0 && a > 0) ? q + 1 : q;
}

// y = warp(x). global: [Ho * Wo, C].
__kernel void warp_forward(__global const float* x,  // [C, Hi, Wi]
                           const int Hi, const int Wi,
                           __global float* y,        // [C, Ho, Wo]
                           const int Ho, const int Wo, const int C,
                           const float a0, const float a1, const float a2,
                           const float a3, const float a4, const float a5) {
    const int p = (int) get_global_id(0), c = (int) get_global_id(1);
    if (p >= Ho * Wo || c >= C) return;
    const int i = p / Wo, j = p % Wo;
    const float sx = a0 * (float) j + a1 * (float) i + a2;
    const float sy = a3 * (float) j + a4 * (float) i + a5;
    const float fx0 = floor(sx), fy0 = floor(sy);
    const float fx = sx - fx0, fy = sy - fy0;
    const int x0 = (int) fx0, y0 = (int) fy0;
    const int xa = warp_reflect(x0, Wi), xb = warp_reflect(x0 + 1, Wi);
    const int ya = warp_reflect(y0, Hi), yb = warp_reflect(y0 + 1, Hi);
    __global const float* xc = x + (size_t) c * Hi * Wi;
    const float top = (1.0f - fx) * xc[ya * Wi + xa] + fx * xc[ya * Wi + xb];
    const float bottom = (1.0f - fx) * xc[yb * Wi + xa] + fx * xc[yb * Wi + xb];
    y[(size_t) c * Ho * Wo + p] = (1.0f - fy) * top + fy * bottom;
}

// dx (+)= warp^T(dy). global: [Hi * Wi, C]. tx_lo..tx_hi, ty_lo..ty_hi: every tap any output pixel
// uses (floor(min s) .. floor(max s) + 1 per axis); ej, ei: half-extents in output pixels of the
// preimage of a square of half-side 1 (|b0| + |b1|, |b3| + |b4|).
__kernel void warp_backward(__global const float* dy,  // [C, Ho, Wo]
                            const int Ho, const int Wo,
                            __global float* dx,        // [C, Hi, Wi]
                            const int Hi, const int Wi, const int C,
                            const float a0, const float a1, const float a2,
                            const float a3, const float a4, const float a5,
                            const float b0, const float b1, const float b2,
                            const float b3, const float b4, const float b5,
                            const int tx_lo, const int tx_hi, const int ty_lo, const int ty_hi,
                            const float ej, const float ei,
                            const int accumulate) {
    const int q = (int) get_global_id(0), c = (int) get_global_id(1);
    if (q >= Hi * Wi || c >= C) return;
    const int qi = q / Wi, qj = q % Wi;
    const int per_x = Wi == 1 ? 1 : 2 * (Wi - 1), per_y = Hi == 1 ? 1 : 2 * (Hi - 1);
    __global const float* dyc = dy + (size_t) c * Ho * Wo;
    float acc = 0.0f;
    // Mirror images of qi: qi + k per_y, and (strictly inside only, else they coincide) -qi + k per_y.
    for (int fy = 0; fy < 2; fy++) {
        if (fy == 1 && (qi == 0 || qi == Hi - 1)) break;
        const int base_y = fy == 0 ? qi : -qi;
        const int ky_hi = warp_floor_div(ty_hi - base_y, per_y);
        for (int ky = warp_ceil_div(ty_lo - base_y, per_y); ky <= ky_hi; ky++) {
            const int my = base_y + ky * per_y;
            for (int fx = 0; fx < 2; fx++) {
                if (fx == 1 && (qj == 0 || qj == Wi - 1)) break;
                const int base_x = fx == 0 ? qj : -qj;
                const int kx_hi = warp_floor_div(tx_hi - base_x, per_x);
                for (int kx = warp_ceil_div(tx_lo - base_x, per_x); kx <= kx_hi; kx++) {
                    const int mx = base_x + kx * per_x;
                    // Output pixels whose sample lies within the open square around (mx, my).
                    const float cj = b0 * (float) mx + b1 * (float) my + b2;
                    const float ci = b3 * (float) mx + b4 * (float) my + b5;
                    const int j_lo = max(0, (int) floor(cj - ej) - 1), j_hi = min(Wo - 1, (int) ceil(cj + ej) + 1);
                    const int i_lo = max(0, (int) floor(ci - ei) - 1), i_hi = min(Ho - 1, (int) ceil(ci + ei) + 1);
                    for (int i = i_lo; i <= i_hi; i++) {
                        for (int j = j_lo; j <= j_hi; j++) {
                            const float sx = a0 * (float) j + a1 * (float) i + a2;
                            const float sy = a3 * (float) j + a4 * (float) i + a5;
                            const float wx = 1.0f - fabs(sx - (float) mx), wy = 1.0f - fabs(sy - (float) my);
                            if (wx > 0.0f && wy > 0.0f) acc += wx * wy * dyc[i * Wo + j];
                        }
                    }
                }
            }
        }
    }
    __global float* dxc = dx + (size_t) c * Hi * Wi;
    dxc[q] = accumulate ? dxc[q] + acc : acc;
}
