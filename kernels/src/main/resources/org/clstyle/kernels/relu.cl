// relu.cl: rectified linear unit, forward and backward, elementwise over n floats.

// y = max(x, 0); y may alias x (in place). NaN stays NaN, as in PyTorch.
__kernel void relu_forward(__global const float* x,  // [n]
                           __global float* y,        // [n]
                           const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) {
        const float v = x[k];
        y[k] = v < 0.0f ? 0.0f : v;
    }
}

// dx = dy where the forward output y > 0, else 0 (a select, so garbage in dy cannot leak through
// as NaN * 0); dx may alias dy.
__kernel void relu_backward(__global const float* y,   // [n] forward output
                            __global const float* dy,  // [n]
                            __global float* dx,        // [n]
                            const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) {
        dx[k] = y[k] > 0.0f ? dy[k] : 0.0f;
    }
}
