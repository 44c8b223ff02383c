// common.cl: prepended to every kernel family's source by the host (KernelSource).
// Shapes are row-major, float32 (or half storage, below): a [C, H, W] tensor stores x[c][i][j] at (c*H + i)*W + j.

#ifndef CLSTYLE_COMMON_CL
#define CLSTYLE_COMMON_CL

// Index of element (c, i, j) of a [C, H, W] tensor.
#define IDX3(c, i, j, H, W) (((c) * (H) + (i)) * (W) + (j))

// Storage of the network's activations: float, or IEEE half when the host builds a program with
// ACT_HALF=1 (ClBuffer.isHalf; the kernels that take ACT_T arguments say so). Arithmetic stays float:
// LOAD_ACT widens, STORE_ACT rounds to nearest even. vload_half and vstore_half_rte are core OpenCL
// (1.0 on): storing half needs no cl_khr_fp16, so every device can run these programs.
#ifndef ACT_HALF
#define ACT_HALF 0
#endif
#if ACT_HALF
#define ACT_T half
#define LOAD_ACT(p, i) vload_half((i), (p))
#define STORE_ACT(p, i, v) vstore_half_rte((v), (i), (p))
#else
#define ACT_T float
#define LOAD_ACT(p, i) ((p)[i])
#define STORE_ACT(p, i, v) ((p)[i] = (v))
#endif

#endif
