/* ops_backward.c — the backward passes needed to train a ResNet: convolution (im2col + OpenBLAS
 * sgemm for dw, w^T*dy + col2im for dx; plain GEMMs for 1x1 stride-1 convs) with a direct-loop
 * reference, training-mode BatchNorm forward and backward, ReLU, max-pool, global average pool,
 * fully connected, and the softmax cross-entropy loss with label smoothing. Optimiser steps and
 * the network-level backward driver live elsewhere. */
#include "ops_backward.h"
#include "status.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void col2im(const struct conv_desc *d, const float *col, int N, int H, int W, int n0, int n, float *dx)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t cols = (int64_t)n * OH * OW;
    const int s = d->stride, p = d->pad;

    /* One input channel per iteration: all col rows of channel ic scatter into dx row ic only, so
     * threads never write the same memory and no atomics are needed. */
    #pragma omp parallel for schedule(static)
    for (int ic = 0; ic < d->IC; ic++)
        for (int kh = 0; kh < d->KH; kh++)
            for (int kw = 0; kw < d->KW; kw++) {
                const float *src = col + (((int64_t)ic * d->KH + kh) * d->KW + kw) * cols;
                /* Output columns whose input column iw = ow*s - p + kw lies inside [0, W). */
                int lo = 0, hi = OW;
                while (lo < OW && lo * s - p + kw < 0) lo++;
                while (hi > lo && (hi - 1) * s - p + kw >= W) hi--;
                for (int i = 0; i < n; i++) {
                    float *plane = dx + ((int64_t)ic * N + n0 + i) * H * W;
                    for (int oh = 0; oh < OH; oh++, src += OW) {
                        const int ih = oh * s - p + kh;
                        if (ih < 0 || ih >= H) continue;
                        float *row = plane + (int64_t)ih * W - p + kw;
                        if (s == 1) {
                            for (int ow = lo; ow < hi; ow++) row[ow] += src[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) row[ow * s] += src[ow];
                        }
                    }
                }
            }
}

void conv_backward(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                   const float *dy, float *dw, float *dx, float *scratch, int64_t scratch_floats)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t K = conv_k(d);
    const int64_t ohw = (int64_t)OH * OW;
    const int64_t len = (int64_t)N * ohw;   /* columns of dy: [OC, N*OH*OW] */

    if (conv_is_pointwise(d)) {
        /* x is already the GEMM's right-hand matrix [IC, len]: dw = dy x^T, dx = w^T dy. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->OC, d->IC, (int)len, 1.0f, dy, (int)len,
                    x, (int)len, 0.0f, dw, d->IC);
        if (dx)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d->IC, (int)len, d->OC, 1.0f, w, d->IC,
                        dy, (int)len, 0.0f, dx, (int)len);
        return;
    }

    RN_ASSERT(scratch_floats >= K * ohw);
    int chunk = (int)(scratch_floats / (K * ohw));
    if (chunk > N) chunk = N;
    if (dx) {
        /* col2im adds, so start from zero. */
        const int64_t plane = (int64_t)N * H * W;
        #pragma omp parallel for schedule(static)
        for (int ic = 0; ic < d->IC; ic++) memset(dx + ic * plane, 0, sizeof(float) * plane);
    }
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        const int64_t cols = (int64_t)n * ohw;
        const float *dyc = dy + n0 * ohw;   /* [OC, cols], row stride len */
        im2col(d, x, N, H, W, n0, n, scratch);   /* scratch: col [K, cols] */
        /* dw [OC, K] (+)= dy [OC, cols] * col^T [cols, K]; the first chunk overwrites. */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, d->OC, (int)K, (int)cols, 1.0f, dyc, (int)len,
                    scratch, (int)cols, n0 == 0 ? 0.0f : 1.0f, dw, (int)K);
        if (!dx) continue;
        /* The columns are no longer needed: reuse the scratch for dcol [K, cols] = w^T [K, OC] * dy. */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)cols, d->OC, 1.0f, w, (int)K, dyc,
                    (int)len, 0.0f, scratch, (int)cols);
        col2im(d, scratch, N, H, W, n0, n, dx);
    }
}

void conv_backward_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                       const float *dy, float *dw, float *dx)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int s = d->stride, p = d->pad;

    /* dw[oc, ic, kh, kw] = sum over n, oh, ow of dy[oc, n, oh, ow] * x[ic, n, oh*s-p+kh, ow*s-p+kw]. */
    for (int oc = 0; oc < d->OC; oc++)
        for (int ic = 0; ic < d->IC; ic++)
            for (int kh = 0; kh < d->KH; kh++)
                for (int kw = 0; kw < d->KW; kw++) {
                    double acc = 0.0;
                    for (int n = 0; n < N; n++)
                        for (int oh = 0; oh < OH; oh++)
                            for (int ow = 0; ow < OW; ow++) {
                                const int ih = oh * s - p + kh, iw = ow * s - p + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)dy[(((int64_t)oc * N + n) * OH + oh) * OW + ow] *
                                       x[(((int64_t)ic * N + n) * H + ih) * W + iw];
                            }
                    dw[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw] = (float)acc;
                }
    if (!dx) return;
    /* dx gathers from every output position whose window covers (ih, iw): oh*s = ih + p - kh. */
    for (int ic = 0; ic < d->IC; ic++)
        for (int n = 0; n < N; n++)
            for (int ih = 0; ih < H; ih++)
                for (int iw = 0; iw < W; iw++) {
                    double acc = 0.0;
                    for (int oc = 0; oc < d->OC; oc++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                const int th = ih + p - kh, tw = iw + p - kw;
                                if (th < 0 || tw < 0 || th % s || tw % s) continue;
                                const int oh = th / s, ow = tw / s;
                                if (oh >= OH || ow >= OW) continue;
                                acc += (double)w[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw] *
                                       dy[(((int64_t)oc * N + n) * OH + oh) * OW + ow];
                            }
                    dx[(((int64_t)ic * N + n) * H + ih) * W + iw] = (float)acc;
                }
}

/* Row reductions in double with eight independent accumulators: a single double accumulator is
 * latency-bound (one add every ~4 cycles), while eight lanes let the compiler vectorise the
 * float-to-double widening and the adds without reassociating anything. */
#define BN_LANES 8

static double row_sum(const float *x, int64_t L)
{
    double a[BN_LANES] = {0};
    int64_t i = 0;
    for (; i + BN_LANES <= L; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) a[j] += (double)x[i + j];
    double s = 0.0;
    for (; i < L; i++) s += (double)x[i];
    for (int j = 0; j < BN_LANES; j++) s += a[j];
    return s;
}

/* sum (x - m)^2: the two-pass variance, exact enough even when |mean| >> std, which the one-pass
 * E[x^2] - mean^2 is not. */
static double row_sqdev(const float *x, int64_t L, float m)
{
    double a[BN_LANES] = {0};
    int64_t i = 0;
    for (; i + BN_LANES <= L; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            const double t = (double)(x[i + j] - m);
            a[j] += t * t;
        }
    double s = 0.0;
    for (; i < L; i++) {
        const double t = (double)(x[i] - m);
        s += t * t;
    }
    for (int j = 0; j < BN_LANES; j++) s += a[j];
    return s;
}

/* sum dy and sum dy*(x - m), both needed by the BatchNorm backward, in one pass. */
static void row_dy_sums(const float *x, const float *dy, int64_t L, float m, double *sum_dy, double *sum_dyx)
{
    double a[BN_LANES] = {0}, b[BN_LANES] = {0};
    int64_t i = 0;
    for (; i + BN_LANES <= L; i += BN_LANES)
        for (int j = 0; j < BN_LANES; j++) {
            a[j] += (double)dy[i + j];
            b[j] += (double)dy[i + j] * (double)(x[i + j] - m);
        }
    double sa = 0.0, sb = 0.0;
    for (; i < L; i++) {
        sa += (double)dy[i];
        sb += (double)dy[i] * (double)(x[i] - m);
    }
    for (int j = 0; j < BN_LANES; j++) {
        sa += a[j];
        sb += b[j];
    }
    *sum_dy = sa;
    *sum_dyx = sb;
}

void bn_train_forward(const float *x, int C, int64_t L, const float *gamma, const float *beta, float eps,
                      float momentum, float *running_mean, float *running_var, float *y, float *mean,
                      float *invstd)
{
    RN_ASSERT(L >= 1);
    /* PyTorch stores the unbiased variance in running_var; with one value per channel it refuses
     * to train, we fall back to the biased one rather than divide by zero. */
    const double unbias = L > 1 ? (double)L / (double)(L - 1) : 1.0;
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xr = x + (int64_t)c * L;
        float *yr = y + (int64_t)c * L;
        const double m = row_sum(xr, L) / (double)L;
        const double var = row_sqdev(xr, L, (float)m) / (double)L;
        const double is = 1.0 / sqrt(var + (double)eps);
        mean[c] = (float)m;
        invstd[c] = (float)is;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * var * unbias);
        /* y = scale*x + shift with the affine parameters folded in: one multiply-add per value. */
        const float scale = (float)(gamma[c] * is);
        const float shift = (float)(beta[c] - m * gamma[c] * is);
        for (int64_t i = 0; i < L; i++) yr[i] = xr[i] * scale + shift;
    }
}

void bn_backward(const float *x, const float *dy, int C, int64_t L, const float *gamma, const float *mean,
                 const float *invstd, float *dx, float *dgamma, float *dbeta)
{
    #pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xr = x + (int64_t)c * L, *dyr = dy + (int64_t)c * L;
        float *dxr = dx + (int64_t)c * L;
        const float m = mean[c];
        const double is = invstd[c];
        double sum_dy, sum_dyx;
        row_dy_sums(xr, dyr, L, m, &sum_dy, &sum_dyx);
        dbeta[c] = (float)sum_dy;
        dgamma[c] = (float)(sum_dyx * is);
        /* With xhat = (x - mean)*invstd:
         *   dx = gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat))
         *      = a*dy + b*(x - mean) + c0, folded so each value costs two multiply-adds. dx may
         * alias dy: every element is read before it is written, index by index. */
        const double g = gamma[c] * is;
        const float a = (float)g;
        const float b = (float)(-g * is * is * sum_dyx / (double)L);
        const float c0 = (float)(-g * sum_dy / (double)L);
        for (int64_t i = 0; i < L; i++) dxr[i] = a * dyr[i] + b * (xr[i] - m) + c0;
    }
}

void relu_backward(const float *y, float *dy, int64_t n)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void maxpool_backward(const float *dy, const int32_t *argmax, int C, int N, int OHW, int HW, float *dx)
{
    #pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < (int64_t)C * N; plane++) {
        float *dst = dx + plane * HW;
        const float *src = dy + plane * OHW;
        const int32_t *am = argmax + plane * OHW;
        memset(dst, 0, sizeof(float) * HW);
        for (int j = 0; j < OHW; j++) {
            RN_ASSERT(am[j] >= 0 && am[j] < HW);
            dst[am[j]] += src[j];
        }
    }
}

void avgpool_backward(const float *dy, int C, int N, int HW, float *dx)
{
    const float inv = 1.0f / (float)HW;
    #pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < (int64_t)C * N; plane++) {
        const float g = dy[plane] * inv;
        float *dst = dx + plane * HW;
        for (int i = 0; i < HW; i++) dst[i] = g;
    }
}

void fc_backward(const float *x, int C, int N, const float *w, int OUT, const float *dy, float *dw, float *db,
                 float *dx)
{
    /* y[n, o] = sum_c x[c, n] w[o, c] + b[o], so dw [OUT, C] = dy^T [OUT, N] * x^T [N, C]. */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, OUT, C, N, 1.0f, dy, OUT, x, N, 0.0f, dw, C);
    if (db)
        for (int o = 0; o < OUT; o++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++) acc += dy[(int64_t)n * OUT + o];
            db[o] = (float)acc;
        }
    /* dx [C, N] = w^T [C, OUT] * dy^T [OUT, N]. */
    if (dx) cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, C, N, OUT, 1.0f, w, C, dy, OUT, 0.0f, dx, N);
}

double softmax_xent(const float *logits, int N, int K, const int64_t *labels, float smoothing, float *dlogits,
                    int64_t *correct)
{
    RN_ASSERT(N > 0 && K > 0);
    const double off = (double)smoothing / K;   /* target mass on every class */
    const double on = 1.0 - smoothing + off;    /* ... and on the label */
    double total = 0.0;
    int64_t hits = 0;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (int64_t)n * K;
        const int64_t label = labels[n];
        RN_ASSERT(label >= 0 && label < K);
        int best = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[best]) best = k;
        hits += best == label;
        /* Shift by the row maximum so exp never overflows; log-sum-exp in double. */
        const double zmax = z[best];
        double se = 0.0, sz = 0.0;
        for (int k = 0; k < K; k++) {
            se += exp((double)z[k] - zmax);
            sz += (double)z[k] - zmax;
        }
        const double lse = log(se);
        /* -sum_k t_k log p_k with log p_k = z_k - zmax - lse and sum_k t_k = 1. */
        const double logp_label = (double)z[label] - zmax - lse;
        total += -(1.0 - smoothing) * logp_label - off * (sz - K * lse);
        if (dlogits) {
            float *g = dlogits + (int64_t)n * K;
            for (int k = 0; k < K; k++) {
                const double pk = exp((double)z[k] - zmax) / se;
                g[k] = (float)((pk - (k == label ? on : off)) / N);
            }
        }
    }
    if (correct) *correct += hits;
    return total / N;
}
