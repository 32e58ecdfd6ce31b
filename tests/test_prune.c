/* test_prune.c — magnitude pruning: exact kept counts against a sort-based reference on random
 * data, ties, zero units, sparsity 0 and 1, the structure of per-kernel, per-channel, block and n:m
 * masks, exact reported sparsity, keep-count rounding, bad configs, and the polynomial schedule. */
#include "check.h"
#include "prune.h"
#include "rng.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#define SEED 31337

static int cmp_desc(const void *a, const void *b)
{
    const double u = *(const double *)a, v = *(const double *)b;
    return (u < v) - (u > v);
}

static struct compressed_weight cw_zero(void)
{
    struct compressed_weight cw;
    memset(&cw, 0, sizeof cw);
    return cw;
}

/* Reference: sort the unit scores, take the keep-th largest as threshold, count units at or above
 * it (or above 0 when the threshold is 0). */
static int64_t ref_kept_units(const double *score, int64_t n, double s)
{
    const int64_t keep = prune_keep_count(n, s);
    if (keep == n) return n;
    if (keep == 0) return 0;
    double *t = malloc(sizeof(double) * n);
    memcpy(t, score, sizeof(double) * n);
    qsort(t, (size_t)n, sizeof(double), cmp_desc);
    const double thr = t[keep - 1];
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) c += thr == 0.0 ? score[i] > 0.0 : score[i] >= thr;
    free(t);
    return c;
}

/* Common mask checks: dense = w * mask, n_nonzero and sparsity exact. */
static void check_common(const float *w, const struct compressed_weight *cw)
{
    const int64_t n = cw->OC * cw->K;
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        CHECK(cw->mask[i] <= 1);
        kept += cw->mask[i];
        CHECK(cw->dense[i] == (cw->mask[i] ? w[i] : 0.0f));
    }
    CHECK(kept == cw->n_nonzero);
    CHECK(prune_sparsity(cw) == 1.0 - (double)kept / (double)n);
}

int main(void)
{
    printf("seed %d\n", SEED);
    struct rng r;
    rng_seed(&r, SEED);
    const int64_t OC = 10, IC = 6, KS = 9, K = IC * KS, n = OC * K;
    float *w = malloc(sizeof(float) * n), *wt = malloc(sizeof(float) * n);
    double *score = malloc(sizeof(double) * n);
    for (int64_t i = 0; i < n; i++) w[i] = (float)rng_normal(&r);
    /* Tied data: few magnitudes, with zeros. */
    for (int64_t i = 0; i < n; i++) wt[i] = (float)((int)rng_below(&r, 5) - 2) * 0.25f;

    /* Keep counts: decimal sparsities give their exact count. */
    CHECK(prune_keep_count(100, 0.7) == 30);
    CHECK(prune_keep_count(100, 0.9) == 10);
    CHECK(prune_keep_count(10, 0.25) == 8);   /* ceil(7.5) */
    CHECK(prune_keep_count(7, 0.0) == 7 && prune_keep_count(7, 1.0) == 0);
    CHECK(prune_keep_count(25502912, 0.75) == 6375728);

    const double sparsities[] = { 0.0, 0.1, 0.25, 1.0 / 3.0, 0.5, 0.75, 0.9, 0.95, 0.999, 1.0 };
    for (size_t si = 0; si < sizeof sparsities / sizeof *sparsities; si++) {
        const double s = sparsities[si];
        for (int gran = 0; gran < 4; gran++)   /* scalar, block 4 (ragged 10 = 4+4+2), kernel, channel */
            for (int tied = 0; tied < 2; tied++) {
                const float *x = tied ? wt : w;
                struct prune_cfg cfg = { .enabled = 1, .target_sparsity = s };
                int64_t nu = 0, usz = 1;
                if (gran == 0) {
                    for (int64_t i = 0; i < n; i++) score[nu++] = fabs((double)x[i]);
                } else if (gran == 1) {
                    cfg.block_size = 4;
                    for (int64_t b = 0; b < OC; b += 4)
                        for (int64_t c = 0; c < K; c++) {
                            double a = 0;
                            for (int64_t rr = b; rr < b + 4 && rr < OC; rr++) a += (double)x[rr * K + c] * x[rr * K + c];
                            score[nu++] = a;
                        }
                } else if (gran == 2) {
                    cfg.granularity = PRUNE_PER_KERNEL;
                    usz = KS;
                    for (int64_t u = 0; u < n / KS; u++) {
                        double a = 0;
                        for (int64_t j = 0; j < KS; j++) a += (double)x[u * KS + j] * x[u * KS + j];
                        score[nu++] = a;
                    }
                } else {
                    cfg.granularity = PRUNE_PER_CHANNEL;
                    usz = K;
                    for (int64_t oc = 0; oc < OC; oc++) {
                        double a = 0;
                        for (int64_t c = 0; c < K; c++) a += (double)x[oc * K + c] * x[oc * K + c];
                        score[nu++] = a;
                    }
                }
                struct compressed_weight cw = cw_zero();
                CHECK(prune_weights(x, OC, K, (int)KS, &cfg, &cw) == 0);
                check_common(x, &cw);
                /* Exact count against the reference; without ties exactly ceil(n (1 - s)) units. */
                const int64_t ref = ref_kept_units(score, nu, s);
                int64_t kept_units = 0;
                if (gran == 0) {
                    kept_units = cw.n_nonzero;
                } else if (gran == 1) {
                    for (int64_t b = 0, u = 0; b < OC; b += 4)
                        for (int64_t c = 0; c < K; c++, u++) {
                            /* A block column is kept or pruned whole. */
                            for (int64_t rr = b; rr < b + 4 && rr < OC; rr++) CHECK(cw.mask[rr * K + c] == cw.mask[b * K + c]);
                            kept_units += cw.mask[b * K + c];
                        }
                } else {
                    for (int64_t u = 0; u < nu; u++) {
                        for (int64_t j = 0; j < usz; j++) CHECK(cw.mask[u * usz + j] == cw.mask[u * usz]);
                        kept_units += cw.mask[u * usz];
                    }
                }
                CHECK(kept_units == ref);
                if (!tied && s < 1.0) CHECK(kept_units == prune_keep_count(nu, s));
                if (tied) CHECK(kept_units >= prune_keep_count(nu, s) || s > 0);   /* zeros may go */
                if (s == 0.0) CHECK(cw.n_nonzero == n);
                if (s == 1.0) CHECK(cw.n_nonzero == 0);
                /* Every kept weight is at least as large as every pruned one (per scalar). */
                if (gran == 0) {
                    float minkept = INFINITY, maxpruned = 0;
                    for (int64_t i = 0; i < n; i++) {
                        if (cw.mask[i]) minkept = fminf(minkept, fabsf(x[i]));
                        else maxpruned = fmaxf(maxpruned, fabsf(x[i]));
                    }
                    CHECK(cw.n_nonzero == 0 || cw.n_nonzero == n || minkept >= maxpruned);
                }
                compressed_weight_free(&cw);
            }
    }

    /* Ties are kept: 8 equal magnitudes, keep 3 -> all 8 kept. */
    {
        float v[16];
        for (int i = 0; i < 16; i++) v[i] = i < 8 ? 0.01f * (float)(i + 1) : (i % 2 ? 1.0f : -1.0f);
        struct prune_cfg cfg = { .enabled = 1, .target_sparsity = 1.0 - 3.0 / 16 };
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(v, 2, 8, 1, &cfg, &cw) == 0);
        CHECK(cw.n_nonzero == 8);
        for (int i = 0; i < 16; i++) CHECK(cw.mask[i] == (i >= 8));
        compressed_weight_free(&cw);
    }

    /* All-zero tensor: any s > 0 prunes everything (already zero); s = 0 keeps the mask full. */
    {
        float *z = calloc((size_t)n, sizeof(float));
        struct prune_cfg cfg = { .enabled = 1, .target_sparsity = 0.5 };
        for (int gran = 0; gran < PRUNE_GRANULARITY_COUNT; gran++) {
            cfg.granularity = (enum prune_granularity)gran;
            struct compressed_weight cw = cw_zero();
            CHECK(prune_weights(z, OC, K, (int)KS, &cfg, &cw) == 0);
            CHECK(cw.n_nonzero == 0 && prune_sparsity(&cw) == 1.0);
            for (int64_t i = 0; i < n; i++) CHECK(cw.dense[i] == 0.0f);
            compressed_weight_free(&cw);
        }
        cfg.granularity = PRUNE_PER_SCALAR;
        cfg.target_sparsity = 0.0;
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(z, OC, K, (int)KS, &cfg, &cw) == 0);
        CHECK(cw.n_nonzero == n && prune_sparsity(&cw) == 0.0);
        compressed_weight_free(&cw);
        free(z);
    }

    /* n:m: 2:4 along K = 54 (13 full runs + a run of 2 that loses floor(2*2/4) = 1). */
    for (int t = 0; t < 2; t++) {
        const float *x = t ? wt : w;
        struct prune_cfg cfg = { .enabled = 1, .target_sparsity = 0.9, .n_m_n = 2, .n_m_m = 4 };
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(x, OC, K, (int)KS, &cfg, &cw) == 0);
        check_common(x, &cw);
        CHECK(cw.n_nonzero == OC * (13 * 2 + 1));
        for (int64_t oc = 0; oc < OC; oc++)
            for (int64_t c0 = 0; c0 < K; c0 += 4) {
                const int64_t rlen = c0 + 4 <= K ? 4 : K - c0;
                int zeros = 0;
                float maxz = 0, mink = INFINITY;
                for (int64_t c = c0; c < c0 + rlen; c++) {
                    const float a = fabsf(x[oc * K + c]);
                    if (cw.mask[oc * K + c]) mink = fminf(mink, a);
                    else {
                        zeros++;
                        maxz = fmaxf(maxz, a);
                    }
                }
                CHECK(zeros == (rlen == 4 ? 2 : 1));
                CHECK(maxz <= mink);
            }
        compressed_weight_free(&cw);
    }
    /* 1:1 prunes all, 0:4 nothing. */
    {
        struct prune_cfg cfg = { .enabled = 1, .n_m_n = 1, .n_m_m = 1 };
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == 0 && cw.n_nonzero == 0);
        compressed_weight_free(&cw);
        cfg.n_m_n = 0;
        cfg.n_m_m = 4;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == 0 && cw.n_nonzero == n);
        compressed_weight_free(&cw);
    }
    /* A larger random tensor: exact count at 75 % (selection on 1M scores). */
    {
        const int64_t bo = 512, bk = 2304, bn = bo * bk;
        float *big = malloc(sizeof(float) * bn);
        for (int64_t i = 0; i < bn; i++) big[i] = (float)rng_normal(&r);
        struct prune_cfg cfg = { .enabled = 1, .target_sparsity = 0.75 };
        struct compressed_weight cw = cw_zero();
        CHECK(prune_weights(big, bo, bk, 9, &cfg, &cw) == 0);
        /* Exactly a quarter unless float magnitudes tie at the threshold (kept: then a few more). */
        double *sc = malloc(sizeof(double) * bn);
        for (int64_t i = 0; i < bn; i++) sc[i] = fabs((double)big[i]);
        CHECK(cw.n_nonzero == ref_kept_units(sc, bn, 0.75));
        CHECK(cw.n_nonzero >= bn / 4 && cw.n_nonzero <= bn / 4 + 2);
        printf("1.18M normal weights at 75 %%: kept %lld of %lld (target %lld)\n", (long long)cw.n_nonzero,
               (long long)bn, (long long)(bn / 4));
        free(sc);
        compressed_weight_free(&cw);
        free(big);
    }

    /* Bad configs: status codes with messages naming the field; cw untouched. */
    {
        struct compressed_weight cw = cw_zero();
        struct prune_cfg cfg = { .enabled = 1, .target_sparsity = 1.5 };
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "target_sparsity = 1.5") != NULL);
        cfg.target_sparsity = NAN;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        cfg.target_sparsity = 0.5;
        cfg.block_size = -2;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "block_size = -2") != NULL);
        cfg.block_size = 4;
        cfg.granularity = PRUNE_PER_KERNEL;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        cfg.block_size = 0;
        CHECK(prune_weights(w, OC, K, 7, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "kernel_size = 7") != NULL);
        cfg.granularity = PRUNE_PER_SCALAR;
        cfg.n_m_n = 5;
        cfg.n_m_m = 4;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "n_m_ratio = [5, 4]") != NULL);
        cfg.n_m_n = 2;
        cfg.block_size = 2;
        CHECK(prune_weights(w, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        cfg = (struct prune_cfg){ .enabled = 1, .target_sparsity = 0.5 };
        float *v = malloc(sizeof(float) * n);
        memcpy(v, w, sizeof(float) * n);
        v[3 * K + 1] = INFINITY;
        CHECK(prune_weights(v, OC, K, (int)KS, &cfg, &cw) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "weight [3, 1]") != NULL);
        CHECK(cw.mask == NULL && cw.dense == NULL);
        free(v);
    }

    /* Polynomial schedule: initial at step 0, target at the last, cubic in between. */
    {
        CHECK(prune_polynomial_sparsity(0.0, 0.9, 0, 10, 3) == 0.0);
        CHECK_ABS(prune_polynomial_sparsity(0.0, 0.9, 9, 10, 3), 0.9, 1e-15);
        CHECK_ABS(prune_polynomial_sparsity(0.1, 0.9, 3, 7, 3), 0.9 + (0.1 - 0.9) * 0.125, 1e-15);
        CHECK(prune_polynomial_sparsity(0.0, 0.9, 42, 10, 3) == 0.9);   /* clamped */
        CHECK(prune_polynomial_sparsity(0.0, 0.9, 0, 1, 3) == 0.9);
        double last = -1;
        for (int i = 0; i < 10; i++) {
            const double s = prune_polynomial_sparsity(0.0, 0.9, i, 10, 3);
            CHECK(s > last);
            last = s;
        }
    }
    free(w);
    free(wt);
    free(score);
    return check_summary();
}
