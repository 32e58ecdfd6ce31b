/* kern_x86.h — internal: small AVX-512 helpers the kernels share (included by kern*.c only). */
#ifndef RN_KERN_X86_H
#define RN_KERN_X86_H

#if defined(__x86_64__) && defined(__GNUC__)
#include "kern.h"

#include <immintrin.h>
#define KERN_X86 1

/* roundf on 16 lanes (ties away from zero): truncate, then step away from zero where the dropped
 * part is >= 0.5. Exact for every float. */
__attribute__((target("avx512f"), always_inline)) static inline __m512 kern_round_away(__m512 v)
{
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m512 frac = _mm512_abs_ps(_mm512_sub_ps(v, t));
    const __mmask16 up = _mm512_cmp_ps_mask(frac, _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u));
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(_mm512_set1_ps(1.0f)), sign));
    return _mm512_mask_add_ps(t, up, t, one);
}

/* A fake quantization (struct act_qparams) on 16 lanes, as kern_fq_ref computes it value by
 * value: scale * (clamp(roundf(x * (1 / scale)) + zp, qmin, qmax) - zp). Its constants are
 * broadcast once by kern_fq16_of; a scale that is not positive makes inv and scale 0, so every
 * finite x gives 0, as the reference does. */
struct kern_fq16 {
    __m512 inv, zp, lo, hi, sc;
};

__attribute__((target("avx512f"), always_inline)) static inline struct kern_fq16 kern_fq16_of(const struct act_qparams *q)
{
    const int on = q->scale > 0;
    return (struct kern_fq16){ _mm512_set1_ps(on ? 1.0f / q->scale : 0.0f), _mm512_set1_ps((float)q->zero_point),
                               _mm512_set1_ps((float)q->qmin), _mm512_set1_ps((float)q->qmax),
                               _mm512_set1_ps(on ? q->scale : 0.0f) };
}

__attribute__((target("avx512f"), always_inline)) static inline __m512 kern_fq16(const struct kern_fq16 *c, __m512 x)
{
    __m512 r = _mm512_add_ps(kern_round_away(_mm512_mul_ps(x, c->inv)), c->zp);
    r = _mm512_min_ps(_mm512_max_ps(r, c->lo), c->hi);
    return _mm512_mul_ps(c->sc, _mm512_sub_ps(r, c->zp));
}
#endif

#endif
