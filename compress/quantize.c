/* quantize.c — int8 weight quantization per output channel, activation range observers and
 * per-tensor fake quantization (see quantize.h). Rounding is to nearest, ties away from zero
 * (C's lrintf with the default mode rounds ties to even; we use roundf, as PyTorch's
 * torch.round does not but fbgemm's requantization does — the int8 kernels must use the same). */
#include "quantize.h"

#include "half.h"
#include "status.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static float fp16_round(float x) { return half_to_f32(half_from_f32(x)); }

int quantize_weights_int8(const float *w, int64_t OC, int64_t K, int symmetric, const uint8_t *mask,
                          struct compressed_weight *cw)
{
    cw->OC = OC;
    cw->K = K;
    cw->q = malloc((size_t)(OC * K));
    cw->q_scale = malloc(sizeof(uint16_t) * OC);
    cw->q_zero = symmetric ? NULL : malloc((size_t)OC);
    if (!cw->dense) cw->dense = malloc(sizeof(float) * OC * K);
    if (!cw->q || !cw->q_scale || (!symmetric && !cw->q_zero) || !cw->dense)
        return status_error(STATUS_NOMEM, "out of memory quantizing a [%lld, %lld] weight", (long long)OC, (long long)K);
    for (int64_t oc = 0; oc < OC; oc++) {
        const float *row = w + oc * K;
        const uint8_t *mrow = mask ? mask + oc * K : NULL;
        float lo = 0.0f, hi = 0.0f;   /* the range always includes 0 */
        for (int64_t k = 0; k < K; k++) {
            const float v = mrow && !mrow[k] ? 0.0f : row[k];
            lo = fminf(lo, v);
            hi = fmaxf(hi, v);
        }
        float s;
        int32_t zp = 0, qlo = -127, qhi = 127;
        if (symmetric) {
            s = fp16_round(fmaxf(-lo, hi) / 127.0f);
        } else {
            s = fp16_round((hi - lo) / 255.0f);
            qlo = -128;
            if (s > 0) {
                zp = (int32_t)roundf(-128.0f - lo / s);
                zp = zp < -128 ? -128 : (zp > 127 ? 127 : zp);
            }
            cw->q_zero[oc] = (int8_t)zp;
        }
        cw->q_scale[oc] = half_from_f32(s);
        for (int64_t k = 0; k < K; k++) {
            int32_t q = 0;
            if (s > 0 && !(mrow && !mrow[k])) {
                q = (int32_t)roundf(row[k] / s) + zp;
                q = q < qlo ? qlo : (q > qhi ? qhi : q);
            } else {
                q = zp;   /* zeros and pruned weights decode to exactly 0 */
            }
            cw->q[oc * K + k] = (int8_t)q;
            cw->dense[oc * K + k] = s * (float)(q - zp);
        }
    }
    return STATUS_OK;
}

void act_observer_init(struct act_observer *o, enum quant_observer kind)
{
    o->kind = kind;
    o->seen = 0;
    o->min = 0.0f;
    o->max = 0.0f;
}

void act_observer_update(struct act_observer *o, const float *x, int64_t n)
{
    if (n <= 0) return;
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int64_t i = 0; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (!o->seen || o->kind == QUANT_MIN_MAX) {
        o->min = o->seen ? fminf(o->min, lo) : lo;
        o->max = o->seen ? fmaxf(o->max, hi) : hi;
    } else {
        const float c = 0.01f;   /* PyTorch's averaging_constant */
        o->min += c * (lo - o->min);
        o->max += c * (hi - o->max);
    }
    o->seen = 1;
}

void act_qparams_from_observer(const struct act_observer *o, int symmetric, struct act_qparams *p)
{
    const float lo = fminf(o->min, 0.0f), hi = fmaxf(o->max, 0.0f);
    if (symmetric) {
        p->scale = fmaxf(-lo, hi) / 127.0f;
        p->zero_point = 0;
        p->qmin = -127;
        p->qmax = 127;
    } else {
        p->scale = (hi - lo) / 255.0f;
        p->zero_point = p->scale > 0 ? (int32_t)roundf(-lo / p->scale) : 0;
        if (p->zero_point > 255) p->zero_point = 255;
        p->qmin = 0;
        p->qmax = 255;
    }
}

void act_fake_quant(float *x, int64_t n, const struct act_qparams *p)
{
    if (!(p->scale > 0)) {
        memset(x, 0, sizeof(float) * (size_t)n);
        return;
    }
    const float inv = 1.0f / p->scale;
    const float lo = (float)p->qmin, hi = (float)p->qmax, zp = (float)p->zero_point;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float q = roundf(x[i] * inv) + zp;
        q = q < lo ? lo : (q > hi ? hi : q);
        x[i] = p->scale * (q - zp);
    }
}

int act_quant_alloc(int n_sites, enum quant_observer kind, int symmetric, struct act_quant **out)
{
    struct act_quant *aq = calloc(1, sizeof *aq);
    if (aq) {
        aq->obs = calloc((size_t)n_sites, sizeof *aq->obs);
        aq->qp = calloc((size_t)n_sites, sizeof *aq->qp);
    }
    if (!aq || !aq->obs || !aq->qp) {
        act_quant_free(aq);
        *out = NULL;
        return status_error(STATUS_NOMEM, "out of memory for activation quantization");
    }
    aq->n_sites = n_sites;
    aq->calibrating = 1;
    aq->symmetric = symmetric;
    for (int i = 0; i < n_sites; i++) act_observer_init(&aq->obs[i], kind);
    *out = aq;
    return STATUS_OK;
}

void act_quant_free(struct act_quant *aq)
{
    if (!aq) return;
    free(aq->obs);
    free(aq->qp);
    free(aq);
}

void act_quant_finish_calibration(struct act_quant *aq)
{
    for (int i = 0; i < aq->n_sites; i++) act_qparams_from_observer(&aq->obs[i], aq->symmetric, &aq->qp[i]);
    aq->calibrating = 0;
}

void act_quant_hook(void *ctx, int site, float *x, int64_t n)
{
    struct act_quant *aq = ctx;
    RN_ASSERT(site >= 0 && site < aq->n_sites);
    if (aq->calibrating)
        act_observer_update(&aq->obs[site], x, n);
    else
        act_fake_quant(x, n, &aq->qp[site]);
}
