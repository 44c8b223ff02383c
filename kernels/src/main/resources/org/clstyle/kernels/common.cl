// common.cl: prepended to every kernel family's source by the host (KernelSource).
// Shapes are row-major, float32: a [C, H, W] tensor stores x[c][i][j] at (c*H + i)*W + j.

#ifndef CLSTYLE_COMMON_CL
#define CLSTYLE_COMMON_CL

// Index of element (c, i, j) of a [C, H, W] tensor.
#define IDX3(c, i, j, H, W) (((c) * (H) + (i)) * (W) + (j))

#endif
