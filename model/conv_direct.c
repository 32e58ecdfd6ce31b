/* conv_direct.c — direct convolution in the CNHW layout (AVX-512, and AVX2 + FMA), with bias,
 * residual and ReLU fused into the register tile's store.
 *
 * In CNHW a stride-1 "same" convolution (1x1, or 3x3 with pad 1) needs no im2col: row (ic, tap)
 * of the im2col matrix is channel ic's [N, H, W] plane shifted by the tap's offset
 * (kh - pad) * W + (kw - pad), with zeros where the shifted pixel falls outside its image. The
 * kernel reads those rows straight from the input with masked loads, the masks built once per
 * block of 64 output columns (they also cover the batch's image boundaries and the ragged end).
 * The AVX-512 register tile is 6 output channels x 64 columns (24 zmm accumulators): per
 * (ic, tap) it loads 4 input vectors and broadcasts 6 weights, 24 FMAs. The AVX2 tile is 6 x 16
 * (12 ymm accumulators), run four times across the 64-column block. Weights are read in place
 * ([OC, K] rows, no packing), so nothing is allocated per call.
 *
 * Why an AVX2 twin at all: every output is one FMA chain over (ic, tap) in the same order on both
 * paths, stored and reloaded exactly between input-channel blocks, then + bias, + residual, ReLU.
 * So an output's bits depend on neither the batch it is computed in, nor the thread count, nor
 * which of the two instruction sets runs it. OpenBLAS's sgemm (the portable path) gives no such
 * promise: on its Haswell/Zen kernels an element's rounding changes with the matrix width and
 * the thread count, and in an 8-bit network one last-bit change flips a quantization level of the
 * next layer's input. The kernel path runs sub-batches in parallel while the simulation runs the
 * batch whole, so W8A8 networks on AVX2-only CPUs disagreed with their simulation (issue 13).
 *
 * Work is split into (64-column block, chunk of output channels) tasks run by pool.c's threads
 * (not an OpenMP region: pool.c says why). Strided or differently padded convolutions use it as a GEMM on
 * im2col'd columns (conv_forward does that). Not here: Winograd, NCHWc blocking, int8. The
 * portable im2col + OpenBLAS path in ops_conv.c stays the fallback and conv_forward_ref the
 * reference. */
#include "conv_direct.h"
#include "kern.h"
#include "pool.h"
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
_Static_assert(NB == CONV_DIRECT_PANEL, "a panel is one column block");
#define MAXTAP 49     /* up to 7x7 */
#define DIRECT_SERIAL_FMAS 1e6   /* products smaller than this run on the calling thread */

static int direct_mode = -1;   /* -1: CPU / environment default; 0 / 1 forced */

void conv_direct_force(int mode) { direct_mode = mode < 0 ? -1 : mode != 0; }

int conv_direct_available(void)
{
#ifdef CONV_DIRECT_X86
    /* The instruction-set choice (CPU, RN_NO_AVX512, kern_force_portable) is kern.c's alone. */
    return direct_mode != 0 && (kern_cpu_avx512() || kern_cpu_avx2());
#else
    return 0;
#endif
}

int conv_direct_same(const struct conv_desc *d)
{
    return d->stride == 1 && d->KH == d->KW && d->KH % 2 == 1 && 2 * d->pad == d->KH - 1 &&
           d->KH * d->KW <= MAXTAP;
}

int64_t conv_direct_panel_floats(int64_t K, int64_t cols) { return K * ((cols + NB - 1) / NB * NB); }

struct panel_job {
    const struct conv_desc *d;
    const float *x;
    int N, H, W, n0, n;
    float *col;
};

/* Panel cb of conv_direct_im2col. Its 64 columns fall into runs of one (image, output row); row
 * r of the panel holds im2col row r, input (ic, kh, kw), over those runs. Columns past the end
 * are zero. */
static void panel_fill(void *ctx, int64_t cb)
{
    const struct panel_job *jb = ctx;
    const struct conv_desc *d = jb->d;
    const int N = jb->N, H = jb->H, W = jb->W, n0 = jb->n0;
    const float *x = jb->x;
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t K = conv_k(d), ohw = (int64_t)OH * OW, cols = (int64_t)jb->n * ohw;
    const int s = d->stride, p = d->pad;
    float *panel = jb->col + cb * K * NB;   /* [K, NB] */
    const int64_t j_end = cols - cb * NB < NB ? cols : cb * NB + NB;
    for (int64_t r = 0; r < K; r++) {
        const int kw = (int)(r % d->KW);
        const int kh = (int)(r / d->KW % d->KH);
        const int ic = (int)(r / ((int64_t)d->KW * d->KH));
        /* Output columns [lo, hi) read input column iw = ow*s - p + kw inside [0, W). */
        int lo = 0, hi = OW;
        while (lo < OW && lo * s - p + kw < 0) lo++;
        while (hi > lo && (hi - 1) * s - p + kw >= W) hi--;
        float *dst = panel + r * NB;
        for (int64_t j = cb * NB; j < j_end;) {
            const int i = (int)(j / ohw), oh = (int)(j % ohw / OW), ow = (int)(j % OW);
            const int end = ow + (int)(j_end - j < OW - ow ? j_end - j : OW - ow);
            const int ih = oh * s - p + kh;
            const int inside = ih >= 0 && ih < H;
            /* x[row + q * s]: the input of output column q, for q in [a, b). */
            const int a = !inside ? end : lo > ow ? (lo < end ? lo : end) : ow;
            const int b = !inside ? end : hi < end ? (hi > a ? hi : a) : end;
            const int64_t row = (((int64_t)ic * N + n0 + i) * H + ih) * W - p + kw;
            float *o = dst + (j - cb * NB) - ow;   /* o[q]: column q of this run */
            for (int q = ow; q < a; q++) o[q] = 0.0f;
            if (s == 1) {
                memcpy(o + a, x + row + a, sizeof(float) * (size_t)(b - a));
            } else {
                for (int q = a; q < b; q++) o[q] = x[row + (int64_t)q * s];
            }
            for (int q = b; q < end; q++) o[q] = 0.0f;
            j += end - ow;
        }
        for (int64_t j = j_end - cb * NB; j < NB; j++) dst[j] = 0.0f;
    }
}

void conv_direct_im2col(const struct conv_desc *d, const float *x, int N, int H, int W, int n0, int n, float *col)
{
    const int OH = conv_out_size(H, d->KH, d->stride, d->pad);
    const int OW = conv_out_size(W, d->KW, d->stride, d->pad);
    const int64_t cols = (int64_t)n * OH * OW;
    struct panel_job jb = { d, x, N, H, W, n0, n, col };
    /* Panel by panel, so each thread writes its panels front to back. */
    pool_run((cols + NB - 1) / NB, panel_fill, &jb);
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

/* ---- AVX2 + FMA: the same FMA chains, 16 columns at a time ---- */

#define TARGET2 __attribute__((target("avx2,fma")))
#define NV8 2         /* ymm vectors per AVX2 tile */
#define NB8 (8 * NV8) /* columns per AVX2 tile */

/* One AVX2 register tile, as direct_tile but 16 columns: mk[t] + col are the lane masks (-1 or 0)
 * of tap t for the tile's columns, tl those of the columns that exist. */
#define ACC8_LOAD(i, v) (first || i >= mr || nv <= v ? z : _mm256_maskload_ps(y + i * ldc + 8 * v, tm[v]))
#define ACC8_ROW(i) __m256 d##i##0 = ACC8_LOAD(i, 0), d##i##1 = ACC8_LOAD(i, 1);
#define FMA8_ROW(i)                                                                                     \
    {                                                                                                   \
        const __m256 w = _mm256_broadcast_ss(a##i + t);                                                 \
        d##i##0 = _mm256_fmadd_ps(w, x0, d##i##0);                                                      \
        if (nv > 1) d##i##1 = _mm256_fmadd_ps(w, x1, d##i##1);                                          \
    }
#define OUT8_VEC(i, v, cv)                                                                              \
    {                                                                                                   \
        __m256 o = cv;                                                                                  \
        if (last) {                                                                                     \
            o = _mm256_add_ps(o, bi);                                                                   \
            if (res) o = _mm256_add_ps(o, _mm256_maskload_ps(res + i * ldc + 8 * v, tm[v]));           \
            if (relu) o = _mm256_max_ps(o, z);                                                          \
        }                                                                                               \
        _mm256_maskstore_ps(y + i * ldc + 8 * v, tm[v], o);                                             \
    }
#define OUT8_ROW(i)                                                                                     \
    if (i < mr) {                                                                                       \
        const __m256 bi = bias && last ? _mm256_set1_ps(bias[i]) : z;                                   \
        OUT8_VEC(i, 0, d##i##0)                                                                         \
        if (nv > 1) OUT8_VEC(i, 1, d##i##1)                                                             \
    }

TARGET2 __attribute__((always_inline)) static inline void
direct_tile8(const int nv, const int ntap, const int dense, int mr, int first, int last, int IC, const float *a, int64_t lda,
             const float *b, int64_t ldb, const int64_t *shift, const int32_t (*mk)[NB], int col, const int32_t *tl,
             const float *bias, const float *res, int relu, float *y, int64_t ldc)
{
    const __m256 z = _mm256_setzero_ps();
    const __m256i tm[NV8] = { _mm256_loadu_si256((const __m256i *)(tl + col)),
                              _mm256_loadu_si256((const __m256i *)(tl + col + 8)) };
    ACC8_ROW(0) ACC8_ROW(1) ACC8_ROW(2) ACC8_ROW(3) ACC8_ROW(4) ACC8_ROW(5)
    const float *a0 = a, *a1 = a + (mr > 1) * lda, *a2 = a + (mr > 2 ? 2 : mr - 1) * lda,
                *a3 = a + (mr > 3 ? 3 : mr - 1) * lda, *a4 = a + (mr > 4 ? 4 : mr - 1) * lda,
                *a5 = a + (mr > 5 ? 5 : mr - 1) * lda;
    for (int ic = 0; ic < IC; ic++) {
        for (int t = 0; t < ntap; t++) {
            const float *bt = b + shift[t];
            /* dense: one tap and all 16 columns exist (a GEMM's interior), so no lane needs a
             * mask and a plain load is cheaper than vmaskmovps. */
            const __m256 x0 = dense ? _mm256_loadu_ps(bt)
                                    : _mm256_maskload_ps(bt, _mm256_loadu_si256((const __m256i *)(mk[t] + col)));
            const __m256 x1 = nv < 2 ? z
                              : dense ? _mm256_loadu_ps(bt + 8)
                                      : _mm256_maskload_ps(bt + 8, _mm256_loadu_si256((const __m256i *)(mk[t] + col + 8)));
            FMA8_ROW(0) FMA8_ROW(1) FMA8_ROW(2) FMA8_ROW(3) FMA8_ROW(4) FMA8_ROW(5)
        }
        b += ldb;
        a0 += ntap; a1 += ntap; a2 += ntap; a3 += ntap; a4 += ntap; a5 += ntap;
    }
    OUT8_ROW(0) OUT8_ROW(1) OUT8_ROW(2) OUT8_ROW(3) OUT8_ROW(4) OUT8_ROW(5)
}

#define TILE8_ARGS mr, first, last, IC, a, lda, b, ldb, shift, mk, col, tl, bias, res, relu, y, ldc
#define TILE8_NV(nt_)                                                                                   \
    if (nv == 1) direct_tile8(1, nt_, 0, TILE8_ARGS);                                                   \
    else direct_tile8(2, nt_, 0, TILE8_ARGS);

TARGET2 static void direct_tile8_any(int mr, int nv, int ntap, int dense, int first, int last, int IC, const float *a, int64_t lda,
                                     const float *b, int64_t ldb, const int64_t *shift, const int32_t (*mk)[NB],
                                     int col, const int32_t *tl, const float *bias, const float *res, int relu,
                                     float *y, int64_t ldc)
{
    if (ntap == 1 && dense) {
        direct_tile8(2, 1, 1, TILE8_ARGS);
    } else if (ntap == 1) {
        TILE8_NV(1)
    } else if (ntap == 9) {
        TILE8_NV(9)
    } else {
        TILE8_NV(ntap)
    }
}

/* ---- the driver, shared by both instruction sets ---- */

/* The masks of one 64-column block in the forms the tiles read: bit j of m[t] when column j0+j
 * exists and tap t of its pixel lies in its image, as zmm masks (AVX-512) or int32 lanes (AVX2). */
struct block_masks {
    __mmask16 mt[MAXTAP][NV], tail[NV];
    int32_t mk[MAXTAP][NB], tl[NB];
};

static void block_masks_of(struct block_masks *bm, int avx512, int64_t j0, int64_t cols, int64_t hw, int H, int W,
                           int KW, int pad, int ntap)
{
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
    if (avx512) {
        for (int v = 0; v < NV; v++) {
            bm->tail[v] = (__mmask16)(tl >> (16 * v));
            for (int t = 0; t < ntap; t++) bm->mt[t][v] = (__mmask16)(m[t] >> (16 * v));
        }
        return;
    }
    for (int j = 0; j < NB; j++) {
        bm->tl[j] = -(int32_t)(tl >> j & 1);
        for (int t = 0; t < ntap; t++) bm->mk[t][j] = -(int32_t)(m[t] >> j & 1);
    }
}

/* One call's work, shared by the threads of pool_run: a task is one (64-column block, chunk of
 * MC output channels) pair and computes its outputs whole, over every input channel. */
struct direct_job {
    int OC, IC, H, W, KW, pad, ntap, avx512, relu, MC, icb;
    int64_t cols, hw, lda, ldb, bstride, ldc, nmc;
    uint64_t serial;                /* tells the masks of one call from another's */
    int64_t shift[MAXTAP];
    const float *A, *x, *bias, *residual;
    float *y;
};

/* The masks of the column block a thread last worked on (13 KiB a thread). */
static _Thread_local struct {
    struct block_masks bm;
    uint64_t serial;
    int64_t cb;
} tls_masks;

static uint64_t direct_serial;      /* atomic */

static void direct_task(void *ctx, int64_t task)
{
    const struct direct_job *jb = ctx;
    const int64_t nmc = jb->nmc, cols = jb->cols, lda = jb->lda, ldb = jb->ldb, ldc = jb->ldc;
    const int MC = jb->MC, OC = jb->OC, IC = jb->IC, icb = jb->icb, ntap = jb->ntap, relu = jb->relu;
    const int64_t cb = task / nmc, j0 = cb * NB;
    struct block_masks *bm = &tls_masks.bm;
    if (tls_masks.serial != jb->serial || tls_masks.cb != cb) {
        block_masks_of(bm, jb->avx512, j0, cols, jb->hw, jb->H, jb->W, jb->KW, jb->pad, ntap);
        tls_masks.serial = jb->serial;
        tls_masks.cb = cb;
    }
    const int ncol = (int)(cols - j0 >= NB ? NB : cols - j0);
    const int m_end = (int)((task % nmc) * MC + MC < OC ? (task % nmc) * MC + MC : OC);
    /* Input channels in blocks whose slice of the column block stays in L1 while every
     * output-channel tile of the chunk consumes it; partial sums wait in y. */
    for (int c0 = 0; c0 < IC; c0 += icb) {
        const int nc = IC - c0 < icb ? IC - c0 : icb;
        const int first = c0 == 0, last = c0 + nc == IC;
        for (int m0 = (int)(task % nmc) * MC; m0 < m_end; m0 += MR) {
            const int mr = m_end - m0 < MR ? m_end - m0 : MR;
            const float *a = jb->A + m0 * lda + (int64_t)c0 * ntap, *b = jb->x + c0 * ldb + cb * jb->bstride;
            const float *bs = jb->bias ? jb->bias + m0 : NULL;
            const float *res = jb->residual ? jb->residual + m0 * ldc + j0 : NULL;
            float *yt = jb->y + m0 * ldc + j0;
            if (jb->avx512) {
                direct_tile_any(mr, (ncol + 15) / 16, ntap, first, last, nc, a, lda, b, ldb, jb->shift,
                                (const __mmask16(*)[NV])bm->mt, bm->tail, bs, res, relu, yt, ldc);
                continue;
            }
            for (int col = 0; col < ncol; col += NB8)
                direct_tile8_any(mr, (ncol - col >= NB8 ? NB8 : ncol - col + 7) / 8, ntap, ncol - col >= NB8, first,
                                 last, nc, a, lda, b + col, ldb, jb->shift, (const int32_t(*)[NB])bm->mk, col, bm->tl,
                                 bs, res ? res + col : NULL, relu, yt + col, ldc);
        }
    }
}

/* conv_direct_gemm's body. Column block cb of input row ic starts at x + ic * ldb + cb * bstride:
 * bstride = NB for rows of plain [IC, cols] planes, IC * NB (with ldb = NB) for panels. */
static void direct_run(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                       const float *x, int64_t ldb, int64_t bstride, const float *bias, const float *residual,
                       int relu, float *y, int64_t ldc)
{
    RN_ASSERT(KH * KW <= MAXTAP && OC >= 1 && IC >= 1);
    RN_ASSERT(conv_direct_available());
    struct direct_job jb = {
        .OC = OC, .IC = IC, .H = H, .W = W, .KW = KW, .pad = pad, .ntap = KH * KW, .avx512 = kern_cpu_avx512(),
        .relu = relu, .hw = (int64_t)H * W, .lda = (int64_t)IC * KH * KW, .ldb = ldb, .bstride = bstride,
        .ldc = ldc, .A = A, .x = x, .bias = bias, .residual = residual, .y = y,
    };
    jb.cols = (int64_t)N * jb.hw;
    for (int t = 0; t < jb.ntap; t++) jb.shift[t] = (int64_t)(t / KW - pad) * W + (t % KW - pad);
    const int64_t ncb = (jb.cols + NB - 1) / NB;
    /* Enough tasks for both threads even when there are few column blocks (7x7 maps at batch 1). */
    jb.MC = ncb >= 8 ? 16 * MR : 4 * MR;
    jb.nmc = (OC + jb.MC - 1) / jb.MC;
    /* 128 channels x 64 columns x 4 bytes = 32 KiB of 1x1 input per block; the taps of a 3x3
     * reread the same few rows, so its blocks can be as large. The blocking is the same on both
     * instruction sets: it decides where partial sums are stored, not the order of the FMAs. */
    jb.icb = jb.ntap == 1 ? 128 : 64;
    jb.serial = __atomic_add_fetch(&direct_serial, 1, __ATOMIC_RELAXED);
    /* pool.c, not an OpenMP loop: on cores shared with other jobs a thread that is off its core
     * leaves its tasks to the others instead of holding the layer's barrier. Any thread may run
     * any task, and a task computes its outputs whole, so the bits do not change. */
    /* A small product (rn50-fmnist's layers at batch 1: a few hundred thousand FMAs, tens of
     * microseconds) runs on the calling thread: handing tasks over costs more than it saves. */
    if ((double)OC * jb.lda * jb.cols < DIRECT_SERIAL_FMAS) {
        for (int64_t t = 0; t < ncb * jb.nmc; t++) direct_task(&jb, t);
        return;
    }
    pool_run(ncb * jb.nmc, direct_task, &jb);
}

void conv_direct_gemm(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                      const float *x, int64_t ldb, const float *bias, const float *residual, int relu,
                      float *y, int64_t ldc)
{
    direct_run(OC, IC, KH, KW, pad, N, H, W, A, x, ldb, NB, bias, residual, relu, y, ldc);
}

void conv_direct_gemm_panels(int OC, int K, int cols, const float *A, const float *panels, const float *bias,
                             const float *residual, int relu, float *y, int64_t ldc)
{
    direct_run(OC, K, 1, 1, 0, 1, 1, cols, A, panels, NB, (int64_t)K * NB, bias, residual, relu, y, ldc);
}

#else

void conv_direct_gemm_panels(int OC, int K, int cols, const float *A, const float *panels, const float *bias,
                             const float *residual, int relu, float *y, int64_t ldc)
{
    (void)OC; (void)K; (void)cols; (void)A; (void)panels; (void)bias; (void)residual; (void)relu; (void)y; (void)ldc;
    RN_ASSERT(!"conv_direct_gemm_panels needs x86-64 with AVX-512 or AVX2");
}

void conv_direct_gemm(int OC, int IC, int KH, int KW, int pad, int N, int H, int W, const float *A,
                      const float *x, int64_t ldb, const float *bias, const float *residual, int relu,
                      float *y, int64_t ldc)
{
    (void)OC; (void)IC; (void)KH; (void)KW; (void)pad; (void)N; (void)H; (void)W; (void)A; (void)x;
    (void)ldb; (void)bias; (void)residual; (void)relu; (void)y; (void)ldc;
    RN_ASSERT(!"conv_direct_gemm needs x86-64 with AVX-512 or AVX2");
}

#endif
