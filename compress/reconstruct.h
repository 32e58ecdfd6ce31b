/* reconstruct.h — calibration-data reconstruction of pruned layers (our extension; coremltools'
 * prune_weights is data-free).
 *
 * Magnitude pruning keeps the largest weights and drops the rest as they are; the dropped weights'
 * contribution to the layer's output is lost, and one-shot pruning of many layers compounds those
 * losses (on rn50-fmnist, seven layers at 90 % that each cost under 1 point alone cost 45 points
 * together). Here the mask stays the magnitude mask, but the kept weights and the bias of every
 * output channel are refitted by least squares so that the pruned layer, fed the activations the
 * partly compressed network produces (X^), reproduces the original layer's output on the
 * original network's activations (X):
 *
 *     min over w_S, b'   sum_p ( w . x_p + b  -  w_S . x^_{S,p} - b' )^2  +  damp |w_S|^2
 *
 * for each output channel with kept columns S, solved exactly (normal equations: the Gram matrix
 * accumulated in float by BLAS, the Cholesky solve in double). Fitting against the original network's output rather than the layer's own input
 * also corrects the drift the layers before it introduced. The samples p are patches of the
 * calibration images at fixed output positions (all positions of small maps, a fixed sample of
 * large ones). damp = 1 % of the mean diagonal of X^ X^T (as GPTQ/SparseGPT damp their Hessians)
 * keeps the systems well conditioned when inputs are correlated or dead; a kept weight whose input
 * is zero on every calibration sample is refitted to exactly 0, and the stored form then drops it
 * (the mask can only shrink). The exported coremltools configs cannot express the refit: they
 * set the same mask, and the weights to deploy are those of the compressed model file. */
#ifndef RN_RECONSTRUCT_H
#define RN_RECONSTRUCT_H

#include "compress.h"
#include "data.h"
#include "ops.h"
#include "resnet.h"

#include <stdint.h>

/* Output positions sampled per image: all of them when the map has at most this many. */
#define RECON_POSITIONS_PER_IMAGE 32

/* The patches of image n of a conv input x [C, N, H, W] (CNHW, as the engine's activation sites)
 * at the output positions pos[0..n_pos) (indices oh * OW + ow): out receives [n_pos, K] rows,
 * K = C * KH * KW in the weights' column order (c, kh, kw), zero outside the input (padding). */
void recon_patches(const float *x, int N, int n, int H, int W, const struct conv_desc *d, const int *pos, int n_pos,
                   float *out);

/* The output positions recon_capture samples in image `img` (its index in the calibration set)
 * of a map of ohw outputs: n_pos = min(ohw, RECON_POSITIONS_PER_IMAGE) evenly spaced, shifted per
 * image so that the images together cover the map. */
void recon_positions(int64_t img, int ohw, int n_pos, int *pos);

/* The fit for one layer: w [OC, K] and b [OC] the original weights, y [P, OC] their output on the
 * original activations (w . x_p + b), xh [P, K] the partly compressed network's patches, mask
 * [OC, K] the kept weights (1). Writes the refitted weights (0 where pruned) to w_out and the
 * biases to b_out (either may alias w / b). Returns STATUS_OK or STATUS_NOMEM; a system the
 * Cholesky factorisation cannot take (not positive definite even with the damping) leaves that
 * channel as magnitude pruning made it. */
int recon_fit(const float *w, const float *b, int64_t OC, int64_t K, const float *y, const float *xh, int64_t P,
              const unsigned char *mask, float *w_out, float *b_out);

/* The same fit computed directly from its definition, one channel at a time, for tests:
 * builds the normal equations by plain loops and solves them by Gaussian elimination. */
int recon_fit_ref(const float *w, const float *b, int64_t OC, int64_t K, const float *y, const float *xh, int64_t P,
                  const unsigned char *mask, float *w_out, float *b_out);

/* Collects, for the layers marked in `want` (index conv i, or net->n_conv for fc), the patches
 * of their inputs as the network computes them now on the first n_samples images of calib:
 * patches[i] receives [n_samples * n_pos_i, K_i] (owned by the caller), n_pos[i] their positions
 * per image. The positions are the same for every call with the same network shape (a fixed
 * seed), so patches from two networks pair up sample by sample. */
int recon_capture(struct resnet *net, const struct dataset *calib, int64_t n_samples, const unsigned char *want,
                  float **patches, int *n_pos);

#endif
