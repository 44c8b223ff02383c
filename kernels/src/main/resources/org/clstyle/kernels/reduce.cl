// reduce.cl: deterministic two-stage sum reduction, shared by loss.cl, tv.cl and optim.cl.
//
// Stage 1 (a kernel in the including file): a fixed grid of work-groups; each work-item sums a
// grid-strided run of terms in a private float, then the group folds those sums with a tree in
// local memory (reduce_group_store) and writes one partial per group.
// Stage 2 (reduce_partials, below): one work-group sums the partials the same way and writes
// out[index] = scale * total.
// The order of every addition depends only on the element count, the group count and REDUCE_WG,
// which the host derives from the element count and the device alone, so a result is bit-identical
// from run to run. No atomics (OpenCL 1.2 has none on floats).

#ifndef CLSTYLE_REDUCE_CL
#define CLSTYLE_REDUCE_CL

// Work-items per group for reductions, a power of two; larger trades local memory for fewer partials.
#ifndef REDUCE_WG
#define REDUCE_WG 256
#endif

// (Plain functions, not "inline": C99 inline without a definition elsewhere fails to link on some
// compilers when not inlined.)
// Tree sum in local memory of one value per work-item; work-item 0 stores the group's sum in
// partials[get_group_id(0)]. Every work-item of the group must call it (it has barriers).
void reduce_group_store(float v, __local float* scratch, __global float* partials) {
    const int lid = (int) get_local_id(0);
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            scratch[lid] += scratch[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        partials[get_group_id(0)] = scratch[0];
    }
}

// Stage 2: one work-group of REDUCE_WG work-items sums partials[0 .. count) into
// out[index] = scale * sum.
__kernel __attribute__((reqd_work_group_size(REDUCE_WG, 1, 1)))
void reduce_partials(__global const float* partials,  // [count]
                     const int count,
                     __global float* out,              // [>= index + 1]
                     const int index,
                     const float scale) {
    __local float scratch[REDUCE_WG];
    const int lid = (int) get_local_id(0);
    float acc = 0.0f;
    for (int k = lid; k < count; k += REDUCE_WG) {
        acc += partials[k];
    }
    scratch[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = REDUCE_WG / 2; s > 0; s >>= 1) {
        if (lid < s) {
            scratch[lid] += scratch[lid + s];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) {
        out[index] = scratch[0] * scale;
    }
}

#endif
