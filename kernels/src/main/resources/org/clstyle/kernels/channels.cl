// channels.cl: copies of channel blocks between [N, C, P] tensors (P = H*W), for channel
// concatenation (each input into its block of the output) and its backward (each block of dy out to
// its input's gradient).

// dst[b, dstOffset + c, p] = src[b, srcOffset + c, p] for c < count. global: [n * count * plane]
__kernel void channel_copy(__global const float* src,  // [N, srcChannels, P]
                           int srcChannels, int srcOffset,
                           __global float* dst,        // [N, dstChannels, P]
                           int dstChannels, int dstOffset,
                           int n, int count, int plane) {
    const size_t e = get_global_id(0);
    const size_t block = (size_t) count * plane;
    if (e >= (size_t) n * block) return;
    const int b = (int) (e / block);
    const size_t rem = e - b * block;
    const int c = (int) (rem / plane);
    const int p = (int) (rem - (size_t) c * plane);
    dst[((size_t) b * dstChannels + dstOffset + c) * plane + p] = src[((size_t) b * srcChannels + srcOffset + c) * plane + p];
}

// Elements per work-item of channel_copy_chunks (a multiple of 8).
#ifndef COPY_CHUNK
#define COPY_CHUNK 4096
#endif

// The same copy for CPU devices: each image's block of count channels is one contiguous run of
// count * plane floats on both sides, walked in COPY_CHUNK pieces with float8 steps.
// global: [ceil(count * plane / COPY_CHUNK), n]
__kernel void channel_copy_chunks(__global const float* src,  // [N, srcChannels, P]
                                  int srcChannels, int srcOffset,
                                  __global float* dst,        // [N, dstChannels, P]
                                  int dstChannels, int dstOffset,
                                  int n, int count, int plane) {
    const size_t start = get_global_id(0) * (size_t) COPY_CHUNK, block = (size_t) count * plane;
    const int b = get_global_id(1);
    if (start >= block || b >= n) return;
    const int len = (int) min((size_t) COPY_CHUNK, block - start);
    __global const float* s = src + ((size_t) b * srcChannels + srcOffset) * plane + start;
    __global float* d = dst + ((size_t) b * dstChannels + dstOffset) * plane + start;
    int k = 0;
    for (; k + 8 <= len; k += 8) vstore8(vload8(0, s + k), 0, d + k);
    for (; k < len; k++) d[k] = s[k];
}
