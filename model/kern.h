/* kern.h — the compressed-weight kernels a conv (or the fc layer) can run on instead of the dense
 * fp32 path, chosen when a compressed network is built (compress/kern_attach.c) and run by
 * resnet_infer. Each kind has a portable C reference beside its SIMD version; the SIMD version is
 * picked at run time from the CPU's features (kern_cpu_*), never at compile time.
 *
 * Kinds and names: see resnet_conv_kernel_name in resnet.h. The kernels: kern_int8.h (W8A8,
 * AVX-512 VNNI / AVX2 / C), kern_sparse.h (sparse fp32, AVX-512 / C), kern_lut.h (palettized:
 * decoded once, then the dense kernel), kern_pool.h (the inference max-pool). With 8-bit
 * activations the engine quantizes every activation site itself on the kernel path
 * (resnet.site_q): int8 kernels requantize their output in their epilogue, the residual add,
 * ReLU and the next block's quantization are one pass (kern_fq), and activations travel between
 * layers as fp32 values that are exactly their quantized levels (scale * (q - zero point)); an
 * int8 kernel turns its input back into 8-bit codes while packing it. */
#ifndef RN_KERN_H
#define RN_KERN_H

#include "ops.h"

#include <stdint.h>

/* Per-tensor 8-bit activation quantization: q = clamp(round(x / scale) + zero_point, qmin, qmax),
 * round = C's roundf (ties away from zero); x' = scale * (q - zero_point). Affine: [0, 255];
 * symmetric: [-127, 127] with zero point 0. (compress/quantize.h computes these from observers.) */
struct act_qparams {
    float scale;
    int32_t zero_point;
    int32_t qmin, qmax;
};

enum kern_kind { KERN_DENSE, KERN_LUT, KERN_SPARSE, KERN_SPARSE_LUT, KERN_INT8, KERN_KIND_COUNT };
const char *kern_kind_name(enum kern_kind k);

/* A layer's kernel, built for one conv (or the fc layer as a 1x1 conv on [C, N, 1, 1]).
 * forward computes y = relu?(conv(x) + bias + residual) in the CNHW layout like conv_forward
 * (x [IC, N, H, W] -> y [OC, N, OH, OW]). out_q (passed only when fuses_out_q) asks the kernel to
 * fake-quantize its output with it as the last step: the requantization of an int8 engine.
 * scratch holds scratch_floats floats, at least scratch_per_image(k, OH*OW) (one image); the
 * kernel works through the batch in chunks that fit. */
struct conv_kernel {
    enum kern_kind kind;
    int fuses_out_q;
    struct conv_desc d;
    const float *bias;          /* [OC], the layer's (not owned) */
    void (*forward)(const struct conv_kernel *k, const float *x, int N, int H, int W, const float *residual,
                    int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats);
    int64_t (*scratch_per_image)(const struct conv_kernel *k, int64_t ohw);
    void (*free)(struct conv_kernel *k);
};

/* 1 when the CPU has AVX-512F+BW+VL / AVX-512 VNNI / AVX2+FMA and RN_NO_AVX512 is not set (to
 * anything but "0"; it leaves AVX2). kern_force_portable(1) turns all of them off (plain C), (2)
 * leaves only AVX2 (what an AVX2-only CPU runs), (0) restores the CPU's choice; for tests and
 * side-by-side runs. The one place that decides which instruction set our kernels use (the
 * direct convolution of conv_direct.c asks here too). */
int kern_cpu_avx512(void);
int kern_cpu_vnni(void);
int kern_cpu_avx2(void);
void kern_force_portable(int mode);

/* y[i] = fq(relu?(a[i] + (b ? b[i] : 0))) with fq the fake quantization of q (NULL: none), over n
 * values; a and y may alias. The residual add of an int8 engine and the activation quantization
 * of the kernel path. Vectorized; kern_fq_ref is its reference. */
void kern_fq(const float *a, const float *b, int relu, const struct act_qparams *q, float *y, int64_t n);
void kern_fq_ref(const float *a, const float *b, int relu, const struct act_qparams *q, float *y, int64_t n);

#endif
