/* half.c — float <-> binary16 / bfloat16 by bit manipulation.
 *
 * Implements round-to-nearest-even narrowing (including subnormal results
 * and overflow to infinity) and exact widening. It does not use _Float16 or
 * F16C instructions, so results are identical on every machine; no SIMD. */
#include "half.h"

#include <string.h>

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Shifts m right by s (1 <= s <= 31), rounding to nearest, ties to even. */
static uint32_t shift_round_even(uint32_t m, unsigned s)
{
    uint32_t r = m >> s;
    uint32_t rem = m & ((1u << s) - 1u);
    uint32_t halfway = 1u << (s - 1u);
    if (rem > halfway || (rem == halfway && (r & 1u)))
        r++;
    return r;
}

uint16_t half_from_f32(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;

    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u)
            return (uint16_t)(sign | 0x7c00u);
        /* NaN: force the quiet bit so a payload living only in the low
         * mantissa bits cannot turn into infinity. */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    /* 65520 is halfway between 65504 (max half, odd mantissa) and 65536;
     * ties go to the even neighbour, which is infinity. */
    if (ax >= 0x477ff000u)
        return (uint16_t)(sign | 0x7c00u);
    if (ax >= 0x38800000u) {
        /* Normal half: rebias the exponent (127 -> 15) and round away the
         * 13 low mantissa bits; a carry into the exponent is correct. */
        return (uint16_t)(sign | shift_round_even(ax - 0x38000000u, 13));
    }
    /* Subnormal half (units of 2^-24) or zero. Below 2^-25 everything rounds
     * to zero; exactly 2^-25 is a tie that goes to even (zero). */
    uint32_t e = ax >> 23;
    if (e < 102)
        return sign;
    uint32_t mant = (ax & 0x7fffffu) | 0x800000u;
    /* value = mant * 2^(e-150) = (mant >> (126-e)) * 2^-24; rounding may
     * carry into 0x400, which is the encoding of the smallest normal. */
    return (uint16_t)(sign | shift_round_even(mant, 126u - e));
}

float half_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;

    if (exp == 0x1fu)
        return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    if (exp != 0)
        return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
    if (mant == 0)
        return f32_from_bits(sign);
    /* Subnormal half: normalise so that the leading 1 becomes implicit. */
    uint32_t e = 113u;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        e--;
    }
    return f32_from_bits(sign | (e << 23) | ((mant & 0x3ffu) << 13));
}

uint16_t bf16_from_f32(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40u); /* keep it a (quiet) NaN */
    /* Adding 0x7fff plus the lowest kept bit rounds to nearest even; a carry
     * out of the largest finite value correctly yields infinity. */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

void half_from_f32_n(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = half_from_f32(src[i]);
}

void half_to_f32_n(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = half_to_f32(src[i]);
}

void bf16_from_f32_n(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_from_f32(src[i]);
}

void bf16_to_f32_n(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        dst[i] = bf16_to_f32(src[i]);
}
