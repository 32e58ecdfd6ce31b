/* ops.h — the layers of the ResNet engine, fast and reference versions.
 *
 * Activations use the CNHW layout, [C, N, H, W]: every channel is one contiguous row of N*H*W
 * values. A convolution over a whole batch is then one GEMM, out[OC, N*OH*OW] = W[OC, K] x
 * col[K, N*OH*OW] (K = IC*KH*KW), a 1x1 stride-1 convolution needs no im2col at all, and
 * per-channel work (bias, BatchNorm) runs over contiguous rows. For N = 1 the layout is NCHW.
 * Public tensors (inputs, logits) are NCHW / [N, classes]; layout_* converts at the edges.
 *
 * Every fast kernel has a plain `_ref` twin beside it; tests compare them. */
#ifndef RN_OPS_H
#define RN_OPS_H

#include <stddef.h>
#include <stdint.h>

struct conv_desc {
    int IC, OC, KH, KW, stride, pad;
};

static inline int conv_out_size(int in, int k, int stride, int pad) { return (in + 2 * pad - k) / stride + 1; }
static inline int64_t conv_k(const struct conv_desc *d) { return (int64_t)d->IC * d->KH * d->KW; }
/* True when the convolution is a plain GEMM on its input (no im2col). */
static inline int conv_is_pointwise(const struct conv_desc *d)
{
    return d->KH == 1 && d->KW == 1 && d->stride == 1 && d->pad == 0;
}

/* Scratch floats conv_forward needs for im2col with `cols_max` columns per chunk (K * cols_max,
 * rounded up to whole 64-column panels for the direct path's panel layout). */
int64_t conv_scratch_floats(const struct conv_desc *d, int64_t cols_max);

/* Convolution, CNHW. x [IC, N, H, W] -> y [OC, N, OH, OW]; w [OC, IC, KH, KW] (= [OC, K]).
 * bias [OC] or NULL; residual [OC, N, OH, OW] or NULL is added after the bias; relu != 0 clamps
 * at zero last. The batch is processed in chunks of images whose im2col fits in `scratch`
 * (scratch_floats >= conv_scratch_floats(d, OH*OW), i.e. one image at least). */
void conv_forward(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                  const float *bias, const float *residual, int relu, float *y, float *scratch,
                  int64_t scratch_floats);
void conv_forward_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                      const float *bias, const float *residual, int relu, float *y);

/* im2col for images [n0, n0+n) of x [IC, N, H, W] -> col [K, n*OH*OW]. */
void im2col(const struct conv_desc *d, const float *x, int N, int H, int W, int n0, int n, float *col);

/* Max-pool, CNHW: x [C, N, H, W] -> y [C, N, OH, OW], window k, stride s, padding p (padded
 * cells never win). argmax (may be NULL) receives the index within the image plane of the winner,
 * for the backward pass. */
void maxpool_forward(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y, int32_t *argmax);
void maxpool_forward_ref(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y);

/* Global average pool: x [C, N, HW] -> y [C, N]. */
void avgpool_forward(const float *x, int C, int N, int HW, float *y);
void avgpool_forward_ref(const float *x, int C, int N, int HW, float *y);

/* Fully connected on pooled features: x [C, N] (CNHW with H = W = 1), w [OUT, C], b [OUT]
 * -> y [N, OUT] (row per image, the public logits layout). */
void fc_forward(const float *x, int C, int N, const float *w, const float *b, int OUT, float *y);
void fc_forward_ref(const float *x, int C, int N, const float *w, const float *b, int OUT, float *y);

/* Folds inference BatchNorm into the preceding convolution:
 * w'[oc] = w[oc] * g, b'[oc] = beta[oc] - mean[oc] * g, g = gamma[oc] / sqrt(var[oc] + eps). */
void bn_fold(int OC, int64_t K, const float *w, const float *gamma, const float *beta, const float *mean,
             const float *var, float eps, float *w_out, float *b_out);

/* NCHW <-> CNHW for n images of C channels and HW pixels. */
void layout_nchw_to_cnhw(const float *x, int N, int C, int64_t HW, float *y);
void layout_cnhw_to_nchw(const float *x, int N, int C, int64_t HW, float *y);

/* Threads used by OpenBLAS and the engine's own OpenMP loops. n <= 0 means the default: all
 * cores, or what ops_set_default_threads set (one of several processes on a node: its share).
 * Returns the count in effect. */
int ops_set_threads(int n);
void ops_set_default_threads(int n);   /* n <= 0: all cores again */
int ops_threads(void);

#endif
