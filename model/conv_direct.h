/* conv_direct.h — internal: the direct convolution behind conv_forward (see conv_direct.c), on
 * AVX-512 or AVX2 + FMA with bit-identical results.
 * Not part of the public API; tests include it to compare the fast and portable paths. */
#ifndef RN_CONV_DIRECT_H
#define RN_CONV_DIRECT_H

#include "ops.h"

#include <stdint.h>

/* 1 when kern.c allows AVX-512 or AVX2 + FMA (the CPU, RN_NO_AVX512, kern_force_portable) and
 * the choice is not forced off, so conv_forward takes the direct path. An output's bits do not
 * depend on the batch, the thread count or which of the two instruction sets runs it. */
int conv_direct_available(void);
/* Forces the choice (1: direct where the CPU allows, 0: the portable im2col + OpenBLAS path, whose
 * results may change with the batch and the thread count);
 * -1 goes back to the CPU / environment default. For tests and side-by-side benchmarks. */
void conv_direct_force(int mode);

/* True when conv_direct_forward handles d without any im2col: stride 1 and "same" padding
 * (2 * pad == KH - 1 == KW - 1), which covers 1x1 pointwise and 3x3 pad 1 convolutions. */
int conv_direct_same(const struct conv_desc *d);

/* y[OC, cols] = relu?(A[OC, IC*ntap] x B + bias + residual), where tap t of channel ic reads
 * the input plane x + ic*ldb shifted by the tap's offset in the [N, H, W] grid, zero outside the
 * image: a stride-1 "same" convolution of x [IC, N, H, W] with KH x KW taps and padding pad.
 * A 1x1 kernel (KH = KW = 1, pad 0) makes it a plain GEMM over rows of B with stride ldb, which is
 * how im2col'd columns are consumed (then H*W*N may be any cols, with H = 1, W = cols, N = 1).
 * y and residual rows have stride ldc. Requires conv_direct_available(). */
void conv_direct_gemm(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                      const float *x, int64_t ldb, const float *bias, const float *residual, int relu,
                      float *y, int64_t ldc);

/* The panel layout of im2col'd columns that conv_direct_gemm_panels reads: column block cb (64
 * columns) of all K rows is one contiguous [K, 64] panel, so a tile streams consecutive
 * 256-byte rows instead of rows a whole plane apart (a 112x112 stem plane is 49 KiB, and rows at
 * that stride share a quarter of the L1 sets). col [ceil(cols / 64), K, 64] with cols = n*OH*OW,
 * conv_direct_panel_floats(K, cols) floats; columns past cols in the last panel are zero.
 * Plain C, so it exists on every target; only the GEMM needs AVX. */
#define CONV_DIRECT_PANEL 64   /* columns per panel, the column block of the kernel */
int64_t conv_direct_panel_floats(int64_t K, int64_t cols);
void conv_direct_im2col(const struct conv_desc *d, const float *x, int N, int H, int W, int n0, int n, float *col);
/* conv_direct_gemm on panels: y[OC, cols] = relu?(A[OC, K] x col + bias + residual), with the
 * same FMA order per output (so the same bits) as conv_direct_gemm on the plain im2col rows. */
void conv_direct_gemm_panels(int OC, int K, int cols, const float *A, const float *panels, const float *bias,
                             const float *residual, int relu, float *y, int64_t ldc);

#endif
