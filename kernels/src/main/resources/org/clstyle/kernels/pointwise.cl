// pointwise.cl: elementwise ops of the generator networks over n floats: LeakyReLU, scaled tanh,
// scaling, sums. Outputs may alias inputs (each element is read before it is written by the same
// work-item).

// y = x > 0 ? x : slope * x (PyTorch's LeakyReLU).
__kernel void leaky_relu_forward(__global const float* x,  // [n]
                                 __global float* y,        // [n]
                                 const float slope, const int n) {
    const int k = get_global_id(0);
    if (k < n) {
        const float v = x[k];
        y[k] = v > 0.0f ? v : v * slope;
    }
}

// dx = dy where the forward's input (or, for slope > 0, its output: same sign) is > 0, else slope * dy.
__kernel void leaky_relu_backward(__global const float* y,   // [n] forward input or output
                                  __global const float* dy,  // [n]
                                  __global float* dx,        // [n]
                                  const float slope, const int n) {
    const int k = get_global_id(0);
    if (k < n) {
        const float g = dy[k];
        dx[k] = y[k] > 0.0f ? g : g * slope;
    }
}

// y = scale * tanh(x)
__kernel void tanh_forward(__global const float* x,  // [n]
                           __global float* y,        // [n]
                           const float scale, const int n) {
    const int k = get_global_id(0);
    if (k < n) y[k] = scale * tanh(x[k]);
}

// dx = dy * scale * (1 - t^2) with t = y / scale, y the forward output.
__kernel void tanh_backward(__global const float* y,   // [n] forward output
                            __global const float* dy,  // [n]
                            __global float* dx,        // [n]
                            const float scale, const int n) {
    const int k = get_global_id(0);
    if (k < n) {
        const float t = y[k] / scale;
        dx[k] = dy[k] * (scale * (1.0f - t * t));
    }
}

// y = a * x
__kernel void scale(__global const float* x,  // [n]
                    __global float* y,        // [n]
                    const float a, const int n) {
    const int k = get_global_id(0);
    if (k < n) y[k] = a * x[k];
}

// y = a + b
__kernel void add(__global const float* a,  // [n]
                  __global const float* b,  // [n]
                  __global float* y,        // [n]
                  const int n) {
    const int k = get_global_id(0);
    if (k < n) y[k] = a[k] + b[k];
}
