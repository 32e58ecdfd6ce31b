/* quantize.h — linear 8-bit quantization (coremltools' LinearQuantizer semantics, SPEC §3):
 * int8 weights per output channel with fp16 scales, and per-tensor 8-bit activations whose
 * ranges come from observers run over calibration images. The engine calls the activation part
 * at every conv/linear input and at the residual adds (model/resnet.c); this file holds the
 * arithmetic only, so that the int8 kernels of the latency issue can share it. */
#ifndef RN_QUANTIZE_H
#define RN_QUANTIZE_H

#include "compress.h"
#include "resnet.h"

#include <stdint.h>

/* Quantizes w [OC, K] to int8 per output channel into cw (q, q_scale, q_zero, dense).
 * symmetric: q = clamp(round(w / s), -127, 127), s = max|w_row| / 127 rounded to fp16;
 * affine: s = (max - min) / 255 over the row's range widened to include 0, zero point
 * zp = clamp(round(-128 - min / s), -128, 127), q = clamp(round(w / s) + zp, -128, 127).
 * A row of zeros has scale 0 and decodes to zeros. mask (may be NULL) zeroes pruned weights
 * first, and they stay exactly 0. cw->dense receives s * (q - zp). */
int quantize_weights_int8(const float *w, int64_t OC, int64_t K, int symmetric, const uint8_t *mask,
                          struct compressed_weight *cw);

/* Range observer for one activation tensor (PyTorch's MinMaxObserver and
 * MovingAverageMinMaxObserver with averaging constant 0.01). */
struct act_observer {
    enum quant_observer kind;
    int seen;
    float min, max;
};
void act_observer_init(struct act_observer *o, enum quant_observer kind);
void act_observer_update(struct act_observer *o, const float *x, int64_t n);

/* Per-tensor 8-bit parameters (struct act_qparams, model/kern.h) from an observed range: affine
 * uint8 [0, 255] over the range widened to include 0 (so post-ReLU tensors get zero point 0 and
 * use all 256 levels), or symmetric int8 [-127, 127] around 0. */
void act_qparams_from_observer(const struct act_observer *o, int symmetric, struct act_qparams *p);

/* x <- scale * (clamp(round(x / scale) + zp, qmin, qmax) - zp), in place; scale 0 gives zeros. */
void act_fake_quant(float *x, int64_t n, const struct act_qparams *p);

/* Activation quantization over the engine's activation sites (model/resnet.h act_hook): first
 * observe calibration passes, then fake-quantize every site with the frozen parameters. */
struct act_quant {
    int n_sites;
    int calibrating;            /* 1: observe; 0: quantize */
    int symmetric;
    struct act_observer *obs;   /* [n_sites] */
    struct act_qparams *qp;     /* [n_sites] */
    /* Integer layers (act_quant_set_int8): per conv (and fc at index n_conv) the int8 weights
     * minus their zero point as floats [OC, K] and the weight scales [OC], NULL for float layers. */
    const struct resnet *net;
    float **qw, **sw;
    float *buf;                 /* scratch of the integer convolutions */
    int64_t buf_floats;
};
int act_quant_alloc(int n_sites, enum quant_observer kind, int symmetric, struct act_quant **out);
void act_quant_free(struct act_quant *aq);
/* Freezes the observed ranges into quantization parameters and switches to quantizing. */
void act_quant_finish_calibration(struct act_quant *aq);
/* The hook: resnet.act_hook = act_quant_hook, resnet.act_ctx = aq. */
void act_quant_hook(void *ctx, int site, float *x, int64_t n);

/* Makes the layers whose weights are int8 in cw (cw[i] for the layer named names[i]) compute as an
 * int8 kernel does: the input's integers (q - zero point) times the int8 weights accumulated
 * exactly (as int32), then y = float(acc) * (s_x * s_w[oc]) + bias, then residual and ReLU. The
 * accumulation runs as two fp32 convolutions on the input split as 16*hi + lo, each exact because
 * every partial sum stays below 2^24 (|lo*w|, |hi*w| <= 16*255 and K <= 4096 for affine weights,
 * K <= 8192 for symmetric ones; larger K is refused). Sets net->int_conv / int_fc. */
int act_quant_set_int8(struct act_quant *aq, struct resnet *net, int n_layers, const char *const *names,
                       const struct compressed_weight *cw);

#endif
