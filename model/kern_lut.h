/* kern_lut.h — palettized weights. The LUT is decoded into fp32 weights once, when the kernel is
 * attached (or the file loaded), and the layer then runs the dense fp32 kernel (conv_forward) on
 * that cached decoded copy: decode-then-GEMM with the decode hoisted out of inference, so its
 * speed is the dense kernel's. Decoding in every call instead (kern_lut_decode, AVX-512 vpermps
 * for LUTs of up to 16 entries) only adds its time: tests/bench/bench_lut_decode measures it per
 * ResNet50 layer against the layer's GEMM. The kind names the layer's form for the cost model. */
#ifndef RN_KERN_LUT_H
#define RN_KERN_LUT_H

#include "kern.h"

#include <stdint.h>

/* w [OC, K]: the decoded weights (kept by pointer, like bias). NULL when out of memory. */
struct conv_kernel *kern_lut_new(const struct conv_desc *d, const float *w, const float *bias);

/* out[i] = table[idx[i]] for n indices of n_bits bits (one per byte); vectorized (a 16-entry
 * table in one register) for n_bits <= 4 when the CPU has AVX-512. */
void kern_lut_decode(const uint8_t *idx, int64_t n, const float *table, int n_bits, float *out);

#endif
