/* kern_lut.c — palettized layers on their cached decoded weights (see kern_lut.h). */
#include "kern_lut.h"

#include "kern_x86.h"

#include <stdlib.h>

struct klut {
    struct conv_kernel base;
    const float *w;
};

static int64_t klut_scratch_per_image(const struct conv_kernel *base, int64_t ohw)
{
    return conv_scratch_floats(&base->d, ohw);
}

static void klut_forward(const struct conv_kernel *base, const float *x, int N, int H, int W, const float *residual,
                         int relu, const struct act_qparams *out_q, float *y, float *scratch, int64_t scratch_floats)
{
    (void)out_q;
    const struct klut *k = (const struct klut *)base;
    conv_forward(&base->d, x, N, H, W, k->w, base->bias, residual, relu, y, scratch, scratch_floats);
}

static void klut_free(struct conv_kernel *base) { free(base); }

struct conv_kernel *kern_lut_new(const struct conv_desc *d, const float *w, const float *bias)
{
    struct klut *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->base = (struct conv_kernel){ .kind = KERN_LUT, .d = *d, .bias = bias, .forward = klut_forward,
                                    .scratch_per_image = klut_scratch_per_image, .free = klut_free };
    k->w = w;
    return &k->base;
}

static void decode_portable(const uint8_t *idx, int64_t n, const float *table, float *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = table[idx[i]];
}

#ifdef KERN_X86
__attribute__((target("avx512f"))) static void decode_avx512(const uint8_t *idx, int64_t n, const float *table,
                                                             int n_bits, float *out)
{
    float t16[16] = { 0 };
    for (int i = 0; i < 1 << n_bits; i++) t16[i] = table[i];
    const __m512 t = _mm512_loadu_ps(t16);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(idx + i)));
        _mm512_storeu_ps(out + i, _mm512_permutexvar_ps(v, t));
    }
    decode_portable(idx + i, n - i, table, out + i);
}
#endif

void kern_lut_decode(const uint8_t *idx, int64_t n, const float *table, int n_bits, float *out)
{
#ifdef KERN_X86
    if (n_bits <= 4 && kern_cpu_avx512()) {
        decode_avx512(idx, n, table, n_bits, out);
        return;
    }
#endif
    decode_portable(idx, n, table, out);
}
