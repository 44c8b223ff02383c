// norm.cl: instance and batch normalisation, forward and backward, over x seen as [N, G, P] with
// group g's elements x[b, g, p] for every b and p (P = H*W). Instance norm of [N, C, P] is the view
// N = 1, G = N*C; batch norm is N, G = C. The affine parameters are indexed by g % C.
// stats [G, 3]: mean, 1/sqrt(var + eps), var (biased). Every reduction is one work-group per group,
// a strided run per work-item then a tree in local memory: fixed order, deterministic, no atomics.

// Work-items per group, a power of two (the host lowers it to what the device allows).
#ifndef NORM_WG
#define NORM_WG 256
#endif

// Elements per work-item of norm_apply_chunks (a multiple of 8).
#ifndef NORM_CHUNK
#define NORM_CHUNK 2048
#endif

// The sum of v over the work-group, returned to every work-item (all must call it).
float norm_group_sum(float v, __local float* scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = NORM_WG / 2; s > 0; s >>= 1) {
        if (lid < s) scratch[lid] += scratch[lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Mean and variance of each group, two passes (the second about the mean). global: G * NORM_WG.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void norm_stats(__global const float* x,  // [N, G, P]
                int n, int groups, int plane, float eps,
                __global float* stats) {  // [G, 3]
    __local float scratch[NORM_WG];
    const int g = get_group_id(0), lid = get_local_id(0);
    const float count = (float) n * (float) plane;
    float s = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float* p = x + ((size_t) b * groups + g) * plane;
        for (int k = lid; k < plane; k += NORM_WG) s += p[k];
    }
    const float mean = norm_group_sum(s, scratch) / count;
    float q = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float* p = x + ((size_t) b * groups + g) * plane;
        for (int k = lid; k < plane; k += NORM_WG) {
            float d = p[k] - mean;
            q += d * d;
        }
    }
    const float var = norm_group_sum(q, scratch) / count;
    if (lid == 0) {
        stats[3 * g] = mean;
        stats[3 * g + 1] = 1.0f / sqrt(var + eps);
        stats[3 * g + 2] = var;
    }
}

// y = gamma[c] (x - mean) rstd + beta[c], c = g % C; one work-item per element, global [P, N*G]
// (dimension 1 the plane, so the group's constants are uniform along dimension 0). y may be x.
__kernel void norm_apply(__global const float* x,      // [N, G, P]
                         __global const float* stats,  // [G, 3]
                         __global const float* gamma,  // [C]
                         __global const float* beta,   // [C]
                         __global float* y,            // [N, G, P]
                         int planes, int groups, int plane, int channels) {
    const int k = get_global_id(0), row = get_global_id(1);
    if (k >= plane || row >= planes) return;
    const int g = row % groups, c = g % channels;
    const float mean = stats[3 * g], rstd = stats[3 * g + 1], gm = gamma[c], bt = beta[c];
    const size_t e = (size_t) row * plane + k;
    y[e] = gm * ((x[e] - mean) * rstd) + bt; // about the mean first: no cancellation when |mean| >> std
}

// dx = gamma[c] rstd (dy - mean(dy) - xhat mean(dy xhat)) over each group, and the group's sums of
// dy and dy * xhat in sums [G, 2] for the parameter gradients. global: G * NORM_WG. dx may be dy.
__kernel __attribute__((reqd_work_group_size(NORM_WG, 1, 1)))
void norm_backward(__global const float* x,      // [N, G, P]
                   __global const float* dy,     // [N, G, P]
                   __global const float* stats,  // [G, 3]
                   __global const float* gamma,  // [C]
                   __global float* dx,           // [N, G, P]
                   __global float* sums,         // [G, 2]
                   int n, int groups, int plane, int channels) {
    __local float scratch[NORM_WG];
    const int g = get_group_id(0), lid = get_local_id(0);
    const float mean = stats[3 * g], rstd = stats[3 * g + 1];
    float sd = 0.0f, sdx = 0.0f;
    for (int b = 0; b < n; b++) {
        const size_t off = ((size_t) b * groups + g) * plane;
        for (int k = lid; k < plane; k += NORM_WG) {
            float d = dy[off + k];
            sd += d;
            sdx += d * ((x[off + k] - mean) * rstd);
        }
    }
    const float sumDy = norm_group_sum(sd, scratch);
    const float sumDyXhat = norm_group_sum(sdx, scratch);
    const float count = (float) n * (float) plane;
    const float a = sumDy / count, bq = sumDyXhat / count, scale = gamma[g % channels] * rstd;
    for (int b = 0; b < n; b++) {
        const size_t off = ((size_t) b * groups + g) * plane;
        for (int k = lid; k < plane; k += NORM_WG) {
            float xhat = (x[off + k] - mean) * rstd;
            dx[off + k] = scale * (dy[off + k] - a - xhat * bq);
        }
    }
    if (lid == 0) {
        sums[2 * g] = sumDy;
        sums[2 * g + 1] = sumDyXhat;
    }
}

// dGamma[c] = sum of sums[g, 1], dBeta[c] = sum of sums[g, 0] over g = c, c + C, ... in that order.
__kernel void norm_param_grads(__global const float* sums,  // [G, 2]
                               int groups, int channels,
                               __global float* dGamma,      // [C]
                               __global float* dBeta) {     // [C]
    const int c = get_global_id(0);
    if (c >= channels) return;
    float sg = 0.0f, sb = 0.0f;
    for (int g = c; g < groups; g += channels) {
        sb += sums[2 * g];
        sg += sums[2 * g + 1];
    }
    dGamma[c] = sg;
    dBeta[c] = sb;
}

// PyTorch's running statistics update: mean = (1 - m) mean + m batchMean,
// var = (1 - m) var + m batchVar * count / (count - 1) (unbiased).
__kernel void norm_update_running(__global const float* stats,  // [C, 3]
                                  __global float* runMean,      // [C]
                                  __global float* runVar,       // [C]
                                  int channels, float momentum, float unbias) {
    const int c = get_global_id(0);
    if (c >= channels) return;
    runMean[c] = (1.0f - momentum) * runMean[c] + momentum * stats[3 * c];
    runVar[c] = (1.0f - momentum) * runVar[c] + momentum * (stats[3 * c + 2] * unbias);
}

// stats from the running statistics (inference mode): mean, 1/sqrt(var + eps), var.
__kernel void norm_stats_from_running(__global const float* runMean,  // [C]
                                      __global const float* runVar,   // [C]
                                      float eps, int channels,
                                      __global float* stats) {        // [C, 3]
    const int c = get_global_id(0);
    if (c >= channels) return;
    stats[3 * c] = runMean[c];
    stats[3 * c + 1] = 1.0f / sqrt(runVar[c] + eps);
    stats[3 * c + 2] = runVar[c];
}

// ---- The same passes for CPU devices: one work-item per group (or per chunk of a plane) walking
// contiguous runs with float8 steps, no local memory or barriers (per-element work-items and
// work-group trees run at 2-3 GB/s on PoCL). Sums: 8 lanes, then the lanes, then the scalar tail, in
// that order: deterministic.

float norm_lanes(float8 v) {
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}

// stats as norm_stats, two passes (the second about the mean). global: [G]
__kernel void norm_stats_rows(__global const float* x,  // [N, G, P]
                              int n, int groups, int plane, float eps,
                              __global float* stats) {  // [G, 3]
    const int g = get_global_id(0);
    if (g >= groups) return;
    const float count = (float) n * (float) plane;
    float8 s8 = (float8)(0.0f);
    float s = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float* p = x + ((size_t) b * groups + g) * plane;
        int k = 0;
        for (; k + 8 <= plane; k += 8) s8 += vload8(0, p + k);
        for (; k < plane; k++) s += p[k];
    }
    const float mean = (norm_lanes(s8) + s) / count;
    float8 q8 = (float8)(0.0f);
    float q = 0.0f;
    for (int b = 0; b < n; b++) {
        __global const float* p = x + ((size_t) b * groups + g) * plane;
        int k = 0;
        for (; k + 8 <= plane; k += 8) {
            const float8 d = vload8(0, p + k) - mean;
            q8 = fma(d, d, q8);
        }
        for (; k < plane; k++) {
            const float d = p[k] - mean;
            q += d * d;
        }
    }
    const float var = (norm_lanes(q8) + q) / count;
    stats[3 * g] = mean;
    stats[3 * g + 1] = 1.0f / sqrt(var + eps);
    stats[3 * g + 2] = var;
}

// y as norm_apply. global: [ceil(P / NORM_CHUNK), N*G]. y may be x.
__kernel void norm_apply_chunks(__global const float* x,      // [N, G, P]
                                __global const float* stats,  // [G, 3]
                                __global const float* gamma,  // [C]
                                __global const float* beta,   // [C]
                                __global float* y,            // [N, G, P]
                                int planes, int groups, int plane, int channels) {
    const int start = get_global_id(0) * NORM_CHUNK, row = get_global_id(1);
    if (start >= plane || row >= planes) return;
    const int len = min(NORM_CHUNK, plane - start);
    const int g = row % groups, c = g % channels;
    const float mean = stats[3 * g], rstd = stats[3 * g + 1], gm = gamma[c], bt = beta[c];
    __global const float* p = x + (size_t) row * plane + start;
    __global float* q = y + (size_t) row * plane + start;
    int k = 0;
    for (; k + 8 <= len; k += 8) vstore8(gm * ((vload8(0, p + k) - mean) * rstd) + bt, 0, q + k);
    for (; k < len; k++) q[k] = gm * ((p[k] - mean) * rstd) + bt;
}

// dx and sums as norm_backward. global: [G]. dx may be dy.
__kernel void norm_backward_rows(__global const float* x,      // [N, G, P]
                                 __global const float* dy,     // [N, G, P]
                                 __global const float* stats,  // [G, 3]
                                 __global const float* gamma,  // [C]
                                 __global float* dx,           // [N, G, P]
                                 __global float* sums,         // [G, 2]
                                 int n, int groups, int plane, int channels) {
    const int g = get_global_id(0);
    if (g >= groups) return;
    const float mean = stats[3 * g], rstd = stats[3 * g + 1];
    float8 sd8 = (float8)(0.0f), sdx8 = (float8)(0.0f);
    float sd = 0.0f, sdx = 0.0f;
    for (int b = 0; b < n; b++) {
        const size_t off = ((size_t) b * groups + g) * plane;
        int k = 0;
        for (; k + 8 <= plane; k += 8) {
            const float8 d = vload8(0, dy + off + k);
            sd8 += d;
            sdx8 = fma(d, (vload8(0, x + off + k) - mean) * rstd, sdx8);
        }
        for (; k < plane; k++) {
            const float d = dy[off + k];
            sd += d;
            sdx += d * ((x[off + k] - mean) * rstd);
        }
    }
    const float sumDy = norm_lanes(sd8) + sd, sumDyXhat = norm_lanes(sdx8) + sdx;
    const float count = (float) n * (float) plane;
    const float a = sumDy / count, bq = sumDyXhat / count, scale = gamma[g % channels] * rstd;
    for (int b = 0; b < n; b++) {
        const size_t off = ((size_t) b * groups + g) * plane;
        int k = 0;
        for (; k + 8 <= plane; k += 8) {
            const float8 xhat = (vload8(0, x + off + k) - mean) * rstd;
            vstore8(scale * (vload8(0, dy + off + k) - a - xhat * bq), 0, dx + off + k);
        }
        for (; k < plane; k++) {
            const float xhat = (x[off + k] - mean) * rstd;
            dx[off + k] = scale * (dy[off + k] - a - xhat * bq);
        }
    }
    sums[2 * g] = sumDy;
    sums[2 * g + 1] = sumDyXhat;
}
