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
    for (int i = 0; aq->qw && aq->net && i <= aq->net->n_conv; i++) {
        free(aq->qw[i]);
        free(aq->sw[i]);
    }
    free(aq->qw);
    free(aq->sw);
    free(aq->buf);
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

/* Grows the integer-path scratch to n floats. */
static float *aq_buf(struct act_quant *aq, int64_t n)
{
    if (n > aq->buf_floats) {
        float *p = realloc(aq->buf, sizeof(float) * (size_t)n);
        if (!p) return NULL;
        aq->buf = p;
        aq->buf_floats = n;
    }
    return aq->buf;
}

static int aq_int_conv(void *ctx, int ci, int in_site, const float *x, int N, const float *residual, int relu, float *y)
{
    struct act_quant *aq = ctx;
    if (aq->calibrating || !aq->qw[ci] || in_site < 0) return 0;
    const struct act_qparams *p = &aq->qp[in_site];
    if (!(p->scale > 0)) return 0;
    const struct resnet_conv *c = &aq->net->conv[ci];
    const int64_t n_in = (int64_t)c->d.IC * N * c->H * c->W, ohw = (int64_t)c->OH * c->OW, n_out = c->d.OC * N * ohw;
    const int64_t n_scr = conv_scratch_floats(&c->d, ohw * N);
    float *buf = aq_buf(aq, 2 * n_in + 2 * n_out + (n_scr ? n_scr : 1));
    RN_ASSERT(buf);   /* simulation scratch; a failure here is out of memory in an evaluation loop */
    float *hi = buf, *lo = hi + n_in, *yh = lo + n_in, *yl = yh + n_out, *scr = yl + n_out;
    const float inv = 1.0f / p->scale;
    for (int64_t i = 0; i < n_in; i++) {
        const float v = rintf(x[i] * inv);   /* q - zero point: x holds scale * (q - zp) */
        const float h = floorf(v / 16.0f);
        hi[i] = h;
        lo[i] = v - 16.0f * h;
    }
    conv_forward(&c->d, hi, N, c->H, c->W, aq->qw[ci], NULL, NULL, 0, yh, scr, n_scr);
    conv_forward(&c->d, lo, N, c->H, c->W, aq->qw[ci], NULL, NULL, 0, yl, scr, n_scr);
    for (int oc = 0; oc < c->d.OC; oc++) {
        const float scale = p->scale * aq->sw[ci][oc], b = c->bf[oc];
        for (int64_t j = oc * N * ohw; j < (oc + 1) * N * ohw; j++) {
            const int64_t acc = 16 * (int64_t)yh[j] + (int64_t)yl[j];   /* exact: both are integers */
            float v = (float)acc * scale + b;
            if (residual) v += residual[j];
            y[j] = relu && v < 0.0f ? 0.0f : v;
        }
    }
    return 1;
}

static int aq_int_fc(void *ctx, int in_site, const float *x, int N, float *logits)
{
    struct act_quant *aq = ctx;
    const struct resnet *net = aq->net;
    const int fc = net->n_conv, C = net->features, OUT = net->cfg.n_classes;
    if (aq->calibrating || !aq->qw[fc] || in_site < 0) return 0;
    const struct act_qparams *p = &aq->qp[in_site];
    if (!(p->scale > 0)) return 0;
    const float inv = 1.0f / p->scale, *b = resnet_param_data(net, net->fc_b);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            int64_t acc = 0;
            for (int k = 0; k < C; k++)
                acc += (int64_t)rintf(x[(int64_t)k * N + n] * inv) * (int64_t)aq->qw[fc][(int64_t)o * C + k];
            logits[(int64_t)n * OUT + o] = (float)acc * (p->scale * aq->sw[fc][o]) + b[o];
        }
    return 1;
}

int act_quant_set_int8(struct act_quant *aq, struct resnet *net, int n_layers, const char *const *names,
                       const struct compressed_weight *cw)
{
    aq->net = net;
    aq->qw = calloc((size_t)net->n_conv + 1, sizeof *aq->qw);
    aq->sw = calloc((size_t)net->n_conv + 1, sizeof *aq->sw);
    if (!aq->qw || !aq->sw) return status_error(STATUS_NOMEM, "out of memory for integer layers");
    for (int i = 0; i < n_layers; i++) {
        if (!cw[i].q) continue;
        const int ci = resnet_find_conv(net, names[i]);
        const int idx = ci >= 0 ? ci : net->n_conv;
        const int64_t OC = cw[i].OC, K = cw[i].K;
        /* Each split input part is at most 16 in magnitude, so partial sums stay below
         * 16 * wmax * K, which must be under 2^24 for fp32 to hold them exactly. */
        const int64_t wmax = cw[i].q_zero ? 255 : 127;
        if (ci >= 0 && 16 * wmax * K >= (int64_t)1 << 24)
            return status_error(STATUS_BAD_INPUT, "layer %s: K = %lld is too large for the exact int8 simulation", names[i],
                                (long long)K);
        aq->qw[idx] = malloc(sizeof(float) * OC * K);
        aq->sw[idx] = malloc(sizeof(float) * OC);
        if (!aq->qw[idx] || !aq->sw[idx]) return status_error(STATUS_NOMEM, "out of memory for integer layers");
        for (int64_t o = 0; o < OC; o++) {
            const int zp = cw[i].q_zero ? cw[i].q_zero[o] : 0;
            aq->sw[idx][o] = half_to_f32(cw[i].q_scale[o]);
            for (int64_t k = 0; k < K; k++) aq->qw[idx][o * K + k] = (float)(cw[i].q[o * K + k] - zp);
        }
    }
    net->int_conv = aq_int_conv;
    net->int_fc = aq_int_fc;
    return STATUS_OK;
}
