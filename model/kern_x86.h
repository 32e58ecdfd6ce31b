/* kern_x86.h — internal: small AVX-512 helpers the kernels share (included by kern*.c only). */
#ifndef RN_KERN_X86_H
#define RN_KERN_X86_H

#if defined(__x86_64__) && defined(__GNUC__)
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
#endif

#endif
