/* kern_lut.h — palettized weights. The LUT is decoded into fp32 weights once, when the kernel is
 * attached (or the file loaded), and the layer then runs the dense fp32 kernel (conv_forward) on
 * that cached decoded copy: decode-then-GEMM with the decode hoisted out of inference. Decoding
 * inside every call was measured slower on this machine for every ResNet50 layer shape (the
 * decoded weights stay in its cache either way; see tests/bench/kernels.sh), so the kind
 * exists to name the layer's form for the cost model, not for a different inner loop. */
#ifndef RN_KERN_LUT_H
#define RN_KERN_LUT_H

#include "kern.h"

/* w [OC, K]: the decoded weights (kept by pointer, like bias). NULL when out of memory. */
struct conv_kernel *kern_lut_new(const struct conv_desc *d, const float *w, const float *bias);

#endif
