/* conv_direct.c — AVX-512 direct convolution in the CNHW layout, with bias, residual and ReLU
 * fused into the register tile's store.
 *
 * In CNHW a stride-1 "same" convolution (1x1, or 3x3 with pad 1) needs no im2col: row (ic, tap)
 * of the im2col matrix is channel ic's [N, H, W] plane shifted by the tap's offset
 * (kh - pad) * W + (kw - pad), with zeros where the shifted pixel falls outside its image. The
 * kernel reads those rows straight from the input with masked loads, the masks built once per
 * block of 64 output columns (they also cover the batch's image boundaries and the ragged end).
 * The register tile is 6 output channels x 64 columns (24 zmm accumulators): per (ic, tap) it
 * loads 4 input vectors and broadcasts 6 weights, 24 FMAs. Weights are read in place ([OC, K]
 * rows, no packing), so nothing is allocated per call.
 *
 * Work is split over OpenMP threads as (64-column block, chunk of output channels) tasks, in one
 * parallel region per convolution. Strided or differently padded convolutions use it as a GEMM on
 * im2col'd columns (conv_forward does that). Not here: Winograd, NCHWc blocking, int8. The
 * portable im2col + OpenBLAS path in ops_conv.c stays the fallback and conv_forward_ref the
 * reference. */
#include "conv_direct.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CONV_DIRECT_X86 1
#endif

#define MR 6          /* output channels per register tile */
#define NV 4          /* zmm vectors per column block */
#define NB (16 * NV)  /* columns per block */
#define MAXTAP 49     /* up to 7x7 */

static int direct_mode = -1;   /* -1: CPU / environment default; 0 / 1 forced */

void conv_direct_force(int mode) { direct_mode = mode < 0 ? -1 : mode != 0; }

int conv_direct_available(void)
{
#ifdef CONV_DIRECT_X86
    static int cpu = -1;
    if (cpu < 0) {
        const char *e = getenv("RN_NO_AVX512");
        const int off = e && *e && strcmp(e, "0") != 0;
        __builtin_cpu_init();
        cpu = !off && __builtin_cpu_supports("avx512f");
    }
    if (direct_mode >= 0) return direct_mode && __builtin_cpu_supports("avx512f");
    return cpu;
#else
    return 0;
#endif
}

int conv_direct_same(const struct conv_desc *d)
{
    return d->stride == 1 && d->KH == d->KW && d->KH % 2 == 1 && 2 * d->pad == d->KH - 1 &&
           d->KH * d->KW <= MAXTAP;
}

#ifdef CONV_DIRECT_X86

#define TARGET __attribute__((target("avx512f")))

/* One register tile: MR rows of A at a[0..5] (rows past the real ones repeat the last and are not
 * stored: mr says how many are), columns [0, 16*nv) of the block at y. b points at the block's
 * first column in channel 0's plane; tap t adds shift[t] and uses the masks mt[t]. tail[v] marks
 * the columns that exist (for the epilogue). The 24 accumulators are named variables, not an
 * array: GCC keeps an array of __m512 on the stack and stores it back every iteration. */
#define ACC_LOAD(i, v) (first || i >= mr || nv <= v ? z : _mm512_maskz_loadu_ps(tail[v], y + i * ldc + 16 * v))
#define ACC_ROW(i)                                                                                      \
    __m512 c##i##0 = ACC_LOAD(i, 0), c##i##1 = ACC_LOAD(i, 1), c##i##2 = ACC_LOAD(i, 2),               \
           c##i##3 = ACC_LOAD(i, 3);
#define FMA_ROW(i)                                                                                      \
    {                                                                                                   \
        const __m512 w = _mm512_set1_ps(a##i[t]);                                                       \
        c##i##0 = _mm512_fmadd_ps(w, x0, c##i##0);                                                      \
        if (nv > 1) c##i##1 = _mm512_fmadd_ps(w, x1, c##i##1);                                          \
        if (nv > 2) c##i##2 = _mm512_fmadd_ps(w, x2, c##i##2);                                          \
        if (nv > 3) c##i##3 = _mm512_fmadd_ps(w, x3, c##i##3);                                          \
    }
#define OUT_VEC(i, v, cv)                                                                               \
    {                                                                                                   \
        __m512 o = cv;                                                                                  \
        if (last) {                                                                                     \
            o = _mm512_add_ps(o, bi);                                                                   \
            if (res) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(tail[v], res + i * ldc + 16 * v));     \
            if (relu) o = _mm512_max_ps(o, z);                                                          \
        }                                                                                               \
        _mm512_mask_storeu_ps(y + i * ldc + 16 * v, tail[v], o);                                        \
    }
#define OUT_ROW(i)                                                                                      \
    if (i < mr) {                                                                                       \
        const __m512 bi = bias && last ? _mm512_set1_ps(bias[i]) : z;                                   \
        OUT_VEC(i, 0, c##i##0)                                                                          \
        if (nv > 1) OUT_VEC(i, 1, c##i##1)                                                              \
        if (nv > 2) OUT_VEC(i, 2, c##i##2)                                                              \
        if (nv > 3) OUT_VEC(i, 3, c##i##3)                                                              \
    }

TARGET __attribute__((always_inline)) static inline void
direct_tile(const int nv, const int ntap, int mr, int first, int last, int IC, const float *a, int64_t lda, const float *b,
            int64_t ldb, const int64_t *shift, const __mmask16 (*mt)[NV], const __mmask16 *tail,
            const float *bias, const float *res, int relu, float *y, int64_t ldc)
{
    const __m512 z = _mm512_setzero_ps();
    ACC_ROW(0) ACC_ROW(1) ACC_ROW(2) ACC_ROW(3) ACC_ROW(4) ACC_ROW(5)
    const float *a0 = a, *a1 = a + (mr > 1) * lda, *a2 = a + (mr > 2 ? 2 : mr - 1) * lda,
                *a3 = a + (mr > 3 ? 3 : mr - 1) * lda, *a4 = a + (mr > 4 ? 4 : mr - 1) * lda,
                *a5 = a + (mr > 5 ? 5 : mr - 1) * lda;
    for (int ic = 0; ic < IC; ic++) {
        for (int t = 0; t < ntap; t++) {
            const float *bt = b + shift[t];
            const __m512 x0 = _mm512_maskz_loadu_ps(mt[t][0], bt);
            const __m512 x1 = nv > 1 ? _mm512_maskz_loadu_ps(mt[t][1], bt + 16) : z;
            const __m512 x2 = nv > 2 ? _mm512_maskz_loadu_ps(mt[t][2], bt + 32) : z;
            const __m512 x3 = nv > 3 ? _mm512_maskz_loadu_ps(mt[t][3], bt + 48) : z;
            FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3) FMA_ROW(4) FMA_ROW(5)
        }
        b += ldb;
        a0 += ntap; a1 += ntap; a2 += ntap; a3 += ntap; a4 += ntap; a5 += ntap;
    }
    OUT_ROW(0) OUT_ROW(1) OUT_ROW(2) OUT_ROW(3) OUT_ROW(4) OUT_ROW(5)
}

/* Instantiates direct_tile for constant nv and ntap 1 or 9 (the common cases). */
#define TILE_ARGS mr, first, last, IC, a, lda, b, ldb, shift, mt, tail, bias, res, relu, y, ldc
#define TILE_NV(nt_)                                                                                    \
    switch (nv) {                                                                                       \
    case 1: direct_tile(1, nt_, TILE_ARGS); break;                                                      \
    case 2: direct_tile(2, nt_, TILE_ARGS); break;                                                      \
    case 3: direct_tile(3, nt_, TILE_ARGS); break;                                                      \
    default: direct_tile(4, nt_, TILE_ARGS); break;                                                     \
    }

TARGET static void direct_tile_any(int mr, int nv, int ntap, int first, int last, int IC, const float *a, int64_t lda, const float *b,
                                   int64_t ldb, const int64_t *shift, const __mmask16 (*mt)[NV],
                                   const __mmask16 *tail, const float *bias, const float *res, int relu, float *y,
                                   int64_t ldc)
{
    if (ntap == 1) {
        TILE_NV(1)
    } else if (ntap == 9) {
        TILE_NV(9)
    } else {
        TILE_NV(ntap)
    }
}

void conv_direct_gemm(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                      const float *x, int64_t ldb, const float *bias, const float *residual, int relu,
                      float *y, int64_t ldc)
{
    RN_ASSERT(KH * KW <= MAXTAP && OC >= 1 && IC >= 1);
    const int ntap = KH * KW;
    const int64_t hw = (int64_t)H * W, cols = (int64_t)N * hw;
    const int64_t lda = (int64_t)IC * ntap;
    int64_t shift[MAXTAP];
    for (int t = 0; t < ntap; t++) shift[t] = (int64_t)(t / KW - pad) * W + (t % KW - pad);
    const int64_t ncb = (cols + NB - 1) / NB;
    /* Enough tasks for both threads even when there are few column blocks (7x7 maps at batch 1). */
    const int MC = ncb >= 8 ? 16 * MR : 4 * MR;
    const int64_t nmc = (OC + MC - 1) / MC;
    /* 128 channels x 64 columns x 4 bytes = 32 KiB of 1x1 input per block; the taps of a 3x3
     * reread the same few rows, so its blocks can be as large. */
    const int icb = ntap == 1 ? 128 : 64;

    #pragma omp parallel
    {
        __mmask16 mt[MAXTAP][NV], tail[NV];
        int64_t have_cb = -1;
        #pragma omp for schedule(static)
        for (int64_t task = 0; task < ncb * nmc; task++) {
            const int64_t cb = task / nmc, j0 = cb * NB;
            if (cb != have_cb) {
                /* Masks of this column block: column j exists, and tap t's pixel lies in its image. */
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
            const int m_end = (int)((task % nmc) * MC + MC < OC ? (task % nmc) * MC + MC : OC);
            /* Input channels in blocks whose slice of the column block stays in L1 while every
             * output-channel tile of the chunk consumes it; partial sums wait in y. */
            for (int c0 = 0; c0 < IC; c0 += icb) {
                const int nc = IC - c0 < icb ? IC - c0 : icb;
                const int first = c0 == 0, last = c0 + nc == IC;
                for (int m0 = (int)(task % nmc) * MC; m0 < m_end; m0 += MR) {
                    const int mr = m_end - m0 < MR ? m_end - m0 : MR;
                    direct_tile_any(mr, nv, ntap, first, last, nc, A + m0 * lda + (int64_t)c0 * ntap, lda,
                                    x + c0 * ldb + j0, ldb, shift, (const __mmask16(*)[NV])mt, tail,
                                    bias ? bias + m0 : NULL, residual ? residual + m0 * ldc + j0 : NULL, relu,
                                    y + m0 * ldc + j0, ldc);
                }
            }
        }
    }
}

#else

void conv_direct_gemm(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                      const float *x, int64_t ldb, const float *bias, const float *residual, int relu,
                      float *y, int64_t ldc)
{
    (void)OC; (void)IC; (void)KH; (void)KW; (void)pad; (void)N; (void)H; (void)W; (void)A; (void)x;
    (void)ldb; (void)bias; (void)residual; (void)relu; (void)y; (void)ldc;
    RN_ASSERT(!"conv_direct_gemm needs x86-64 AVX-512");
}

#endif
