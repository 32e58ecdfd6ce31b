/* half.h — IEEE binary16 (F16) and bfloat16 (BF16) conversion to and from
 * float. Values are carried as raw uint16_t bit patterns so callers can read
 * and write them straight from file buffers.
 *
 * Narrowing rounds to nearest, ties to even, like hardware conversions and
 * PyTorch's .half()/.bfloat16(): values beyond the largest finite half round
 * to infinity, tiny values to (signed) zero or a subnormal. NaN stays NaN
 * (quiet, sign and top payload bits kept). Widening is exact. */
#ifndef RN_HALF_H
#define RN_HALF_H

#include <stdint.h>

uint16_t half_from_f32(float f);
float    half_to_f32(uint16_t h);
uint16_t bf16_from_f32(float f);
float    bf16_to_f32(uint16_t h);

/* Bulk variants: n elements, src and dst must not overlap. */
void half_from_f32_n(const float *src, uint16_t *dst, int64_t n);
void half_to_f32_n(const uint16_t *src, float *dst, int64_t n);
void bf16_from_f32_n(const float *src, uint16_t *dst, int64_t n);
void bf16_to_f32_n(const uint16_t *src, float *dst, int64_t n);

#endif
