// peak.cl: the device's attainable peak, measured rather than guessed (DevicePeak).
//   fma_peak   many independent FMA chains per work-item on vector types: FLOP/s bound.
//   copy4      float4 copy: memory-bandwidth bound.

// Vector width of each chain: 8 fills an AVX2 register, GPUs split it into scalars.
#ifndef PEAK_WIDTH
#define PEAK_WIDTH 8
#endif
// Independent chains per work-item: enough to hide FMA latency (latency x pipes), few enough not to spill.
#ifndef PEAK_CHAINS
#define PEAK_CHAINS 8
#endif

#define PEAK_CAT2(a, b) a##b
#define PEAK_CAT(a, b) PEAK_CAT2(a, b)
#define VFLOAT PEAK_CAT(float, PEAK_WIDTH)

// Each chain k of work-item g runs x <- fma(x, mul, add) `iterations` times from
// x0 = (g % 1024) / 1024 + k / PEAK_CHAINS + lane / (PEAK_CHAINS * PEAK_WIDTH),
// and out[g] = sum over chains and lanes of the final x. mul and add are arguments so the
// compiler cannot fold the loop; the sum keeps every chain alive.
// Flops per work-item: 2 * iterations * PEAK_CHAINS * PEAK_WIDTH.
__kernel void fma_peak(__global float* out,   // [n]
                       const int n,
                       const int iterations,
                       const float mul,
                       const float add) {
    const int g = get_global_id(0);
    if (g >= n) {
        return;
    }
    const VFLOAT m = (VFLOAT)(mul);
    const VFLOAT a = (VFLOAT)(add);
    const float base = (float)(g % 1024) / 1024.0f;
    float lanes[PEAK_WIDTH];
    for (int l = 0; l < PEAK_WIDTH; l++) {
        lanes[l] = (float)l / (float)(PEAK_CHAINS * PEAK_WIDTH);
    }
    VFLOAT lane = PEAK_CAT(vload, PEAK_WIDTH)(0, lanes);
    VFLOAT x[PEAK_CHAINS];
#pragma unroll
    for (int k = 0; k < PEAK_CHAINS; k++) {
        x[k] = (VFLOAT)(base + (float)k / (float)PEAK_CHAINS) + lane;
    }
    for (int it = 0; it < iterations; it++) {
#pragma unroll
        for (int k = 0; k < PEAK_CHAINS; k++) {
            x[k] = fma(x[k], m, a);
        }
    }
    VFLOAT s = x[0];
#pragma unroll
    for (int k = 1; k < PEAK_CHAINS; k++) {
        s += x[k];
    }
    PEAK_CAT(vstore, PEAK_WIDTH)(s, 0, lanes);
    float total = 0.0f;
    for (int l = 0; l < PEAK_WIDTH; l++) {
        total += lanes[l];
    }
    out[g] = total;
}

// dst[i] = src[i] for i < n4 (float4 elements); reads n4*16 bytes and writes as many.
__kernel void copy4(__global const float4* src,   // [n4] float4
                    __global float4* dst,         // [n4] float4
                    const int n4) {
    const int i = get_global_id(0);
    if (i < n4) {
        dst[i] = src[i];
    }
}
