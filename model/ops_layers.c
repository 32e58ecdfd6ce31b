/* ops_layers.c — the small layers around the convolutions: max-pool, global average pool, fully
 * connected, BatchNorm folding, layout conversion and the thread setting. Each with a plain
 * reference where the fast form differs from it. */
#include "ops.h"

#include "conv_direct.h"
#include "status.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <unistd.h>

/* Declared by OpenBLAS's cblas.h on Debian, repeated here to not depend on that header's version. */
void openblas_set_num_threads(int num_threads);

static int ops_n_threads = 0, ops_default_threads = 0;

void ops_set_default_threads(int n) { ops_default_threads = n > 0 ? n : 0; }

int ops_set_threads(int n)
{
    if (n <= 0) n = ops_default_threads;
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    ops_n_threads = n;
    openblas_set_num_threads(n);
    omp_set_num_threads(n);
    return n;
}

int ops_threads(void) { return ops_n_threads ? ops_n_threads : ops_set_threads(0); }

void maxpool_forward(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y, int32_t *argmax)
{
    const int OH = conv_out_size(H, k, s, p), OW = conv_out_size(W, k, s, p);
    #pragma omp parallel for schedule(static)
    for (int64_t plane = 0; plane < (int64_t)C * N; plane++) {
        const float *src = x + plane * H * W;
        float *dst = y + plane * OH * OW;
        int32_t *am = argmax ? argmax + plane * OH * OW : NULL;
        for (int oh = 0; oh < OH; oh++)
            for (int ow = 0; ow < OW; ow++) {
                float best = -FLT_MAX;
                int32_t where = -1;
                for (int kh = 0; kh < k; kh++) {
                    const int ih = oh * s - p + kh;
                    if (ih < 0 || ih >= H) continue;
                    for (int kw = 0; kw < k; kw++) {
                        const int iw = ow * s - p + kw;
                        if (iw < 0 || iw >= W) continue;
                        const float v = src[ih * W + iw];
                        if (v > best || where < 0) { best = v; where = ih * W + iw; }
                    }
                }
                dst[oh * OW + ow] = best;
                if (am) am[oh * OW + ow] = where;
            }
    }
}

void maxpool_forward_ref(const float *x, int C, int N, int H, int W, int k, int s, int p, float *y)
{
    const int OH = conv_out_size(H, k, s, p), OW = conv_out_size(W, k, s, p);
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    float best = -INFINITY;
                    for (int ih = oh * s - p; ih < oh * s - p + k; ih++)
                        for (int iw = ow * s - p; iw < ow * s - p + k; iw++)
                            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                best = fmaxf(best, x[(((int64_t)c * N + n) * H + ih) * W + iw]);
                    y[(((int64_t)c * N + n) * OH + oh) * OW + ow] = best;
                }
}

void avgpool_forward(const float *x, int C, int N, int HW, float *y)
{
    const float inv = 1.0f / (float)HW;
    /* Small inputs (ResNet50's at batch 1: 100k values) on the calling thread: waking the
     * OpenMP team costs more, and its spinning threads then compete with pool.c's. */
    #pragma omp parallel for schedule(static) if ((int64_t)C * N * HW > ((int64_t)1 << 20))
    for (int64_t plane = 0; plane < (int64_t)C * N; plane++) {
        const float *src = x + plane * HW;
        float acc = 0.0f;
        for (int i = 0; i < HW; i++) acc += src[i];
        y[plane] = acc * inv;
    }
}

void avgpool_forward_ref(const float *x, int C, int N, int HW, float *y)
{
    for (int64_t plane = 0; plane < (int64_t)C * N; plane++) {
        double acc = 0.0;
        for (int i = 0; i < HW; i++) acc += x[plane * HW + i];
        y[plane] = (float)(acc / HW);
    }
}

void fc_forward(const float *x, int C, int N, const float *w, const float *b, int OUT, float *y)
{
    /* On the direct path the logits, too, are the same bits on every x86 CPU and for any batch
     * (conv_direct.h): w[OUT, C] times x[C, N] as a 1x1 convolution, then transposed. */
    if (conv_direct_available()) {
        /* Tiles of the [OUT, N] product through a stack buffer, transposed into y as they come:
         * no allocation (inference cannot fail half-way), and every element is still the same
         * chain of fmas over C, so the tiling changes no bit. */
        enum { FC_TILE = 4096 };
        float t[FC_TILE];
        const int rows = OUT < FC_TILE ? OUT : FC_TILE, cols = FC_TILE / rows;
        for (int o0 = 0; o0 < OUT; o0 += rows) {
            const int m = OUT - o0 < rows ? OUT - o0 : rows;
            for (int n0 = 0; n0 < N; n0 += cols) {
                const int k = N - n0 < cols ? N - n0 : cols;
                conv_direct_gemm(m, C, 1, 1, 0, 1, 1, k, w + (int64_t)o0 * C, x + n0, N, b ? b + o0 : NULL, NULL, 0, t, k);
                for (int n = 0; n < k; n++)
                    for (int o = 0; o < m; o++) y[(int64_t)(n0 + n) * OUT + o0 + o] = t[o * k + n];
            }
        }
        return;
    }
    /* y[N, OUT] = x^T[N, C] * w^T[C, OUT] */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasTrans, N, OUT, C, 1.0f, x, N, w, C, 0.0f, y, OUT);
    if (b)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) y[(int64_t)n * OUT + o] += b[o];
}

void fc_forward_ref(const float *x, int C, int N, const float *w, const float *b, int OUT, float *y)
{
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double acc = b ? b[o] : 0.0;
            for (int c = 0; c < C; c++) acc += (double)x[(int64_t)c * N + n] * w[(int64_t)o * C + c];
            y[(int64_t)n * OUT + o] = (float)acc;
        }
}

void bn_fold(int OC, int64_t K, const float *w, const float *gamma, const float *beta, const float *mean,
             const float *var, float eps, float *w_out, float *b_out)
{
    for (int oc = 0; oc < OC; oc++) {
        /* In double: var + eps can be tiny and the product is then sensitive to rounding. */
        const double g = gamma[oc] / sqrt((double)var[oc] + eps);
        for (int64_t k = 0; k < K; k++) w_out[oc * K + k] = (float)(w[oc * K + k] * g);
        b_out[oc] = (float)(beta[oc] - mean[oc] * g);
    }
}

void layout_nchw_to_cnhw(const float *x, int N, int C, int64_t HW, float *y)
{
    /* As avgpool_forward: small copies (a 224x224 image: 150k values) on the calling thread. */
    #pragma omp parallel for schedule(static) if ((int64_t)N * C * HW > ((int64_t)1 << 20))
    for (int c = 0; c < C; c++)
        for (int n = 0; n < N; n++)
            for (int64_t i = 0; i < HW; i++) y[((int64_t)c * N + n) * HW + i] = x[((int64_t)n * C + c) * HW + i];
}

void layout_cnhw_to_nchw(const float *x, int N, int C, int64_t HW, float *y)
{
    #pragma omp parallel for schedule(static) if ((int64_t)N * C * HW > ((int64_t)1 << 20))
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int64_t i = 0; i < HW; i++) y[((int64_t)n * C + c) * HW + i] = x[((int64_t)c * N + n) * HW + i];
}
