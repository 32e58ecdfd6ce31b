/* kern_int8.h — the W8A8 convolution kernel: u8 activations x s8 weights accumulated exactly in
 * int32 (AVX-512 VNNI vpdpbusd where the CPU has it, portable C otherwise), with the
 * requantization fused into the epilogue. Semantics are those of compress/quantize.c's
 * simulation: y = float(acc) * (s_x * s_w[oc]) + bias, then residual, ReLU and (optionally) the
 * next site's fake quantization, where acc = sum_k q_w[oc,k] * (q_x[k] - zp_x) exactly.
 *
 * Activations arrive as fp32 tensors that hold quantized values (scale * (q - zp), the kernel
 * path quantizes every activation site) and are turned back into their 8-bit codes while the
 * input is packed: u = q for affine activations ([0, 255]), u = q + 128 for symmetric ones
 * ([-127, 127]); Z is u's code for 0. vpdpbusd then computes sum_k q_w * u, and the constant
 * Z * sum_k q_w[oc,k] (precomputed per output channel) is subtracted. Padding is filled with Z.
 *
 * Layout: 4 input channels of one pixel form one 32-bit lane: the input is packed (and quantized)
 * once as [ceil(IC/4)][pixels][4] codes, k in (channel group, tap) order. Stride-1 "same" convs
 * (1x1, 3x3 pad 1) read each tap as a shifted, masked window of it; other convs (stride 2, the
 * 7x7 stem) first copy those windows into an im2col of dwords, [groups * taps][output pixels].
 * Weights are packed once as [OC][groups * taps] dwords. The register tile is 6 output channels x
 * 64 pixels (24 zmm accumulators, 24 vpdpbusd per 4 loads and 6 broadcasts). */
#ifndef RN_KERN_INT8_H
#define RN_KERN_INT8_H

#include "kern.h"

#include <stdint.h>

/* Builds the kernel of a conv d at input size H x W: q [OC, K] int8 weights (symmetric: zero
 * point 0), w_scale [OC] their scales (as fp32), bias [OC] (kept by pointer), in_q the input
 * site's parameters (copied). Returns NULL when the layer cannot run on it (affine weights,
 * an input scale of 0, out of memory): it then stays on the simulation's path. */
struct conv_kernel *kern_int8_new(const struct conv_desc *d, int H, int W, const int8_t *q, const float *w_scale,
                                  const float *bias, const struct act_qparams *in_q);

/* The plain reference: the same arithmetic as seven loops over q with int64 sums (tests).
 * x, y, residual as conv_forward; out_q may be NULL. */
void kern_int8_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const int8_t *q,
                   const float *w_scale, const float *bias, const struct act_qparams *in_q, const float *residual,
                   int relu, const struct act_qparams *out_q, float *y);

#endif
