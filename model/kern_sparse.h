/* kern_sparse.h — unstructured-sparse fp32 weights x dense activations, as a convolution.
 *
 * Each output channel keeps only its nonzero weights, packed as (value, input channel, tap)
 * in k order. In the CNHW layout a nonzero w[oc, ic, tap] of a stride-1 "same" conv adds
 * w * (channel ic's [N, H, W] plane shifted by the tap's offset) to output row oc: the AVX-512
 * kernel broadcasts the value and FMAs a 64-pixel strip of that shifted plane (masked at image
 * borders) into 4 accumulators that stay in registers over the whole row of nonzeros, so only
 * nonzeros cost work and nothing is gathered. A stride-2 conv whose taps read at most one row
 * and column past the output grid (3x3 pad 1, 1x1 pad 0) first splits its input into the 2x2
 * phase planes x[2r + a, 2c + b] (IC x 4 planes of the output's size, fewer values than im2col)
 * and then reads them shifted the same way. Other convs (the 7x7 stem) im2col first and run the
 * same loop with one tap. The portable path im2cols every conv and adds value x row. Bias,
 * residual, ReLU and, in an 8-bit network, the output's fake quantization (fuses_out_q) are
 * fused into the store. */
#ifndef RN_KERN_SPARSE_H
#define RN_KERN_SPARSE_H

#include "kern.h"

#include <stdint.h>

/* Builds the kernel of conv d at input size H x W from w [OC, K] (fp32, the decoded weights)
 * keeping weights where mask[i] != 0 (mask NULL: where w != 0). kind is KERN_SPARSE or
 * KERN_SPARSE_LUT (the same kernel; the name says where the values came from). bias [OC] is
 * kept by pointer. NULL when out of memory. */
struct conv_kernel *kern_sparse_new(const struct conv_desc *d, int H, int W, const float *w, const uint8_t *mask,
                                    const float *bias, enum kern_kind kind);

/* Fraction of zero weights of [n] with mask (or w != 0 when mask is NULL). */
double kern_sparsity(const float *w, const uint8_t *mask, int64_t n);

#endif
