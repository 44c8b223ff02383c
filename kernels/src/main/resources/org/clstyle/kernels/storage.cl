// storage.cl: conversions between float32 tensors and tensors stored as IEEE half (ClBuffer.isHalf),
// n elements each: into half rounds to nearest even (overflow gives infinity, NaN stays NaN), out of
// half is exact. vload_half/vstore_half_rte are core OpenCL: no cl_khr_fp16 needed.

// global: [n]
__kernel void float_to_half(__global const float* x,  // [n]
                            __global half* y,         // [n]
                            const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) vstore_half_rte(x[k], k, y);
}

// global: [n]
__kernel void half_to_float(__global const half* x,  // [n]
                            __global float* y,       // [n]
                            const int n) {
    const int k = (int) get_global_id(0);
    if (k < n) y[k] = vload_half(k, x);
}
