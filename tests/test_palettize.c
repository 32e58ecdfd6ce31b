/* test_palettize.c — palettization invariants on random weights for every n_bits and grouping
 * (per tensor, output-channel and input-channel groups, ragged last groups): at most 2^n_bits
 * distinct decoded values per group, decode(indices, LUT) == dense, fp16-exact values, nearest-entry
 * assignment, optimal objective never above Lloyd's; exact reconstruction of few-valued groups with a
 * zero-padded LUT; all-zero groups and channels; per-channel scale; pruned input; importances;
 * bad configs. */
#include "check.h"
#include "half.h"
#include "palettize.h"
#include "prune.h"
#include "rng.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#define SEED 90210
/* Relative slack on objectives of the same problem summed in different orders. */
#define TOL_SSE 1e-9

static float f16(float x) { return half_to_f32(half_from_f32(x)); }

static int distinct_floats(float *v, int64_t n)
{
    /* O(n^2) is fine at test sizes and needs no sort. */
    int64_t d = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = 0;
        while (j < d && v[j] != v[i]) j++;
        if (j == d) v[d++] = v[i];
    }
    return (int)d;
}

/* Checks every invariant of cw for weights w under cfg (kernel_size ks). */
static void check_invariants(const float *w, const struct compressed_weight *cw, const struct palettize_cfg *cfg,
                             int ks)
{
    const int64_t OC = cw->OC, K = cw->K, n = OC * K;
    const int k = 1 << cfg->n_bits;
    CHECK(cw->n_bits == cfg->n_bits);
    int64_t channels = cw->group_axis == 0 ? OC : K / ks;
    if (cfg->granularity == PAL_PER_TENSOR) CHECK(cw->n_groups == 1);
    else CHECK(cw->n_groups == (channels + cfg->group_size - 1) / cfg->group_size);
    /* decode(indices, LUT) == dense, bit for bit. */
    float *dec = malloc(sizeof(float) * n);
    palettize_decode(cw, ks, dec);
    CHECK(memcmp(dec, cw->dense, sizeof(float) * n) == 0);
    /* Per group: at most 2^n distinct values, each fp16-exact and never NaN. */
    float *vals = malloc(sizeof(float) * n);
    /* With a channel scale each row multiplies the LUT by its own scale: count per row then. */
    const int64_t row_sets = cw->channel_scale ? OC : 1;
    for (int g = 0; g < cw->n_groups; g++)
        for (int64_t rs = 0; rs < row_sets; rs++) {
            int64_t m = 0;
            for (int64_t oc = 0; oc < OC; oc++)
                for (int64_t c = 0; c < K; c++)
                    if (palettize_group_of(cw, ks, oc, c) == g && (!cw->mask || cw->mask[oc * K + c]) &&
                        (!cw->channel_scale || oc == rs))
                        vals[m++] = cw->dense[oc * K + c];
            CHECK(distinct_floats(vals, m) <= k);
        }
    int64_t p = 0;
    for (int64_t oc = 0; oc < OC; oc++)
        for (int64_t c = 0; c < K; c++) {
            const int64_t i = oc * K + c;
            const float d = cw->dense[i];
            CHECK(!isnan(d) && f16(d) == d);
            if (cw->mask && !cw->mask[i]) {
                CHECK(d == 0.0f);
                continue;
            }
            CHECK(cw->indices[p] < k);
            /* Without a scale, the index is the nearest LUT entry to the fp16 weight. */
            if (!cw->channel_scale) {
                const int g = palettize_group_of(cw, ks, oc, c);
                const float x = f16(w[i]);
                float best = INFINITY;   /* padding only exists when every value is exact */
                for (int e = 0; e < k; e++) best = fminf(best, fabsf(x - half_to_f32(cw->lut[g * k + e])));
                CHECK(fabsf(x - d) <= best || fabsf(x - d) <= fabsf(x) * 1e-7f);
            }
            p++;
        }
    CHECK(p == cw->n_nonzero);
    free(dec);
    free(vals);
}

static struct compressed_weight cw_zero(void)
{
    struct compressed_weight cw;
    memset(&cw, 0, sizeof cw);
    return cw;
}

int main(void)
{
    printf("seed %d\n", SEED);
    struct rng r;
    rng_seed(&r, SEED);
    /* A conv-shaped weight: OC 22, IC 7, 3x3 (K 63); channel counts divisible by neither 4 nor 3. */
    const int64_t OC = 22, IC = 7, KS = 9, K = IC * KS, n = OC * K;
    float *w = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.05 * rng_normal(&r));

    const struct palettize_cfg base = { .enabled = 1, .n_bits = 4, .granularity = PAL_PER_TENSOR };
    for (int bits = 1; bits <= 8; bits++)
        for (int mode = 0; mode < 4; mode++) {
            struct palettize_cfg cfg = base;
            cfg.n_bits = bits;
            if (mode == 1 || mode == 2) cfg.granularity = PAL_PER_GROUPED_CHANNEL;
            if (mode == 1) cfg.group_size = 4;                              /* 6 groups, last of 2 */
            if (mode == 2) { cfg.channel_axis = 1; cfg.group_size = 3; }    /* 3 groups, last of 1 */
            if (mode == 3) cfg.per_channel_scale = 1;
            struct compressed_weight cw = cw_zero(), cl = cw_zero();
            struct palettize_opts o = { .kernel_size = (int)KS }, ol = { .kernel_size = (int)KS, .lloyd_max_iter = 300 };
            CHECK(palettize(w, OC, K, &cfg, &o, &cw) == 0);
            check_invariants(w, &cw, &cfg, (int)KS);
            CHECK(palettize(w, OC, K, &cfg, &ol, &cl) == 0);
            check_invariants(w, &cl, &cfg, (int)KS);
            CHECK(o.sse <= ol.sse * (1 + TOL_SSE) + 1e-30);
            if (mode == 3) {
                for (int64_t oc = 0; oc < OC; oc++) {
                    float mx = 0;
                    for (int64_t c = 0; c < K; c++) mx = fmaxf(mx, fabsf(w[oc * K + c]));
                    CHECK(cw.channel_scale[oc] == half_from_f32(mx));
                }
            }
            if (bits == 8) {   /* 256 levels on ~1400 normal values: small relative error */
                double e = 0, s = 0;
                for (int64_t i = 0; i < n; i++) {
                    e += (cw.dense[i] - w[i]) * (double)(cw.dense[i] - w[i]);
                    s += (double)w[i] * w[i];
                }
                CHECK(e / s < 1e-4);
            }
            compressed_weight_free(&cw);
            compressed_weight_free(&cl);
        }

    /* Few distinct values: reproduced exactly, LUT zero-padded past them; -0 and +0 are one value. */
    {
        const float levels[5] = { -0.5f, -0.0f, 0.0f, 0.125f, 0.3f };
        float *v = malloc(sizeof(float) * n);
        for (int64_t i = 0; i < n; i++) v[i] = levels[rng_below(&r, 5)];
        struct palettize_cfg cfg = base;
        cfg.n_bits = 2;   /* 4 distinct values (the zeros merge) fit exactly */
        struct compressed_weight cw = cw_zero();
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
        for (int64_t i = 0; i < n; i++) CHECK(cw.dense[i] == f16(v[i]));
        cfg.n_bits = 3;
        compressed_weight_free(&cw);
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
        for (int64_t i = 0; i < n; i++) CHECK(cw.dense[i] == f16(v[i]));
        for (int e = 4; e < 8; e++) CHECK(cw.lut[e] == 0);
        CHECK(half_to_f32(cw.lut[0]) == -0.5f && half_to_f32(cw.lut[3]) == f16(0.3f) && cw.lut[1] == 0);
        compressed_weight_free(&cw);
        free(v);
    }

    /* All-zero group and channel: zeros, never NaN, scale 0. */
    {
        float *v = malloc(sizeof(float) * n);
        memcpy(v, w, sizeof(float) * n);
        for (int64_t i = 0; i < 4 * K; i++) v[i] = 0.0f;   /* group 0 of size 4 along axis 0 */
        struct palettize_cfg cfg = base;
        cfg.granularity = PAL_PER_GROUPED_CHANNEL;
        cfg.group_size = 4;
        for (int sc = 0; sc < 2; sc++) {
            cfg.per_channel_scale = sc;
            struct compressed_weight cw = cw_zero();
            CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
            for (int64_t i = 0; i < 4 * K; i++) CHECK(cw.dense[i] == 0.0f);
            for (int e = 0; e < 16; e++) CHECK(cw.lut[e] == 0);
            if (sc)
                for (int oc = 0; oc < 4; oc++) CHECK(cw.channel_scale[oc] == 0);
            check_invariants(v, &cw, &cfg, (int)KS);
            compressed_weight_free(&cw);
        }
        /* An all-zero tensor, per tensor with scale. */
        memset(v, 0, sizeof(float) * n);
        cfg = base;
        cfg.per_channel_scale = 1;
        struct compressed_weight cw = cw_zero();
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
        for (int64_t i = 0; i < n; i++) CHECK(cw.dense[i] == 0.0f);
        compressed_weight_free(&cw);
        free(v);
    }

    /* Per-channel scale round trip: channels of very different magnitude, 8 bits: each decoded row
     * is lut * scale rounded to fp16 and close to the input relative to its own channel. */
    {
        float *v = malloc(sizeof(float) * n);
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t c = 0; c < K; c++) v[oc * K + c] = (float)(ldexp(1.0, (int)oc - 12) * rng_normal(&r));
        struct palettize_cfg cfg = base;
        cfg.n_bits = 8;
        cfg.per_channel_scale = 1;
        struct compressed_weight cw = cw_zero();
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
        check_invariants(v, &cw, &cfg, (int)KS);
        int64_t p = 0;
        for (int64_t oc = 0; oc < OC; oc++) {
            const float s = half_to_f32(cw.channel_scale[oc]);
            double e = 0, t = 0;
            for (int64_t c = 0; c < K; c++, p++) {
                const int64_t i = oc * K + c;
                CHECK(cw.dense[i] == f16(half_to_f32(cw.lut[cw.indices[p]]) * s));
                e += (cw.dense[i] - v[i]) * (double)(cw.dense[i] - v[i]);
                t += (double)v[i] * v[i];
            }
            CHECK(e / t < 1e-3);   /* one 256-entry LUT for all rows: each row is well resolved */
        }
        compressed_weight_free(&cw);
        free(v);
    }

    /* Pruned input: only kept weights are clustered and indexed; pruned ones stay 0. The kept
     * weights take 4 values, the pruned ones others, so 2 bits reproduce the kept ones exactly. */
    {
        const float levels[4] = { -0.2f, -0.05f, 0.07f, 0.4f };
        float *v = malloc(sizeof(float) * n);
        struct compressed_weight cw = cw_zero();
        cw.OC = OC;
        cw.K = K;
        cw.mask = malloc((size_t)n);
        int64_t kept = 0;
        for (int64_t i = 0; i < n; i++) {
            cw.mask[i] = (uint8_t)(rng_below(&r, 3) != 0);
            v[i] = cw.mask[i] ? levels[rng_below(&r, 4)] : (float)rng_normal(&r);
            kept += cw.mask[i];
        }
        cw.n_nonzero = kept;
        struct palettize_cfg cfg = base;
        cfg.n_bits = 2;
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == 0);
        CHECK(cw.n_nonzero == kept);
        for (int64_t i = 0; i < n; i++) CHECK(cw.dense[i] == (cw.mask[i] ? f16(v[i]) : 0.0f));
        check_invariants(v, &cw, &cfg, (int)KS);
        compressed_weight_free(&cw);
        free(v);
    }

    /* Joint order prune -> palettize on prune_weights' own output (w = cw.dense): the mask and the
     * kept count survive, pruned weights stay 0, the LUT is over the nonzeros only. */
    {
        struct prune_cfg pc = { .enabled = 1, .target_sparsity = 0.6 };
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(w, OC, K, (int)KS, &pc, &cw) == 0);
        const int64_t kept = cw.n_nonzero;
        float *pruned = malloc(sizeof(float) * n);
        memcpy(pruned, cw.dense, sizeof(float) * n);
        struct palettize_cfg cfg = base;
        cfg.granularity = PAL_PER_GROUPED_CHANNEL;
        cfg.group_size = 8;
        CHECK(palettize_weights(cw.dense, OC, K, (int)KS, &cfg, &cw) == 0);
        CHECK(cw.n_nonzero == kept);
        check_invariants(pruned, &cw, &cfg, (int)KS);
        int zeros_in_lut = 0;   /* kept weights are all nonzero here, so no LUT entry needs to be 0 */
        for (int e = 0; e < cw.n_groups * 16; e++) zeros_in_lut += cw.lut[e] == 0;
        CHECK(zeros_in_lut == 0);
        compressed_weight_free(&cw);
        free(pruned);
    }

    /* Importances (SKM): with weight only on four values, 2 bits reproduce exactly those four. */
    {
        float *imp = calloc((size_t)n, sizeof(float));
        const int64_t hot[4] = { 3, 100, 777, 1200 };
        for (int h = 0; h < 4; h++) imp[hot[h]] = 1.0f + (float)h;
        struct palettize_cfg cfg = base;
        cfg.n_bits = 2;
        cfg.algorithm = PAL_SKM;
        struct compressed_weight cw = cw_zero();
        CHECK(palettize_weighted(w, OC, K, (int)KS, &cfg, imp, &cw) == 0);
        for (int h = 0; h < 4; h++) CHECK(cw.dense[hot[h]] == f16(w[hot[h]]));
        check_invariants(w, &cw, &cfg, (int)KS);
        compressed_weight_free(&cw);
        /* SKM without importances, and a negative importance, are errors. */
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "skm") != NULL);
        imp[5] = -1.0f;
        CHECK(palettize_weighted(w, OC, K, (int)KS, &cfg, imp, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "importance [0, 5]") != NULL);
        CHECK(cw.lut == NULL && cw.dense == NULL);
        free(imp);
    }

    /* Bad configs and weights: status codes with messages naming the field. */
    {
        struct compressed_weight cw = cw_zero();
        struct palettize_cfg cfg = base;
        cfg.n_bits = 9;
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "n_bits = 9") != NULL);
        cfg.n_bits = 0;
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        cfg = base;
        cfg.granularity = PAL_PER_GROUPED_CHANNEL;
        cfg.group_size = 0;
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "group_size = 0") != NULL);
        cfg.group_size = 2;
        cfg.channel_axis = 2;
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "channel_axis = 2") != NULL);
        cfg.channel_axis = 1;
        CHECK(palettize_weights(w, OC, K, 4, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "kernel_size = 4") != NULL);
        cfg = base;
        cfg.algorithm = PAL_DKM;
        CHECK(palettize_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        cfg = base;
        float *v = malloc(sizeof(float) * n);
        memcpy(v, w, sizeof(float) * n);
        v[K + 2] = NAN;
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "weight [1, 2]") != NULL);
        v[K + 2] = 1e6f;
        CHECK(palettize_weights(v, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(cw.lut == NULL && cw.indices == NULL && cw.dense == NULL);
        free(v);
    }
    free(w);
    return check_summary();
}
