// noise.cl: uniform noise from a counter-based hash: element k of a fill gets
// splitmix64(seed + (offset + k + 1) * golden) (Steele, Lea, Flood 2014), its top 24 bits as
// u in [0, 1), then lo + (hi - lo) * u. Each element depends on (seed, offset + k) alone, so a fill
// is reproducible on any device and work-group shape, and the Java twin (NoiseReference) gives the
// same bits. Contraction is off so that lo + (hi - lo) * u rounds exactly as in Java.
#pragma OPENCL FP_CONTRACT OFF

// x[k] = lo + (hi - lo) * u(seed, offset + k). seed = seedHi << 32 | seedLo (unsigned halves).
__kernel void uniform_fill(__global float* x,  // [n]
                           const uint seedLo, const uint seedHi, const int offset,
                           const float lo, const float hi, const int n) {
    const int k = get_global_id(0);
    if (k >= n) return;
    ulong z = (((ulong) seedHi << 32) | (ulong) seedLo) + (ulong) ((long) offset + k + 1) * 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z = z ^ (z >> 31);
    const float u = (float) (uint) (z >> 40) * (1.0f / 16777216.0f);
    x[k] = lo + (hi - lo) * u;
}
