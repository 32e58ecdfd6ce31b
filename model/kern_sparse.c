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

/* Where each tap reads, on a grid [N, GH, GW] of output positions: tap t of input channel ic reads
 * plane ic * nph + ph[t] (planes ldb apart) at (oh + dy[t], ow + dx[t]), zero outside the grid.
 * A stride-1 "same" conv reads x itself (one plane per channel, dy/dx the tap's offset); a
 * stride-2 conv reads the input's phase planes (ksp_phase_split); flat (im2col'd) rows are one
 * tap at offset 0 on a 1 x cols grid. */
struct ksp_geom {
    int GH, GW, ntap, nph;
    int dy[MAXTAP], dx[MAXTAP], ph[MAXTAP];
};

/* The stride-2 phase geometry of conv d on an OH x OW output grid: tap (kh, kw) reads input
 * row 2 * (oh + dy) + a with kh - pad = 2 dy + a, a in {0, 1} (columns alike), i.e. phase plane
 * (a, b) at offset (dy, dx). Returns 0 when the conv is not of that form (stride 2 with every
 * tap at dy, dx <= 0, so that an OH x OW plane holds every row and column read; 3x3 pad 1 and
 * 1x1 pad 0 are) or needs more planes than taps (the scratch holds K x OH x OW per image). */
static int ksp_phase_geom(const struct conv_desc *d, int OH, int OW, struct ksp_geom *g, int *pa, int *pb)
{
    if (d->stride != 2 || d->KH - 1 - d->pad > 1 || d->KW - 1 - d->pad > 1 || d->pad < 0) return 0;
    int id[4] = { -1, -1, -1, -1 };
    *g = (struct ksp_geom){ .GH = OH, .GW = OW, .ntap = d->KH * d->KW };
    for (int t = 0; t < g->ntap; t++) {
        const int oy = t / d->KW - d->pad, ox = t % d->KW - d->pad;
        const int dy = oy >= 0 ? oy / 2 : -((1 - oy) / 2), dx = ox >= 0 ? ox / 2 : -((1 - ox) / 2);
        const int a = oy - 2 * dy, b = ox - 2 * dx, p = a * 2 + b;
        if (id[p] < 0) {
            pa[g->nph] = a;
            pb[g->nph] = b;
            id[p] = g->nph++;
        }
        g->dy[t] = dy;
        g->dx[t] = dx;
        g->ph[t] = id[p];
    }
    return g->nph <= g->ntap;
}

struct ksp {
    struct conv_kernel base;
    int H, W, OH, OW;
    int direct;        /* stride-1 "same": shifted reads, no im2col (AVX-512 path) */
    int phased;        /* stride 2: shifted reads of the input's 2x2 phase planes (AVX-512 path) */
    struct ksp_geom geom;   /* direct or phased: where each tap reads (set when the kernel is built) */
    int pa[4], pb[4];  /* phased: the row and column parity of each phase plane */
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
                              const struct act_qparams *oq, float *y, int64_t ldc)
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
        if (oq) kern_fq_ref(yr, NULL, 0, oq, yr, cols);
    }
}

#ifdef KERN_X86
#define T512 __attribute__((target("avx512f")))

/* One output channel x one column block: nonzeros [e0, e1); tap t of channel ic reads
 * b + ic*ldb + shift[t] under masks mt[t] (ldb: the stride between input channels). */
T512 __attribute__((always_inline)) static inline void
ksp_row(const int nv, const int flat, const struct ksp *s, int64_t e0, int64_t e1, const float *b, int64_t ldb, const int64_t *shift,
        const __mmask16 (*mt)[NV], const __mmask16 *tail, float bias, const float *res, int relu, const struct act_qparams *oq,
        float *y)
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
    const struct act_qparams none = { 0 };
    const struct kern_fq16 fq = kern_fq16_of(oq ? oq : &none);   /* the output's fake quantization */
#define KSP_OUT(v, cv)                                                                                  \
    {                                                                                                   \
        __m512 o = cv;                                                                                  \
        if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(tail[v], res + 16 * v));                   \
        if (relu) o = _mm512_max_ps(o, z);                                                              \
        if (oq) o = kern_fq16(&fq, o);                                                                  \
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
                             const float *res, int relu, const struct act_qparams *oq, float *y)
{
#define KSP_ROW(nv_) (flat ? ksp_row(nv_, 1, KSP_ARGS) : ksp_row(nv_, 0, KSP_ARGS))
#define KSP_ARGS s, e0, e1, b, ldb, shift, mt, tail, bias, res, relu, oq, y
    switch (nv) {
    case 1: KSP_ROW(1); break;
    case 2: KSP_ROW(2); break;
    case 3: KSP_ROW(3); break;
    default: KSP_ROW(4); break;
    }
#undef KSP_ARGS
#undef KSP_ROW
}

T512 static void ksp_avx512(const struct ksp *s, int flat, const struct ksp_geom *g, int N, const float *x, int64_t ldb,
                            const float *res, int relu, const struct act_qparams *oq, float *y, int64_t ldc)
{
    const int ntap = g->ntap, OC = s->base.d.OC, GW = g->GW;
    const int64_t hw = (int64_t)g->GH * GW, cols = (int64_t)N * hw;
    int64_t shift[MAXTAP];
    for (int t = 0; t < ntap; t++) shift[t] = g->ph[t] * ldb + (int64_t)g->dy[t] * GW + g->dx[t];
    const int64_t cs = g->nph * ldb;   /* between input channels */
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
                    const int oh = (int)(rem / GW), ow = (int)(rem % GW);
                    tl |= 1ull << j;
                    for (int t = 0; t < ntap; t++) {
                        const int ih = oh + g->dy[t], iw = ow + g->dx[t];
                        if (ih >= 0 && ih < g->GH && iw >= 0 && iw < GW) m[t] |= 1ull << j;
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
                ksp_row_any(nv, flat, s, s->row[oc], s->row[oc + 1], x + j0, flat ? ldb : cs, shift,
                            (const __mmask16(*)[NV])mt, tail, s->base.bias ? s->base.bias[oc] : 0.0f,
                            res ? res + oc * ldc + j0 : NULL, relu, oq, y + oc * ldc + j0);
        }
    }
}

/* One phase plane: dst [OH, OW] holding src [H, W] at (2r + a, 2c + b) (0 past the input's edge).
 * 16 outputs at a time: two masked loads of 32 consecutive inputs and one permute that keeps the
 * even lanes. Its own function, called from the parallel loop with scalars and pointers only:
 * clang outlines an OpenMP loop body into a function without the target attribute, where AVX-512
 * values would be an error. */
T512 static void ksp_phase_plane(const float *src, int H, int W, int OH, int OW, int a, int b, float *dst)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int r = 0; r < OH; r++, dst += OW) {
        const int ih = 2 * r + a;
        for (int c0 = 0; c0 < OW; c0 += 16) {
            const int nout = OW - c0 < 16 ? OW - c0 : 16;
            const __mmask16 st = (__mmask16)((1u << nout) - 1);
            if (ih >= H) {
                _mm512_mask_storeu_ps(dst + c0, st, _mm512_setzero_ps());
                continue;
            }
            const float *row = src + (int64_t)ih * W + b + 2 * c0;
            int avail = W - b - 2 * c0;   /* inputs left in the row from `row` */
            avail = avail < 0 ? 0 : avail > 32 ? 32 : avail;
            const __mmask16 m0 = (__mmask16)(avail >= 16 ? 0xffffu : (1u << avail) - 1);
            const __mmask16 m1 = (__mmask16)(avail >= 32 ? 0xffffu : avail > 16 ? (1u << (avail - 16)) - 1 : 0);
            const __m512 v0 = _mm512_maskz_loadu_ps(m0, row), v1 = _mm512_maskz_loadu_ps(m1, row + 16);
            _mm512_mask_storeu_ps(dst + c0, st, _mm512_permutex2var_ps(v0, even, v1));
        }
    }
}

/* The phase planes of images [n0, n0 + n) of x [IC, N, H, W]: out [IC, nph, n, OH, OW] with plane
 * (a, b) holding x[2r + a, 2c + b]. */
static void ksp_phase_split(const float *x, int IC, int N, int H, int W, int n0, int n, int OH, int OW, int nph,
                            const int *pa, const int *pb, float *out)
{
    const int64_t ohw = (int64_t)OH * OW;
    #pragma omp parallel for schedule(static)
    for (int ic = 0; ic < IC; ic++)
        for (int p = 0; p < nph; p++)
            for (int i = 0; i < n; i++)
                ksp_phase_plane(x + ((int64_t)ic * N + n0 + i) * H * W, H, W, OH, OW, pa[p], pb[p],
                                out + (((int64_t)ic * nph + p) * n + i) * ohw);
}
#endif

static void ksp_forward(const struct conv_kernel *base, const float *x, int N, int H, int W, const float *residual,
                        int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats)
{
    const struct ksp *s = (const struct ksp *)base;
    const struct conv_desc *d = &base->d;
    RN_ASSERT(H == s->H && W == s->W);
    const int64_t ohw = (int64_t)s->OH * s->OW, len = (int64_t)N * ohw;
#ifdef KERN_X86
    const int simd = kern_cpu_avx512();
    if (simd && s->direct) {
        /* ntap is the conv's own here: k = ic * ntap + tap. */
        ksp_avx512(s, 0, &s->geom, N, x, len, residual, relu, out_q, y, len);
        return;
    }
    if (simd && s->phased) {
        /* Stride 2: split the input into its phase planes (IC x nph planes per image, fewer
         * values than im2col's K per output), then shifted reads as in the stride-1 case. */
        const struct ksp_geom *pg = &s->geom;
        const int64_t per = (int64_t)d->IC * pg->nph * ohw;
        RN_ASSERT(scratch_floats >= per);
        int chunk = (int)(scratch_floats / per);
        if (chunk > N) chunk = N;
        for (int n0 = 0; n0 < N; n0 += chunk) {
            const int n = N - n0 < chunk ? N - n0 : chunk;
            ksp_phase_split(x, d->IC, N, H, W, n0, n, s->OH, s->OW, pg->nph, s->pa, s->pb, scratch);
            ksp_avx512(s, 0, pg, n, scratch, n * ohw, residual ? residual + n0 * ohw : NULL, relu, out_q, y + n0 * ohw, len);
        }
        return;
    }
#else
    const int simd = 0;
#endif
    if (conv_is_pointwise(d)) {
        ksp_rows_portable(s, x, len, len, residual, relu, out_q, y, len);
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
            const struct ksp_geom g = { .GH = 1, .GW = (int)cols, .ntap = 1, .nph = 1 };
            ksp_avx512(s, 1, &g, 1, scratch, cols, residual ? residual + n0 * ohw : NULL, relu, out_q, y + n0 * ohw, len);
            continue;
        }
#endif
        ksp_rows_portable(s, scratch, cols, cols, residual ? residual + n0 * ohw : NULL, relu, out_q, y + n0 * ohw, len);
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
    s->base = (struct conv_kernel){ .kind = kind, .fuses_out_q = 1, .d = *d, .bias = bias, .forward = ksp_forward,
                                    .scratch_per_image = ksp_scratch_per_image, .free = ksp_free };
    s->H = H;
    s->W = W;
    s->OH = conv_out_size(H, d->KH, d->stride, d->pad);
    s->OW = conv_out_size(W, d->KW, d->stride, d->pad);
    s->direct = conv_direct_same(d);
    if (s->direct) {
        s->geom = (struct ksp_geom){ .GH = H, .GW = W, .ntap = d->KH * d->KW, .nph = 1 };
        for (int t = 0; t < s->geom.ntap; t++) {
            s->geom.dy[t] = t / d->KW - d->pad;
            s->geom.dx[t] = t % d->KW - d->pad;
        }
    } else {
        s->phased = ksp_phase_geom(d, s->OH, s->OW, &s->geom, s->pa, s->pb);
    }
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
