/* ops_conv.c — 2-D convolution in the CNHW layout (see ops.h): im2col + OpenBLAS sgemm, with
 * bias, residual add and ReLU fused into one pass over the output, and the direct seven-loop
 * reference. 1x1 stride-1 unpadded convolutions skip im2col: their input already is the GEMM's
 * right-hand matrix. torchvision's downsample convs are 1x1 with stride 2, so they take the
 * im2col path, which for them is a plain subsampling copy.
 *
 * On CPUs with AVX-512, conv_forward hands the work to conv_direct.c instead: stride-1 "same"
 * convolutions (1x1, 3x3 pad 1) run as a direct convolution with no im2col, the others as its
 * GEMM on im2col'd chunks; both fuse the epilogue. The OpenBLAS path below is the portable one. */
#include "conv_direct.h"
#include "ops.h"
#include "pool.h"
#include "status.h"

#include <cblas.h>
#include <string.h>

int64_t conv_scratch_floats(const struct conv_desc *d, int64_t cols_max)
{
    /* Rounded up to whole 64-column panels: what conv_direct_im2col writes for one chunk. */
    return conv_is_pointwise(d) ? 0 : conv_direct_panel_floats(conv_k(d), cols_max);
}

struct im2col_job {
    const struct conv_desc *d;
    const float *x;
    int N, H, W, n0, n;
    float *col;
};

#define IM2COL_ROWS 16   /* rows of col per pool task */

/* Rows [16 * task, 16 * task + 16) of col. */
static void im2col_rows(void *ctx, int64_t task)
{
    const struct im2col_job *jb = ctx;
    const struct conv_desc *d = jb->d;
    const int N = jb->N, H = jb->H, W = jb->W, n0 = jb->n0, n = jb->n;
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t K = conv_k(d);
    const int64_t cols = (int64_t)n * OH * OW;
    const int s = d->stride, p = d->pad;
    const int64_t r_end = (task + 1) * IM2COL_ROWS < K ? (task + 1) * IM2COL_ROWS : K;
    for (int64_t r = task * IM2COL_ROWS; r < r_end; r++) {
        const int kw = (int)(r % d->KW);
        const int kh = (int)(r / d->KW % d->KH);
        const int ic = (int)(r / ((int64_t)d->KW * d->KH));
        float *dst = jb->col + r * cols;
        for (int i = 0; i < n; i++) {
            const float *src = jb->x + ((int64_t)ic * N + n0 + i) * H * W;
            for (int oh = 0; oh < OH; oh++, dst += OW) {
                const int ih = oh * s - p + kh;
                if (ih < 0 || ih >= H) {
                    memset(dst, 0, sizeof(float) * OW);
                    continue;
                }
                const float *row = src + (int64_t)ih * W;
                /* Output columns whose input column iw = ow*s - p + kw lies inside [0, W). */
                int lo = 0, hi = OW;
                while (lo < OW && lo * s - p + kw < 0) lo++;
                while (hi > lo && (hi - 1) * s - p + kw >= W) hi--;
                for (int ow = 0; ow < lo; ow++) dst[ow] = 0.0f;
                if (s == 1) {
                    memcpy(dst + lo, row + lo - p + kw, sizeof(float) * (hi - lo));
                } else {
                    for (int ow = lo; ow < hi; ow++) dst[ow] = row[ow * s - p + kw];
                }
                for (int ow = hi; ow < OW; ow++) dst[ow] = 0.0f;
            }
        }
    }
}

void im2col(const struct conv_desc *d, const float *x, int N, int H, int W, int n0, int n, float *col)
{
    struct im2col_job jb = { d, x, N, H, W, n0, n, col };
    /* On pool.c's threads like the GEMM that follows (it says why not OpenMP). */
    pool_run((conv_k(d) + IM2COL_ROWS - 1) / IM2COL_ROWS, im2col_rows, &jb);
}

/* y[oc, :] = relu?(y[oc, :] + bias[oc] + residual[oc, :]) over rows of `len` values. */
static void conv_epilogue(float *y, int OC, int64_t len, const float *bias, const float *residual, int relu)
{
    if (!bias && !residual && !relu) return;
    #pragma omp parallel for schedule(static)
    for (int oc = 0; oc < OC; oc++) {
        float *row = y + (int64_t)oc * len;
        const float b = bias ? bias[oc] : 0.0f;
        const float *res = residual ? residual + (int64_t)oc * len : NULL;
        if (res) {
            for (int64_t i = 0; i < len; i++) row[i] += b + res[i];
        } else if (bias) {
            for (int64_t i = 0; i < len; i++) row[i] += b;
        }
        if (relu) {
            for (int64_t i = 0; i < len; i++) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
        }
    }
}

void conv_forward(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                  const float *bias, const float *residual, int relu, float *y, float *scratch,
                  int64_t scratch_floats)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t K = conv_k(d);
    const int64_t ohw = (int64_t)OH * OW;
    const int64_t len = (int64_t)N * ohw;   /* columns of y: [OC, N*OH*OW] */

    if (conv_direct_available()) {
        if (conv_direct_same(d)) {
            conv_direct_gemm(d->OC, d->IC, d->KH, d->KW, d->pad, N, H, W, w, x, len, bias, residual, relu, y, len);
            return;
        }
        RN_ASSERT(scratch_floats >= K * ohw);
        /* Panels (conv_direct_im2col) for wide outputs, the 7x7 stem (OW 112), whose plain rows
         * are a 49 KiB plane apart and thrash the L1 sets; narrower outputs (OW <= 28 in ResNet50)
         * split each panel into short runs and their im2col then cost more than it saved
         * (measured: stem 1.2x faster, stride-2 layers 0.9-1.0x). Needs one image's panels in
         * scratch, which conv_scratch_floats provides; the same bits either way. */
        const int panels = OW >= CONV_DIRECT_PANEL && conv_direct_panel_floats(K, ohw) <= scratch_floats;
        int chunk = (int)(scratch_floats / (K * ohw));
        if (chunk > N) chunk = N;
        while (panels && chunk > 1 && conv_direct_panel_floats(K, chunk * ohw) > scratch_floats) chunk--;
        for (int n0 = 0; n0 < N; n0 += chunk) {
            const int n = N - n0 < chunk ? N - n0 : chunk;
            const int64_t cols = (int64_t)n * ohw;   /* col: [K, n*OH*OW], or its panels */
            const float *res = residual ? residual + n0 * ohw : NULL;
            if (panels) {
                conv_direct_im2col(d, x, N, H, W, n0, n, scratch);
                conv_direct_gemm_panels(d->OC, (int)K, (int)cols, w, scratch, bias, res, relu, y + n0 * ohw, len);
            } else {
                im2col(d, x, N, H, W, n0, n, scratch);
                conv_direct_gemm(d->OC, (int)K, 1, 1, 0, 1, 1, (int)cols, w, scratch, cols, bias, res, relu,
                                 y + n0 * ohw, len);
            }
        }
        return;
    }
    if (conv_is_pointwise(d)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->OC, (int)len, d->IC, 1.0f, w, d->IC,
                    x, (int)len, 0.0f, y, (int)len);
    } else {
        RN_ASSERT(scratch_floats >= K * ohw);
        int chunk = (int)(scratch_floats / (K * ohw));
        if (chunk > N) chunk = N;
        for (int n0 = 0; n0 < N; n0 += chunk) {
            const int n = N - n0 < chunk ? N - n0 : chunk;
            const int64_t cols = (int64_t)n * ohw;   /* col: [K, n*OH*OW] */
            im2col(d, x, N, H, W, n0, n, scratch);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d->OC, (int)cols, (int)K, 1.0f, w,
                        (int)K, scratch, (int)cols, 0.0f, y + n0 * ohw, (int)len);
        }
    }
    conv_epilogue(y, d->OC, len, bias, residual, relu);
}

void conv_forward_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const float *w,
                      const float *bias, const float *residual, int relu, float *y)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    for (int oc = 0; oc < d->OC; oc++)
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int ic = 0; ic < d->IC; ic++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                const int ih = oh * d->stride - d->pad + kh;
                                const int iw = ow * d->stride - d->pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)w[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw] *
                                       x[(((int64_t)ic * N + n) * H + ih) * W + iw];
                            }
                    const int64_t o = (((int64_t)oc * N + n) * OH + oh) * OW + ow;
                    if (residual) acc += residual[o];
                    if (relu && acc < 0.0) acc = 0.0;
                    y[o] = (float)acc;
                }
}
