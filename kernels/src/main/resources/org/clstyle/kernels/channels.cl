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
