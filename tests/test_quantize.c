/* test_quantize.c — int8 weight quantization and activation fake quantization by hand and on
 * random data: ranges, zero rows, pruned weights, error bounds, observers. */
#include "check.h"
#include "half.h"
#include "quantize.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

#define SEED 4242

int main(void)
{
    printf("seed %d\n", SEED);
    struct rng r;
    rng_seed(&r, SEED);

    /* Symmetric: the largest magnitude maps to +-127, every error is at most half a step. */
    {
        const int64_t OC = 5, K = 300;
        float *w = malloc(sizeof(float) * OC * K);
        for (int64_t i = 0; i < OC * K; i++) w[i] = (float)(0.05 * rng_normal(&r));
        for (int64_t k = 0; k < K; k++) w[3 * K + k] = 0.0f;   /* an all-zero channel */
        struct compressed_weight cw;
        memset(&cw, 0, sizeof cw);
        CHECK(quantize_weights_int8(w, OC, K, 1, NULL, &cw) == 0);
        for (int64_t oc = 0; oc < OC; oc++) {
            const float s = half_to_f32(cw.q_scale[oc]);
            int maxq = 0;
            for (int64_t k = 0; k < K; k++) {
                const int q = cw.q[oc * K + k];
                maxq = abs(q) > maxq ? abs(q) : maxq;
                CHECK(q >= -127 && q <= 127);
                CHECK(cw.dense[oc * K + k] == s * q);
                if (s > 0) CHECK(fabsf(cw.dense[oc * K + k] - w[oc * K + k]) <= 0.5f * s * 1.001f + 1e-7f);
            }
            if (oc == 3) {
                CHECK(s == 0.0f && maxq == 0);
            } else {
                CHECK(maxq == 127 || maxq == 126);   /* 126 when fp16 rounding raised the scale */
            }
        }
        for (int64_t k = 0; k < K; k++) CHECK(cw.dense[3 * K + k] == 0.0f && !isnan(cw.dense[3 * K + k]));
        compressed_weight_free(&cw);

        /* Pruned weights stay exactly zero; affine rows decode within half a step. */
        uint8_t *mask = malloc((size_t)(OC * K));
        for (int64_t i = 0; i < OC * K; i++) mask[i] = (uint8_t)(rng_below(&r, 2));
        for (int64_t i = 0; i < OC * K; i++) w[i] = (float)(0.1 * rng_uniform(&r) - 0.02);
        memset(&cw, 0, sizeof cw);
        CHECK(quantize_weights_int8(w, OC, K, 0, mask, &cw) == 0);
        for (int64_t oc = 0; oc < OC; oc++) {
            const float s = half_to_f32(cw.q_scale[oc]);
            for (int64_t k = 0; k < K; k++) {
                const int64_t i = oc * K + k;
                if (!mask[i]) CHECK(cw.dense[i] == 0.0f);
                else CHECK(fabsf(cw.dense[i] - w[i]) <= 0.5f * s * 1.01f + 1e-7f);
            }
        }
        compressed_weight_free(&cw);
        free(mask);
        free(w);
    }

    /* Activations: post-ReLU data gets zero point 0 and 256 levels; fake quant is idempotent. */
    {
        float x[1000];
        for (int i = 0; i < 1000; i++) x[i] = (float)fmax(0.0, rng_normal(&r));
        struct act_observer o;
        act_observer_init(&o, QUANT_MIN_MAX);
        act_observer_update(&o, x, 1000);
        struct act_qparams p;
        act_qparams_from_observer(&o, 0, &p);
        CHECK(p.zero_point == 0 && p.qmin == 0 && p.qmax == 255);
        CHECK_REL(p.scale, o.max / 255.0f, 1e-6);
        float y[1000];
        memcpy(y, x, sizeof y);
        act_fake_quant(y, 1000, &p);
        for (int i = 0; i < 1000; i++) CHECK(fabsf(y[i] - x[i]) <= 0.5f * p.scale * 1.001f);
        float z[1000];
        memcpy(z, y, sizeof z);
        act_fake_quant(z, 1000, &p);
        CHECK(memcmp(y, z, sizeof z) == 0);
        /* Values beyond the range clamp. */
        float big = 10.0f * o.max;
        act_fake_quant(&big, 1, &p);
        CHECK_REL(big, 255 * p.scale, 1e-6);
        /* Moving average: first batch initialises, later ones move 1 % of the way. */
        act_observer_init(&o, QUANT_MOVING_AVERAGE_MIN_MAX);
        const float a[2] = { -1.0f, 2.0f }, b[2] = { -3.0f, 4.0f };
        act_observer_update(&o, a, 2);
        act_observer_update(&o, b, 2);
        CHECK_ABS(o.min, -1.0 + 0.01 * (-3.0 + 1.0), 1e-6);
        CHECK_ABS(o.max, 2.0 + 0.01 * (4.0 - 2.0), 1e-6);
        act_qparams_from_observer(&o, 1, &p);
        CHECK(p.zero_point == 0 && p.qmin == -127);
        CHECK_REL(p.scale, o.max / 127.0f, 1e-6);
        struct act_qparams zero = { 0.0f, 0, 0, 255 };
        float v[3] = { 1, 2, 3 };
        act_fake_quant(v, 3, &zero);
        CHECK(v[0] == 0 && v[1] == 0 && v[2] == 0);
    }
    return check_summary();
}
