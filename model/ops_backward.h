/* ops_backward.h — backward passes of the ResNet layers, for training (CNHW layout, see ops.h).
 *
 * Conventions: "OVERWRITTEN" outputs are fully written (their previous contents are ignored);
 * "adds" means +=. Every gradient is of a scalar loss L with respect to the named tensor. None of
 * these functions allocates; convolution takes the same scratch as conv_forward. Shapes are
 * written next to every argument. */
#ifndef RN_OPS_BACKWARD_H
#define RN_OPS_BACKWARD_H

#include "ops.h"

#include <stdint.h>

/* The adjoint of im2col: adds col [K, n*OH*OW] (the columns of images n0..n0+n) into
 * dx [IC, N, H, W]. Columns that im2col filled from padding are dropped. */
void col2im(const struct conv_desc *d, const float *col, int N, int H, int W, int n0, int n, float *dx);

/* Convolution backward (no bias: a BatchNorm follows every conv). x [IC, N, H, W] is the forward
 * input, w [OC, K] (K = IC*KH*KW) the weights, dy [OC, N, OH, OW] the output gradient.
 * dw [OC, K] is OVERWRITTEN; dx [IC, N, H, W] is OVERWRITTEN unless NULL (the first layer needs no
 * input gradient). scratch holds scratch_floats >= conv_scratch_floats(d, OH*OW) floats (one
 * image's im2col; unused for pointwise convs, where it may be NULL); the batch is processed in
 * chunks of as many images as fit. */
void conv_backward(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                   const float *dy, float *dw, float *dx, float *scratch, int64_t scratch_floats);
/* Direct loops with double accumulation; same contract (dx may be NULL). */
void conv_backward_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                       const float *dy, float *dw, float *dx);

/* BatchNorm in training mode over x [C, L] (L = N*H*W values per channel row):
 * y = gamma*(x - mean)*invstd + beta with the batch mean and biased variance, invstd =
 * 1/sqrt(var + eps). Writes y [C, L], mean [C] and invstd [C] (saved for bn_backward) and updates
 * running_mean/running_var [C] as PyTorch does: r = (1 - momentum)*r + momentum*batch, with the
 * unbiased variance var*L/(L-1) for running_var (for L == 1 the biased one; PyTorch refuses L == 1).
 * y may alias x only if the caller no longer needs x (bn_backward does). */
void bn_train_forward(const float *x, int C, int64_t L, const float *gamma, const float *beta, float eps,
                      float momentum, float *running_mean, float *running_var, float *y, float *mean,
                      float *invstd);
/* BatchNorm backward. x [C, L] the BN input saved from forward, dy [C, L], gamma/mean/invstd [C].
 * dx [C, L] (may alias dy), dgamma [C] and dbeta [C] are OVERWRITTEN. */
void bn_backward(const float *x, const float *dy, int C, int64_t L, const float *gamma, const float *mean,
                 const float *invstd, float *dx, float *dgamma, float *dbeta);

/* ReLU backward in place: dy[i] = y[i] > 0 ? dy[i] : 0, y [n] the ReLU output. */
void relu_backward(const float *y, float *dy, int64_t n);

/* Max-pool backward. dy [C, N, OHW], argmax [C, N, OHW] as saved by maxpool_forward (index within
 * the H*W plane); dx [C, N, HW] OVERWRITTEN (overlapping windows add). */
void maxpool_backward(const float *dy, const int32_t *argmax, int C, int N, int OHW, int HW, float *dx);

/* Global average pool backward: dy [C, N] -> dx [C, N, HW] OVERWRITTEN with dy/HW. */
void avgpool_backward(const float *dy, int C, int N, int HW, float *dx);

/* Fully connected backward. x [C, N] the forward input, w [OUT, C], dy [N, OUT].
 * dw [OUT, C], db [OUT] and dx [C, N] OVERWRITTEN; db and dx may be NULL. */
void fc_backward(const float *x, int C, int N, const float *w, int OUT, const float *dy, float *dw, float *db,
                 float *dx);

/* Mean softmax cross-entropy over N rows of logits [N, K] with labels [N] in [0, K) and label
 * smoothing eps (target = (1-eps)*onehot + eps/K, as torch.nn.CrossEntropyLoss(label_smoothing=eps)).
 * Returns the mean loss. dlogits [N, K] (may be NULL) is OVERWRITTEN with d(mean loss)/dlogits.
 * If correct is not NULL, adds the number of rows whose first maximal logit is the label. */
double softmax_xent(const float *logits, int N, int K, const int64_t *labels, float smoothing, float *dlogits,
                    int64_t *correct);

#endif
