// relu.cl: rectified linear unit, forward and backward, elementwise over n floats.

// y = max(x, 0); y may alias x (in place). NaN stays NaN, as in PyTorch. x and y are activations
// (ACT_T: half storage with ACT_HALF=1).
__kernel void relu_forward(__global const ACT_T* x,  // [n]
                           __global ACT_T* y,        // [n]
                           const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) {
        const float v = LOAD_ACT(x, k);
        STORE_ACT(y, k, v < 0.0f ? 0.0f : v);
    }
}

// dx = dy where the forward output y > 0, else 0 (a select, so garbage in dy cannot leak through
// as NaN * 0); dx may alias dy. y is an activation (ACT_T), dy and dx are float.
__kernel void relu_backward(__global const ACT_T* y,   // [n] forward output
                            __global const float* dy,  // [n]
                            __global float* dx,        // [n]
                            const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) {
        dx[k] = LOAD_ACT(y, k) > 0.0f ? dy[k] : 0.0f;
    }
}

// Chunked forms, for CPU devices (Relu.Variant.CHUNKS): work-item k covers elements
// [k * RELU_CHUNK, (k + 1) * RELU_CHUNK) with float8 loads and stores and a scalar tail. PoCL turns
// the per-element kernels above into masked code at a third to a half of copy speed (measured: see
// Relu); this form streams. Same selects, so the same results bit for bit; in place is safe (each
// element is read before it is written, by the same work-item).

// Elements per work-item, a multiple of 8 (trades work-item count against per-item overhead).
#ifndef RELU_CHUNK
#define RELU_CHUNK 2048
#endif

// global: [ceil(n / RELU_CHUNK)]
__kernel void relu_forward_chunks(__global const float* x,  // [n]
                                  __global float* y,        // [n]
                                  const int n) {
    const long start = (long) get_global_id(0) * RELU_CHUNK;
    if (start >= n) return;
    const int len = (int) min((long) RELU_CHUNK, n - start);
    __global const float* p = x + start;
    __global float* q = y + start;
    int k = 0;
    for (; k + 8 <= len; k += 8) {
        const float8 v = vload8(0, p + k);
        vstore8(select(v, (float8) 0.0f, v < 0.0f), 0, q + k);
    }
    for (; k < len; k++) {
        const float v = p[k];
        q[k] = v < 0.0f ? 0.0f : v;
    }
}

// global: [ceil(n / RELU_CHUNK)]
__kernel void relu_backward_chunks(__global const float* y,   // [n] forward output
                                   __global const float* dy,  // [n]
                                   __global float* dx,        // [n]
                                   const int n) {
    const long start = (long) get_global_id(0) * RELU_CHUNK;
    if (start >= n) return;
    const int len = (int) min((long) RELU_CHUNK, n - start);
    __global const float* py = y + start;
    __global const float* pg = dy + start;
    __global float* q = dx + start;
    int k = 0;
    for (; k + 8 <= len; k += 8) {
        const float8 v = vload8(0, py + k);
        vstore8(select((float8) 0.0f, vload8(0, pg + k), v > 0.0f), 0, q + k);
    }
    for (; k < len; k++) {
        q[k] = py[k] > 0.0f ? pg[k] : 0.0f;
    }
}
