/* kern_sparse.c — sparse-weight x dense-activation convolution (see kern_sparse.h). */
#include "kern_sparse.h"

#include "conv_direct.h"
#include "kern_x86.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#define NV 4          /* zmm vectors per column block */
#define NB (16 * NV)  /* columns per block */
#define MAXTAP 49

struct ksp {
    struct conv_kernel base;
    int H, W, OH, OW;
    int direct;        /* stride-1 "same": shifted reads, no im2col (AVX-512 path) */
    int ntap;          /* KH*KW */
    int64_t *row;      /* [OC + 1]: nonzeros of output channel oc are [row[oc], row[oc+1]) */
    float *val;        /* [nnz] */
    int32_t *k;        /* [nnz]: k index in [0, K) (ic * ntap + tap) */
    uint32_t *ict;     /* [nnz]: ic << 8 | tap, so the SIMD loop needs no division */
};

double kern_sparsity(const float *w, const uint8_t *mask, int64_t n)
{
    int64_t z = 0;
    for (int64_t i = 0; i < n; i++) z += mask ? !mask[i] : w[i] == 0.0f;
    return n ? (double)z / (double)n : 0.0;
}

static int64_t ksp_scratch_per_image(const struct conv_kernel *base, int64_t ohw)
{
    return conv_is_pointwise(&base->d) ? 0 : conv_k(&base->d) * ohw;
}

/* Portable: y[oc, :] = sum over nonzeros val * col[k, :] (+ epilogue), col = [K, cols] rows of ldb. */
static void ksp_rows_portable(const struct ksp *s, const float *col, int64_t ldb, int64_t cols, const float *res, int relu,
                              float *y, int64_t ldc)
{
    #pragma omp parallel for schedule(dynamic, 4)
    for (int oc = 0; oc < s->base.d.OC; oc++) {
        float *yr = y + oc * ldc;
        const float b = s->base.bias ? s->base.bias[oc] : 0.0f;
        for (int64_t j = 0; j < cols; j++) yr[j] = b;
        for (int64_t e = s->row[oc]; e < s->row[oc + 1]; e++) {
            const float v = s->val[e], *xr = col + s->k[e] * ldb;
            for (int64_t j = 0; j < cols; j++) yr[j] += v * xr[j];
        }
        if (res)
            for (int64_t j = 0; j < cols; j++) yr[j] += res[oc * ldc + j];
        if (relu)
            for (int64_t j = 0; j < cols; j++) yr[j] = yr[j] > 0.0f ? yr[j] : 0.0f;
    }
}

#ifdef KERN_X86
#define T512 __attribute__((target("avx512f")))

/* One output channel x one column block: nonzeros [e0, e1); tap t of channel ic reads
 * b + ic*ldb + shift[t] under masks mt[t]. */
T512 __attribute__((always_inline)) static inline void
ksp_row(const int nv, const int flat, const struct ksp *s, int64_t e0, int64_t e1, const float *b, int64_t ldb, const int64_t *shift,
        const __mmask16 (*mt)[NV], const __mmask16 *tail, float bias, const float *res, int relu, float *y)
{
    const uint32_t *ict = flat ? NULL : s->ict;
    __m512 c0 = _mm512_set1_ps(bias), c1 = c0, c2 = c0, c3 = c0;
    for (int64_t e = e0; e < e1; e++) {
        /* flat (im2col'd rows): row k, tap 0; else channel and tap of the shifted plane. */
        const int t = flat ? 0 : (int)(ict[e] & 0xff);
        const float *bt = flat ? b + s->k[e] * ldb : b + (int64_t)(ict[e] >> 8) * ldb + shift[t];
        const __m512 w = _mm512_set1_ps(s->val[e]);
        c0 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mt[t][0], bt), c0);
        if (nv > 1) c1 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mt[t][1], bt + 16), c1);
        if (nv > 2) c2 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mt[t][2], bt + 32), c2);
        if (nv > 3) c3 = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mt[t][3], bt + 48), c3);
    }
    const __m512 z = _mm512_setzero_ps();
#define KSP_OUT(v, cv)                                                                                  \
    {                                                                                                   \
        __m512 o = cv;                                                                                  \
        if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(tail[v], res + 16 * v));                   \
        if (relu) o = _mm512_max_ps(o, z);                                                              \
        _mm512_mask_storeu_ps(y + 16 * v, tail[v], o);                                                  \
    }
    KSP_OUT(0, c0)
    if (nv > 1) KSP_OUT(1, c1)
    if (nv > 2) KSP_OUT(2, c2)
    if (nv > 3) KSP_OUT(3, c3)
#undef KSP_OUT
}

T512 static void ksp_row_any(int nv, int flat, const struct ksp *s, int64_t e0, int64_t e1, const float *b, int64_t ldb,
                             const int64_t *shift, const __mmask16 (*mt)[NV], const __mmask16 *tail, float bias,
                             const float *res, int relu, float *y)
{
#define KSP_ROW(nv_) (flat ? ksp_row(nv_, 1, KSP_ARGS) : ksp_row(nv_, 0, KSP_ARGS))
#define KSP_ARGS s, e0, e1, b, ldb, shift, mt, tail, bias, res, relu, y
    switch (nv) {
    case 1: KSP_ROW(1); break;
    case 2: KSP_ROW(2); break;
    case 3: KSP_ROW(3); break;
    default: KSP_ROW(4); break;
    }
#undef KSP_ARGS
#undef KSP_ROW
}

/* The sparse convolution over the grid [N, H, W] of x (stride-1 "same", taps KH x KW, padding
 * pad), or, with KH = KW = 1, a plain sparse GEMM over rows of b of `cols` columns. */
T512 static void ksp_avx512(const struct ksp *s, int flat, int KH, int KW, int pad, int N, int H, int W, const float *x,
                            int64_t ldb, const float *res, int relu, float *y, int64_t ldc)
{
    const int ntap = KH * KW, OC = s->base.d.OC;
    const int64_t hw = (int64_t)H * W, cols = (int64_t)N * hw;
    int64_t shift[MAXTAP];
    for (int t = 0; t < ntap; t++) shift[t] = (int64_t)(t / KW - pad) * W + (t % KW - pad);
    const int64_t ncb = (cols + NB - 1) / NB;
    /* Output-channel chunks so that both threads have work when there are few column blocks. */
    const int MC = ncb >= 8 ? 64 : 16;
    const int64_t nmc = (OC + MC - 1) / MC;
    #pragma omp parallel
    {
        __mmask16 mt[MAXTAP][NV], tail[NV];
        int64_t have_cb = -1;
        #pragma omp for schedule(static)
        for (int64_t task = 0; task < ncb * nmc; task++) {
            const int64_t cb = task / nmc, j0 = cb * NB;
            if (cb != have_cb) {
                uint64_t m[MAXTAP] = { 0 }, tl = 0;
                for (int j = 0; j < NB && j0 + j < cols; j++) {
                    const int64_t rem = (j0 + j) % hw;
                    const int oh = (int)(rem / W), ow = (int)(rem % W);
                    tl |= 1ull << j;
                    for (int t = 0; t < ntap; t++) {
                        const int ih = oh + t / KW - pad, iw = ow + t % KW - pad;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) m[t] |= 1ull << j;
                    }
                }
                for (int v = 0; v < NV; v++) {
                    tail[v] = (__mmask16)(tl >> (16 * v));
                    for (int t = 0; t < ntap; t++) mt[t][v] = (__mmask16)(m[t] >> (16 * v));
                }
                have_cb = cb;
            }
            const int nv = (int)((cols - j0 >= NB ? NB : cols - j0) + 15) / 16;
            const int m0 = (int)(task % nmc) * MC, m1 = m0 + MC < OC ? m0 + MC : OC;
            for (int oc = m0; oc < m1; oc++)
                ksp_row_any(nv, flat, s, s->row[oc], s->row[oc + 1], x + j0, ldb, shift, (const __mmask16(*)[NV])mt, tail,
                            s->base.bias ? s->base.bias[oc] : 0.0f, res ? res + oc * ldc + j0 : NULL, relu,
                            y + oc * ldc + j0);
        }
    }
}
#endif

static void ksp_forward(const struct conv_kernel *base, const float *x, int N, int H, int W, const float *residual,
                        int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats)
{
    const struct ksp *s = (const struct ksp *)base;
    const struct conv_desc *d = &base->d;
    (void)out_q;
    RN_ASSERT(H == s->H && W == s->W);
    const int64_t ohw = (int64_t)s->OH * s->OW, len = (int64_t)N * ohw;
#ifdef KERN_X86
    const int simd = kern_cpu_avx512();
    if (simd && s->direct) {
        /* ntap is the conv's own here: k = ic * ntap + tap. */
        ksp_avx512(s, 0, d->KH, d->KW, d->pad, N, H, W, x, len, residual, relu, y, len);
        return;
    }
#else
    const int simd = 0;
#endif
    if (conv_is_pointwise(d)) {
        ksp_rows_portable(s, x, len, len, residual, relu, y, len);
        return;
    }
    const int64_t per = conv_k(d) * ohw;
    RN_ASSERT(scratch_floats >= per);
    int chunk = (int)(scratch_floats / per);
    if (chunk > N) chunk = N;
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        const int64_t cols = n * ohw;
        im2col(d, x, N, H, W, n0, n, scratch);
#ifdef KERN_X86
        if (simd) {
            /* im2col rows are k = ic * ntap + tap as one "channel" each: one tap, ldb = cols. */
            ksp_avx512(s, 1, 1, 1, 0, 1, 1, (int)cols, scratch, cols, residual ? residual + n0 * ohw : NULL, relu,
                       y + n0 * ohw, len);
            continue;
        }
#endif
        ksp_rows_portable(s, scratch, cols, cols, residual ? residual + n0 * ohw : NULL, relu, y + n0 * ohw, len);
    }
    (void)simd;
}

static void ksp_free(struct conv_kernel *base)
{
    struct ksp *s = (struct ksp *)base;
    if (!s) return;
    free(s->row);
    free(s->val);
    free(s->k);
    free(s->ict);
    free(s);
}

struct conv_kernel *kern_sparse_new(const struct conv_desc *d, int H, int W, const float *w, const uint8_t *mask,
                                    const float *bias, enum kern_kind kind)
{
    if (d->KH * d->KW > MAXTAP) return NULL;
    struct ksp *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base = (struct conv_kernel){ .kind = kind, .d = *d, .bias = bias, .forward = ksp_forward,
                                    .scratch_per_image = ksp_scratch_per_image, .free = ksp_free };
    s->H = H;
    s->W = W;
    s->OH = conv_out_size(H, d->KH, d->stride, d->pad);
    s->OW = conv_out_size(W, d->KW, d->stride, d->pad);
    s->direct = conv_direct_same(d);
    s->ntap = d->KH * d->KW;
    const int64_t K = conv_k(d);
    int64_t nnz = 0;
    for (int64_t i = 0; i < d->OC * K; i++) nnz += mask ? mask[i] != 0 : w[i] != 0.0f;
    s->row = malloc(sizeof *s->row * ((size_t)d->OC + 1));
    s->val = malloc(sizeof *s->val * (size_t)(nnz ? nnz : 1));
    s->k = malloc(sizeof *s->k * (size_t)(nnz ? nnz : 1));
    s->ict = malloc(sizeof *s->ict * (size_t)(nnz ? nnz : 1));
    if (!s->row || !s->val || !s->k || !s->ict) {
        ksp_free(&s->base);
        return NULL;
    }
    int64_t e = 0;
    for (int oc = 0; oc < d->OC; oc++) {
        s->row[oc] = e;
        for (int64_t kk = 0; kk < K; kk++) {
            const int64_t i = oc * K + kk;
            if (mask ? !mask[i] : w[i] == 0.0f) continue;
            s->val[e] = w[i];
            s->k[e] = (int32_t)kk;
            s->ict[e] = (uint32_t)(kk / s->ntap) << 8 | (uint32_t)(kk % s->ntap);
            e++;
        }
    }
    s->row[d->OC] = e;
    return &s->base;
}
