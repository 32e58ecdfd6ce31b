/* kern_int8.c — the W8A8 convolution (see kern_int8.h): input packing with quantization to 8-bit
 * codes, the AVX-512 VNNI register tile with the requantizing epilogue, its portable C twin on the
 * same packed data, and the seven-loop reference. */
#include "kern_int8.h"

#include "conv_direct.h"
#include "kern_x86.h"
#include "status.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define MR 6          /* output channels per register tile */
#define NV 4          /* zmm vectors per column block */
#define NB (16 * NV)  /* columns per block */
#define MAXTAP 49     /* up to 7x7 */

struct k8 {
    struct conv_kernel base;
    int H, W, OH, OW;
    int direct;       /* stride-1 "same": shifted reads of the channel-interleaved input */
    int ntap;         /* taps the GEMM reads per packed row (direct: KH*KW; im2col: 1) */
    int G;            /* channel groups of 4: ceil(IC/4) */
    int64_t K4;       /* dwords per packed weight row, G * KH * KW, in (group, tap) order */
    int32_t *wp;      /* [OC][K4]: 4 s8 weights per dword */
    int32_t *wpe, *wpo; /* [OC][K4]: weights 0, 2 and 1, 3 of each dword as int16 pairs (AVX2) */
    int32_t *corr;    /* [OC]: Z * sum_k q_w[oc, k] */
    float *scale;     /* [OC]: s_x * s_w[oc] */
    struct act_qparams in_q;
    float inv;        /* 1 / s_x, as act_fake_quant computes it */
    int Z, off;       /* code of 0; code offset (128 for symmetric activations) */
};

/* The 8-bit code of activation x: as act_fake_quant rounds it, plus the offset. */
static inline int32_t k8_code(const struct k8 *k, float x)
{
    float r = roundf(x * k->inv) + (float)k->in_q.zero_point;
    r = r < (float)k->in_q.qmin ? (float)k->in_q.qmin : (r > (float)k->in_q.qmax ? (float)k->in_q.qmax : r);
    return (int32_t)r + k->off;
}

/* Epilogue of one output: the simulation's arithmetic, in its order. */
static inline float k8_out(int32_t acc, float scale, float b, const float *res, int relu, const struct act_qparams *oq,
                           float oinv)
{
    float v = (float)acc * scale;
    v = v + b;
    if (res) v += *res;
    if (relu) v = v > 0.0f ? v : 0.0f;
    if (oq) {
        if (!(oq->scale > 0)) return 0.0f;
        float r = roundf(v * oinv) + (float)oq->zero_point;
        r = r < (float)oq->qmin ? (float)oq->qmin : (r > (float)oq->qmax ? (float)oq->qmax : r);
        v = oq->scale * (r - (float)oq->zero_point);
    }
    return v;
}

/* ---- packing ---- */

/* Direct packing of channel group g, pixels [j0, j1): b[g][j] = codes of channels 4g..4g+3 at
 * pixel j of rows x + c*ldx (rows of b have cols dwords). */
static void pack_group_portable(const struct k8 *k, const float *x, int64_t ldx, int64_t cols, int g, int64_t j0,
                                int64_t j1, int32_t *b)
{
    const int IC = k->base.d.IC;
    int32_t *dst = b + (int64_t)g * cols;
    for (int64_t j = j0; j < j1; j++) {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            const int c = 4 * g + i;
            const uint32_t u = (uint32_t)(c < IC ? k8_code(k, x[c * ldx + j]) : k->Z);
            v |= u << (8 * i);
        }
        dst[j] = (int32_t)v;
    }
}

#ifdef KERN_X86
#define T512 __attribute__((target("avx512f,avx512bw,avx512vl")))

T512 __attribute__((always_inline)) static inline __m512i k8_code_v(const struct k8 *k, __m512 x)
{
    __m512 r = _mm512_add_ps(kern_round_away(_mm512_mul_ps(x, _mm512_set1_ps(k->inv))),
                             _mm512_set1_ps((float)k->in_q.zero_point));
    r = _mm512_min_ps(_mm512_max_ps(r, _mm512_set1_ps((float)k->in_q.qmin)), _mm512_set1_ps((float)k->in_q.qmax));
    return _mm512_add_epi32(_mm512_cvtps_epi32(r), _mm512_set1_epi32(k->off));
}

T512 static void pack_group_avx512(const struct k8 *k, const float *x, int64_t ldx, int64_t cols, int g, int64_t j0,
                                   int64_t j1, int32_t *b)
{
    const int IC = k->base.d.IC;
    int32_t *dst = b + (int64_t)g * cols;
    const int nc = IC - 4 * g < 4 ? IC - 4 * g : 4;
    const float *src = x + 4 * g * ldx;
    for (int64_t j = j0; j < j1; j += 16) {
        const __mmask16 m = j1 - j >= 16 ? 0xffff : (__mmask16)((1u << (j1 - j)) - 1);
        __m512i v = _mm512_setzero_si512();
        for (int i = 0; i < 4; i++) {
            const __m512i u = i < nc ? k8_code_v(k, _mm512_maskz_loadu_ps(m, src + i * ldx + j)) : _mm512_set1_epi32(k->Z);
            v = _mm512_or_si512(v, _mm512_slli_epi32(u, 8 * i));
        }
        _mm512_mask_storeu_epi32(dst + j, m, v);
    }
}
#endif

static void pack_group(const struct k8 *k, const float *x, int64_t ldx, int64_t cols, int g, int64_t j0, int64_t j1,
                       int32_t *b)
{
#ifdef KERN_X86
    if (kern_cpu_avx512()) {
        pack_group_avx512(k, x, ldx, cols, g, j0, j1, b);
        return;
    }
#endif
    pack_group_portable(k, x, ldx, cols, g, j0, j1, b);
}

/* Direct packing of every group, shared among the threads of the enclosing region (by group). */
static void pack_direct(const struct k8 *k, const float *x, int64_t ldx, int64_t cols, int32_t *b)
{
    #pragma omp for schedule(static)
    for (int g = 0; g < k->G; g++) pack_group(k, x, ldx, cols, g, 0, cols, b);
}

/* im2col over the packed input: src [G][n*H*W] dwords -> dst [G*ntap][n*OH*OW], row g*ntap + t
 * holding tap t of channel group g (the weights' order); padding gets the dword of Z codes. */
static void im2col_dwords(const struct k8 *k, const int32_t *src, int n, int32_t *dst)
{
    const struct conv_desc *d = &k->base.d;
    const int H = k->H, W = k->W, OH = k->OH, OW = k->OW, s = d->stride, p = d->pad, ntap = d->KH * d->KW;
    const int64_t hw = (int64_t)H * W, ohw = (int64_t)OH * OW, cols = n * ohw;
    const int32_t zfill = (int32_t)((uint32_t)k->Z * 0x01010101u);
    #pragma omp for schedule(static)
    for (int r = 0; r < k->G * ntap; r++) {
        const int g = r / ntap, t = r % ntap, kh = t / d->KW, kw = t % d->KW;
        /* Output columns whose input column lies inside [0, W). */
        int lo = 0, hi = OW;
        while (lo < OW && lo * s - p + kw < 0) lo++;
        while (hi > lo && (hi - 1) * s - p + kw >= W) hi--;
        int32_t *out = dst + (int64_t)r * cols;
        for (int img = 0; img < n; img++)
            for (int oh = 0; oh < OH; oh++, out += OW) {
                const int ih = oh * s - p + kh;
                if (ih < 0 || ih >= H) {
                    for (int ow = 0; ow < OW; ow++) out[ow] = zfill;
                    continue;
                }
                const int32_t *row = src + (int64_t)g * n * hw + img * hw + (int64_t)ih * W + kw - p;
                for (int ow = 0; ow < lo; ow++) out[ow] = zfill;
                for (int ow = lo; ow < hi; ow++) out[ow] = row[ow * s];
                for (int ow = hi; ow < OW; ow++) out[ow] = zfill;
            }
    }
}

/* ---- the GEMM over packed input ---- */

/* Shared geometry of one call: the taps' shifts and how the columns map to pixels. */
struct k8_call {
    const struct k8 *k;
    const int32_t *b;       /* packed input, rows of ldb dwords */
    int64_t ldb, cols, hw;
    int N, H, W, KW, pad, ntap;
    int64_t shift[MAXTAP];
    const float *res;
    int relu;
    const struct act_qparams *oq;
    float oinv;
    float *y;
    int64_t ldc;
};

/* Tap masks of the column block at j0: bit j of m[t] when column j0+j exists and tap t of its
 * pixel lies in its image. */
static void k8_masks(const struct k8_call *c, int64_t j0, uint64_t *m, uint64_t *tl)
{
    memset(m, 0, sizeof(uint64_t) * (size_t)c->ntap);
    *tl = 0;
    for (int j = 0; j < NB && j0 + j < c->cols; j++) {
        const int64_t rem = (j0 + j) % c->hw;
        const int oh = (int)(rem / c->W), ow = (int)(rem % c->W);
        *tl |= 1ull << j;
        for (int t = 0; t < c->ntap; t++) {
            const int ih = oh + t / c->KW - c->pad, iw = ow + t % c->KW - c->pad;
            if (ih >= 0 && ih < c->H && iw >= 0 && iw < c->W) m[t] |= 1ull << j;
        }
    }
}

static void k8_block_portable(const struct k8_call *c, int64_t j0, int m0, int m1)
{
    const struct k8 *k = c->k;
    uint64_t m[MAXTAP], tl;
    k8_masks(c, j0, m, &tl);
    const uint32_t zfill = (uint32_t)k->Z * 0x01010101u;
    for (int oc = m0; oc < m1; oc++) {
        int32_t acc[NB] = { 0 };
        const int32_t *a = k->wp + oc * k->K4;
        for (int g = 0; g < (int)(k->K4 / c->ntap); g++)
            for (int t = 0; t < c->ntap; t++) {
                const uint32_t w = (uint32_t)a[g * c->ntap + t];
                const int32_t w0 = (int8_t)(w & 0xff), w1 = (int8_t)(w >> 8 & 0xff), w2 = (int8_t)(w >> 16 & 0xff),
                              w3 = (int8_t)(w >> 24);
                const int32_t *bt = c->b + g * c->ldb + j0 + c->shift[t];
                for (int j = 0; j < NB; j++) {
                    const uint32_t u = m[t] >> j & 1 ? (uint32_t)bt[j] : zfill;
                    acc[j] += w0 * (int32_t)(u & 0xff) + w1 * (int32_t)(u >> 8 & 0xff) + w2 * (int32_t)(u >> 16 & 0xff) +
                              w3 * (int32_t)(u >> 24);
                }
            }
        const float b = k->base.bias ? k->base.bias[oc] : 0.0f;
        for (int j = 0; j < NB; j++) {
            if (!(tl >> j & 1)) continue;
            const int64_t o = oc * c->ldc + j0 + j;
            c->y[o] = k8_out(acc[j] - k->corr[oc], k->scale[oc], b, c->res ? c->res + o : NULL, c->relu, c->oq, c->oinv);
        }
    }
}

#ifdef KERN_X86
#define TVNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

#define ACC_ROW(i) __m512i c##i##0 = z, c##i##1 = z, c##i##2 = z, c##i##3 = z;
#define DOT_ROW(i)                                                                                      \
    {                                                                                                   \
        const __m512i w = _mm512_set1_epi32(a##i[t]);                                                   \
        c##i##0 = _mm512_dpbusd_epi32(c##i##0, x0, w);                                                  \
        if (nv > 1) c##i##1 = _mm512_dpbusd_epi32(c##i##1, x1, w);                                      \
        if (nv > 2) c##i##2 = _mm512_dpbusd_epi32(c##i##2, x2, w);                                      \
        if (nv > 3) c##i##3 = _mm512_dpbusd_epi32(c##i##3, x3, w);                                      \
    }
#define OUT_VEC(i, v, cv)                                                                               \
    {                                                                                                   \
        __m512 o = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(cv, corr)), sc);                   \
        o = _mm512_add_ps(o, bi);                                                                       \
        float *yp = y + i * ldc + 16 * v;                                                               \
        if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(tail[v], res + i * ldc + 16 * v));         \
        if (relu) o = _mm512_max_ps(o, _mm512_setzero_ps());                                            \
        if (oq) o = kern_fq16(&ofq, o);                                                                 \
        _mm512_mask_storeu_ps(yp, tail[v], o);                                                          \
    }
#define OUT_ROW(i)                                                                                      \
    if (i < mr) {                                                                                       \
        const __m512 bi = _mm512_set1_ps(bias ? bias[i] : 0.0f), sc = _mm512_set1_ps(scale[i]);        \
        const __m512i corr = _mm512_set1_epi32(corrs[i]);                                               \
        OUT_VEC(i, 0, c##i##0)                                                                          \
        if (nv > 1) OUT_VEC(i, 1, c##i##1)                                                              \
        if (nv > 2) OUT_VEC(i, 2, c##i##2)                                                              \
        if (nv > 3) OUT_VEC(i, 3, c##i##3)                                                              \
    }

/* One register tile: rows a[0..mr) of the packed weights (lda dwords apart), the column block at
 * b (channel group 0), G groups of ntap taps. */
TVNNI __attribute__((always_inline)) static inline void
k8_tile(const int nv, const int ntap, int mr, int G, const int32_t *a, int64_t lda, const int32_t *b, int64_t ldb,
        const int64_t *shift, const __mmask16 (*mt)[NV], const __mmask16 *tail, __m512i zfill, const float *bias,
        const float *scale, const int32_t *corrs, const float *res, int relu, const struct act_qparams *oq, float *y,
        int64_t ldc)
{
    const __m512i z = _mm512_setzero_si512();
    ACC_ROW(0) ACC_ROW(1) ACC_ROW(2) ACC_ROW(3) ACC_ROW(4) ACC_ROW(5)
    const int32_t *a0 = a, *a1 = a + (mr > 1) * lda, *a2 = a + (mr > 2 ? 2 : mr - 1) * lda,
                  *a3 = a + (mr > 3 ? 3 : mr - 1) * lda, *a4 = a + (mr > 4 ? 4 : mr - 1) * lda,
                  *a5 = a + (mr > 5 ? 5 : mr - 1) * lda;
    for (int g = 0; g < G; g++) {
        for (int t = 0; t < ntap; t++) {
            const int32_t *bt = b + shift[t];
            /* One tap (1x1, im2col) has no padding: masked-off lanes are past the last column and
             * never stored, so zero-masking does (no merge with the Z codes: a register and a
             * move per load fewer). */
#define K8_LOAD(v) (ntap == 1 ? _mm512_maskz_loadu_epi32(mt[t][v], bt + 16 * v) : _mm512_mask_loadu_epi32(zfill, mt[t][v], bt + 16 * v))
            const __m512i x0 = K8_LOAD(0);
            const __m512i x1 = nv > 1 ? K8_LOAD(1) : z;
            const __m512i x2 = nv > 2 ? K8_LOAD(2) : z;
            const __m512i x3 = nv > 3 ? K8_LOAD(3) : z;
#undef K8_LOAD
            DOT_ROW(0) DOT_ROW(1) DOT_ROW(2) DOT_ROW(3) DOT_ROW(4) DOT_ROW(5)
        }
        b += ldb;
        a0 += ntap; a1 += ntap; a2 += ntap; a3 += ntap; a4 += ntap; a5 += ntap;
    }
    const struct act_qparams none = { 0 };
    const struct kern_fq16 ofq = kern_fq16_of(oq ? oq : &none);
    OUT_ROW(0) OUT_ROW(1) OUT_ROW(2) OUT_ROW(3) OUT_ROW(4) OUT_ROW(5)
}

#define TILE_ARGS mr, G, a, lda, b, ldb, shift, mt, tail, zfill, bias, scale, corrs, res, relu, oq, y, ldc
#define TILE_NV(nt_)                                                                                    \
    switch (nv) {                                                                                       \
    case 1: k8_tile(1, nt_, TILE_ARGS); break;                                                          \
    case 2: k8_tile(2, nt_, TILE_ARGS); break;                                                          \
    case 3: k8_tile(3, nt_, TILE_ARGS); break;                                                          \
    default: k8_tile(4, nt_, TILE_ARGS); break;                                                         \
    }

TVNNI static void k8_tile_any(int mr, int nv, int ntap, int G, const int32_t *a, int64_t lda, const int32_t *b,
                              int64_t ldb, const int64_t *shift, const __mmask16 (*mt)[NV], const __mmask16 *tail,
                              __m512i zfill, const float *bias, const float *scale, const int32_t *corrs,
                              const float *res, int relu, const struct act_qparams *oq, float *y, int64_t ldc)
{
    if (ntap == 1) {
        TILE_NV(1)
    } else if (ntap == 9) {
        TILE_NV(9)
    } else {
        TILE_NV(ntap)
    }
}

TVNNI static void k8_block_vnni(const struct k8_call *c, int64_t j0, int m0, int m1, const __mmask16 (*mt)[NV],
                                const __mmask16 *tail)
{
    const struct k8 *k = c->k;
    const int nv = (int)((c->cols - j0 >= NB ? NB : c->cols - j0) + 15) / 16;
    const __m512i zfill = _mm512_set1_epi32((int)((uint32_t)k->Z * 0x01010101u));
    for (int m = m0; m < m1; m += MR) {
        const int mr = m1 - m < MR ? m1 - m : MR;
        k8_tile_any(mr, nv, c->ntap, (int)(k->K4 / c->ntap), k->wp + m * k->K4, k->K4, c->b + j0, c->ldb, c->shift, mt, tail, zfill,
                    k->base.bias ? k->base.bias + m : NULL, k->scale + m, k->corr + m,
                    c->res ? c->res + m * c->ldc + j0 : NULL, c->relu, c->oq, c->y + m * c->ldc + j0, c->ldc);
    }
}
#endif

#ifdef KERN_X86
#define TAVX2 __attribute__((target("avx2")))

/* The AVX2 fallback: exact, through 16-bit lanes. Each dword lane's codes split into (u0, u2) and
 * (u1, u3) int16 pairs, the weights likewise (prepared at build), and vpmaddwd sums each pair
 * into int32 without saturation (vpmaddubsw would saturate). 4 output channels x 16 columns. */
TAVX2 static void k8_block_avx2(const struct k8_call *c, int64_t j0, int m0, int m1)
{
    const struct k8 *k = c->k;
    uint64_t m[MAXTAP], tl;
    k8_masks(c, j0, m, &tl);
    const __m256i zfill = _mm256_set1_epi32((int)((uint32_t)k->Z * 0x01010101u)), lo = _mm256_set1_epi32(0x00ff00ff);
    const __m256i bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const int G = (int)(k->K4 / c->ntap);
    __m256i mv[MAXTAP][2];
    for (int sub = 0; sub < NB && (tl >> sub & 0xffff); sub += 16) {
        for (int t = 0; t < c->ntap; t++)
            for (int h = 0; h < 2; h++) {
                const __m256i b8 = _mm256_and_si256(_mm256_set1_epi32((int)(m[t] >> (sub + 8 * h) & 0xff)), bits);
                mv[t][h] = _mm256_cmpeq_epi32(b8, bits);
            }
        for (int oc = m0; oc < m1; oc += 4) {
            const int mr = m1 - oc < 4 ? m1 - oc : 4;
            __m256i acc[4][2];
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
            for (int g = 0; g < G; g++)
                for (int t = 0; t < c->ntap; t++) {
                    const int32_t *bt = c->b + g * c->ldb + j0 + sub + c->shift[t];
                    const __m256i x0 = _mm256_blendv_epi8(zfill, _mm256_maskload_epi32(bt, mv[t][0]), mv[t][0]);
                    const __m256i x1 = _mm256_blendv_epi8(zfill, _mm256_maskload_epi32(bt + 8, mv[t][1]), mv[t][1]);
                    const __m256i e0 = _mm256_and_si256(x0, lo), o0 = _mm256_srli_epi16(x0, 8);
                    const __m256i e1 = _mm256_and_si256(x1, lo), o1 = _mm256_srli_epi16(x1, 8);
                    const int64_t kw = (int64_t)g * c->ntap + t;
                    for (int r = 0; r < mr; r++) {
                        const __m256i we = _mm256_set1_epi32(k->wpe[(oc + r) * k->K4 + kw]);
                        const __m256i wo = _mm256_set1_epi32(k->wpo[(oc + r) * k->K4 + kw]);
                        acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_add_epi32(_mm256_madd_epi16(e0, we), _mm256_madd_epi16(o0, wo)));
                        acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_add_epi32(_mm256_madd_epi16(e1, we), _mm256_madd_epi16(o1, wo)));
                    }
                }
            for (int r = 0; r < mr; r++) {
                int32_t a[16];
                _mm256_storeu_si256((__m256i *)a, acc[r][0]);
                _mm256_storeu_si256((__m256i *)(a + 8), acc[r][1]);
                const int o = oc + r;
                const float b = k->base.bias ? k->base.bias[o] : 0.0f;
                for (int j = 0; j < 16; j++) {
                    if (!(tl >> (sub + j) & 1)) continue;
                    const int64_t at = o * c->ldc + j0 + sub + j;
                    c->y[at] = k8_out(a[j] - k->corr[o], k->scale[o], b, c->res ? c->res + at : NULL, c->relu, c->oq, c->oinv);
                }
            }
        }
    }
}
#endif

/* One column block, output channels [m0, m1), on the best path the CPU has. */
static void k8_block(const struct k8_call *c, int64_t j0, int m0, int m1)
{
#ifdef KERN_X86
    if (kern_cpu_vnni()) {
        __mmask16 mt[MAXTAP][NV], tail[NV];
        uint64_t m[MAXTAP], tl;
        k8_masks(c, j0, m, &tl);
        for (int v = 0; v < NV; v++) {
            tail[v] = (__mmask16)(tl >> (16 * v));
            for (int t = 0; t < c->ntap; t++) mt[t][v] = (__mmask16)(m[t] >> (16 * v));
        }
        k8_block_vnni(c, j0, m0, m1, (const __mmask16(*)[NV])mt, tail);
        return;
    }
    if (kern_cpu_avx2()) {
        k8_block_avx2(c, j0, m0, m1);
        return;
    }
#endif
    k8_block_portable(c, j0, m0, m1);
}

/* Column-split mode of a 1x1 conv with enough column blocks: each thread of the enclosing region
 * packs the pixels of its own column blocks and computes every output channel of them, so no
 * thread waits for another between packing and the GEMM (a barrier fewer per layer, which is
 * what a busy machine charges for). */
static void k8_split(const struct k8_call *c, const float *x, int64_t ldx, int32_t *b)
{
    const struct k8 *k = c->k;
    const int64_t ncb = (c->cols + NB - 1) / NB;
    const int T = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t cb0 = ncb * tid / T, cb1 = ncb * (tid + 1) / T;
    const int64_t j0 = cb0 * NB, j1 = cb1 * NB < c->cols ? cb1 * NB : c->cols;
    for (int g = 0; g < k->G; g++) pack_group(k, x, ldx, c->cols, g, j0, j1, b);
    for (int64_t cb = cb0; cb < cb1; cb++) k8_block(c, cb * NB, 0, k->base.d.OC);
}

/* Runs the GEMM of one call over (column block, output-channel chunk) tasks. Like the packing
 * functions, it shares its loop among the threads of the enclosing parallel region (k8_forward
 * opens one per call: fork and join once, not per step). */
static void k8_gemm(const struct k8_call *c)
{
    const int OC = c->k->base.d.OC;
    const int64_t ncb = (c->cols + NB - 1) / NB;
    const int MC = ncb >= 8 ? 16 * MR : 4 * MR;
    const int64_t nmc = (OC + MC - 1) / MC;
#ifdef KERN_X86
    const int vnni = kern_cpu_vnni(), avx2 = kern_cpu_avx2();
#endif
    {
        int64_t have_cb = -1;
#ifdef KERN_X86
        __mmask16 mt[MAXTAP][NV], tail[NV];
#endif
        #pragma omp for schedule(static) nowait
        for (int64_t task = 0; task < ncb * nmc; task++) {
            const int64_t cb = task / nmc, j0 = cb * NB;
            const int m0 = (int)(task % nmc) * MC, m1 = m0 + MC < OC ? m0 + MC : OC;
#ifdef KERN_X86
            if (vnni) {
                if (cb != have_cb) {
                    uint64_t m[MAXTAP], tl;
                    k8_masks(c, j0, m, &tl);
                    for (int v = 0; v < NV; v++) {
                        tail[v] = (__mmask16)(tl >> (16 * v));
                        for (int t = 0; t < c->ntap; t++) mt[t][v] = (__mmask16)(m[t] >> (16 * v));
                    }
                    have_cb = cb;
                }
                k8_block_vnni(c, j0, m0, m1, (const __mmask16(*)[NV])mt, tail);
                continue;
            }
            if (avx2) {
                k8_block_avx2(c, j0, m0, m1);
                continue;
            }
#endif
            (void)have_cb;
            k8_block_portable(c, j0, m0, m1);
        }
    }
}

/* ---- the kernel ---- */

static int64_t k8_scratch_per_image(const struct conv_kernel *base, int64_t ohw)
{
    const struct k8 *k = (const struct k8 *)base;
    (void)ohw;
    const int64_t hw = (int64_t)k->H * k->W;
    if (k->direct) return k->G * hw;
    return k->G * hw + k->G * (int64_t)base->d.KH * base->d.KW * k->OH * k->OW;
}

static void k8_forward(const struct conv_kernel *base, const float *x, int N, int H, int W, const float *residual,
                       int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats)
{
    const struct k8 *k = (const struct k8 *)base;
    RN_ASSERT(H == k->H && W == k->W);
    const int64_t hw = (int64_t)H * W, ohw = (int64_t)k->OH * k->OW;
    const int64_t per = k8_scratch_per_image(base, ohw);
    RN_ASSERT(scratch_floats >= per);
    int chunk = (int)(scratch_floats / per);
    if (chunk > N) chunk = N;
    (void)kern_cpu_vnni();   /* detect before the threads ask */
    #pragma omp parallel
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int n = N - n0 < chunk ? N - n0 : chunk;
        struct k8_call c = { .k = k, .res = residual ? residual + n0 * ohw : NULL, .relu = relu, .oq = out_q,
                             .y = y + n0 * ohw, .ldc = (int64_t)N * ohw };
        c.oinv = out_q && out_q->scale > 0 ? 1.0f / out_q->scale : 0.0f;
        int32_t *b = (int32_t *)scratch;
        const int64_t ncb = (n * hw + NB - 1) / NB;
        if (k->direct && k->ntap == 1 && ncb >= 2 * omp_get_num_threads()) {
            c.cols = c.hw = n * hw;
            c.N = 1;
            c.H = 1;
            c.W = (int)c.cols;
            c.KW = 1;
            c.pad = 0;
            c.ntap = 1;
            c.shift[0] = 0;
            c.b = b;
            c.ldb = c.cols;
            k8_split(&c, x + n0 * hw, (int64_t)N * hw, b);
        } else {
            pack_direct(k, x + n0 * hw, (int64_t)N * hw, n * hw, b);
            if (k->direct) {
                c.cols = n * hw;
                c.hw = hw;
                c.N = n;
                c.H = H;
                c.W = W;
                c.KW = base->d.KW;
                c.pad = base->d.pad;
                c.ntap = k->ntap;
            } else {
                int32_t *col = b + k->G * n * hw;
                im2col_dwords(k, b, n, col);
                b = col;
                c.cols = n * ohw;
                c.hw = c.cols;
                c.N = 1;
                c.H = 1;
                c.W = (int)c.cols;
                c.KW = 1;
                c.pad = 0;
                c.ntap = 1;
            }
            c.b = b;
            c.ldb = c.cols;
            for (int t = 0; t < c.ntap; t++) c.shift[t] = (int64_t)(t / c.KW - c.pad) * c.W + (t % c.KW - c.pad);
            k8_gemm(&c);
        }
        /* The next chunk reuses the scratch (the last one ends at the region's join). */
        if (n0 + chunk < N) {
            #pragma omp barrier
        }
    }
}

static void k8_free(struct conv_kernel *base)
{
    struct k8 *k = (struct k8 *)base;
    if (!k) return;
    free(k->wp);
    free(k->wpe);
    free(k->wpo);
    free(k->corr);
    free(k->scale);
    free(k);
}

struct conv_kernel *kern_int8_new(const struct conv_desc *d, int H, int W, const int8_t *q, const float *w_scale,
                                  const float *bias, const struct act_qparams *in_q)
{
    if (!(in_q->scale > 0) || d->KH * d->KW > MAXTAP) return NULL;
    struct k8 *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->base = (struct conv_kernel){ .kind = KERN_INT8, .fuses_out_q = 1, .d = *d, .bias = bias, .forward = k8_forward,
                                    .scratch_per_image = k8_scratch_per_image, .free = k8_free };
    k->H = H;
    k->W = W;
    k->OH = conv_out_size(H, d->KH, d->stride, d->pad);
    k->OW = conv_out_size(W, d->KW, d->stride, d->pad);
    k->direct = conv_direct_same(d);
    const int khw = d->KH * d->KW;
    const int64_t K = conv_k(d);
    k->ntap = k->direct ? khw : 1;
    k->G = (d->IC + 3) / 4;
    k->K4 = (int64_t)k->G * khw;
    k->in_q = *in_q;
    k->inv = 1.0f / in_q->scale;
    k->off = in_q->qmin < 0 ? 128 : 0;
    k->Z = in_q->zero_point + k->off;
    k->wp = calloc((size_t)(d->OC * k->K4), sizeof *k->wp);
    k->wpe = malloc(sizeof *k->wpe * (size_t)(d->OC * k->K4));
    k->wpo = malloc(sizeof *k->wpo * (size_t)(d->OC * k->K4));
    k->corr = malloc(sizeof *k->corr * (size_t)d->OC);
    k->scale = malloc(sizeof *k->scale * (size_t)d->OC);
    if (!k->wp || !k->wpe || !k->wpo || !k->corr || !k->scale) {
        k8_free(&k->base);
        return NULL;
    }
    for (int oc = 0; oc < d->OC; oc++) {
        int32_t sum = 0;
        uint8_t *row = (uint8_t *)(k->wp + oc * k->K4);
        for (int64_t kk = 0; kk < K; kk++) {
            const int8_t w = q[oc * K + kk];
            sum += w;
            /* dword (group of the channel, tap), byte: the channel within its group. */
            const int ic = (int)(kk / khw), t = (int)(kk % khw);
            row[4 * ((int64_t)(ic / 4) * khw + t) + ic % 4] = (uint8_t)w;
        }
        k->corr[oc] = k->Z * sum;
        for (int64_t i = 0; i < k->K4; i++) {
            const int8_t *w4 = (const int8_t *)(k->wp + oc * k->K4 + i);
            k->wpe[oc * k->K4 + i] = (int32_t)((uint32_t)(uint16_t)(int16_t)w4[0] | (uint32_t)(uint16_t)(int16_t)w4[2] << 16);
            k->wpo[oc * k->K4 + i] = (int32_t)((uint32_t)(uint16_t)(int16_t)w4[1] | (uint32_t)(uint16_t)(int16_t)w4[3] << 16);
        }
        k->scale[oc] = in_q->scale * w_scale[oc];
    }
    return &k->base;
}

void kern_int8_ref(const struct conv_desc *d, const float *x, int N, int H, int W, const int8_t *q,
                   const float *w_scale, const float *bias, const struct act_qparams *in_q, const float *residual,
                   int relu, const struct act_qparams *out_q, float *y)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad), OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const float inv = 1.0f / in_q->scale, oinv = out_q && out_q->scale > 0 ? 1.0f / out_q->scale : 0.0f;
    for (int oc = 0; oc < d->OC; oc++)
        for (int n = 0; n < N; n++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    int64_t acc = 0;
                    for (int ic = 0; ic < d->IC; ic++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                const int ih = oh * d->stride - d->pad + kh, iw = ow * d->stride - d->pad + kw;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                float r = roundf(x[(((int64_t)ic * N + n) * H + ih) * W + iw] * inv) + (float)in_q->zero_point;
                                r = r < (float)in_q->qmin ? (float)in_q->qmin : (r > (float)in_q->qmax ? (float)in_q->qmax : r);
                                acc += (int64_t)q[((oc * d->IC + ic) * d->KH + kh) * d->KW + kw] *
                                       ((int64_t)r - in_q->zero_point);
                            }
                    const int64_t o = (((int64_t)oc * N + n) * OH + oh) * OW + ow;
                    y[o] = k8_out((int32_t)acc, in_q->scale * w_scale[oc], bias ? bias[oc] : 0.0f,
                                  residual ? residual + o : NULL, relu, out_q, oinv);
                }
}
