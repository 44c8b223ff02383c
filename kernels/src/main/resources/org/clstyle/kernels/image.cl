// image.cl: per-channel affine maps of images [C, H, W] (RGB/BGR swap, scaling, mean/std
// normalisation as one op), scaling and clamping.

// y[c] = x[perm[c]] * mul[c] + add[c]. params [3, C] holds perm (as exact small floats), mul, add.
// global: [HW, C]. y must not alias x unless perm is the identity (the host checks).
__kernel void channel_affine(__global const float* x,       // [C, H, W]
                             __global float* y,             // [C, H, W]
                             __global const float* params,  // [3, C]
                             const int C, const int HW) {
    const int p = (int) get_global_id(0), c = (int) get_global_id(1);
    if (p >= HW || c >= C) return;
    const int src = (int) params[c];
    y[c * HW + p] = x[src * HW + p] * params[C + c] + params[2 * C + c];
}

// dx[perm[c]] = dy[c] * mul[c]: the adjoint of channel_affine (perm is a permutation, so every dx
// element is written once). global: [HW, C].
__kernel void channel_affine_backward(__global const float* dy,     // [C, H, W]
                                      __global float* dx,           // [C, H, W]
                                      __global const float* params, // [3, C]
                                      const int C, const int HW) {
    const int p = (int) get_global_id(0), c = (int) get_global_id(1);
    if (p >= HW || c >= C) return;
    const int dst = (int) params[c];
    dx[dst * HW + p] = dy[c * HW + p] * params[C + c];
}

// y = x * s over n elements; y may alias x.
__kernel void scale_copy(__global const float* x,  // [n]
                         __global float* y,        // [n]
                         const float s, const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) y[k] = x[k] * s;
}

// x = min(max(x, lo), hi) in place; NaN stays NaN, as torch.clamp.
__kernel void clamp_in_place(__global float* x,  // [n]
                             const float lo, const float hi, const int n) {
    const int k = (int) get_global_id(0);
    if (k >= n) return;
    const float v = x[k];
    x[k] = v < lo ? lo : (v > hi ? hi : v);
}
