/* prune.c — magnitude pruning masks for every granularity of prune.h (per scalar, blocks of
 * output channels, kernels, channels, n:m), the exact resulting sparsity and the polynomial
 * sparsity schedule. Training with masks (fine-tuning, finalize) is the trainer's; this file only
 * decides which weights go.
 *
 * The threshold is the keep-th largest unit score, found by selection in O(n_units) (Hoare's
 * FIND with a median-of-three pivot) on a copy of the scores rather than a full sort. */
#include "prune.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t prune_keep_count(int64_t n_units, double sparsity)
{
    if (sparsity <= 0.0) return n_units;
    if (sparsity >= 1.0) return 0;
    /* n * (1 - s) carries rounding error of a few ulps; an exact integer must not be pushed up to
     * the next one by it, so shave a relative 1e-12 before the ceiling. */
    const double t = (double)n_units * (1.0 - sparsity);
    int64_t keep = (int64_t)ceil(t - 1e-12 * (t > 1.0 ? t : 1.0));
    return keep < 0 ? 0 : (keep > n_units ? n_units : keep);
}

double prune_polynomial_sparsity(double initial, double target, int64_t step_i, int64_t n_steps, double power)
{
    if (n_steps <= 1) return target;
    const int64_t i = step_i < 0 ? 0 : (step_i > n_steps - 1 ? n_steps - 1 : step_i);
    const double f = 1.0 - (double)i / (double)(n_steps - 1);
    return target + (initial - target) * pow(f, power);
}

double prune_sparsity(const struct compressed_weight *cw)
{
    const int64_t n = cw->OC * cw->K;
    if (!cw->mask || n == 0) return 0.0;
    return 1.0 - (double)cw->n_nonzero / (double)n;
}

/* The element of rank r (0-based, ascending) of a[0..n), reordering a. */
static double prune_select(double *a, int64_t n, int64_t r)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        /* Median of three as pivot keeps sorted and reversed inputs linear. */
        double p = a[lo], q = a[lo + (hi - lo) / 2], s = a[hi];
        const double x = p < q ? (q < s ? q : (p < s ? s : p)) : (p < s ? p : (q < s ? s : q));
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < x) i++;
            while (x < a[j]) j--;
            if (i <= j) {
                const double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (j < r) lo = i;
        if (r < i) hi = j;
    }
    return a[r];
}

/* The unit layout of a granularity: unit u covers rows [r0, r1) x columns [c0, c1). */
struct prune_units {
    int64_t OC, K;
    int kind;       /* 0 scalar, 1 column blocks of rows, 2 kernel, 3 channel */
    int64_t bs, ks;
    int64_t n;      /* number of units */
};

static void prune_unit_box(const struct prune_units *u, int64_t id, int64_t *r0, int64_t *r1, int64_t *c0,
                           int64_t *c1)
{
    switch (u->kind) {
    case 0:
        *r0 = id / u->K;
        *r1 = *r0 + 1;
        *c0 = id % u->K;
        *c1 = *c0 + 1;
        break;
    case 1: {   /* id = block * K + column */
        const int64_t b = id / u->K;
        *r0 = b * u->bs;
        *r1 = *r0 + u->bs < u->OC ? *r0 + u->bs : u->OC;
        *c0 = id % u->K;
        *c1 = *c0 + 1;
        break;
    }
    case 2: {   /* id = oc * (K / ks) + kernel */
        const int64_t nk = u->K / u->ks;
        *r0 = id / nk;
        *r1 = *r0 + 1;
        *c0 = (id % nk) * u->ks;
        *c1 = *c0 + u->ks;
        break;
    }
    default:
        *r0 = id;
        *r1 = id + 1;
        *c0 = 0;
        *c1 = u->K;
        break;
    }
}

/* n:m along each row; ties go to the lower index (a stable order by |w|). */
static void prune_n_m(const float *w, int64_t OC, int64_t K, int n_, int m_, uint8_t *mask)
{
    int64_t idx[256];
    int64_t *ord = m_ <= 256 ? idx : malloc(sizeof(int64_t) * (size_t)m_);
    RN_ASSERT(ord);
    for (int64_t oc = 0; oc < OC; oc++)
        for (int64_t c0 = 0; c0 < K; c0 += m_) {
            const int64_t r = c0 + m_ <= K ? m_ : K - c0;
            const int64_t zeros = r == m_ ? n_ : (int64_t)n_ * r / m_;
            const float *row = w + oc * K + c0;
            /* Insertion sort of the run's positions by (|w|, position): m is small (4, 8, 16). */
            for (int64_t a = 0; a < r; a++) {
                int64_t b = a;
                while (b > 0 && fabsf(row[ord[b - 1]]) > fabsf(row[a])) {
                    ord[b] = ord[b - 1];
                    b--;
                }
                ord[b] = a;
            }
            uint8_t *mrow = mask + oc * K + c0;
            for (int64_t a = 0; a < r; a++) mrow[a] = 1;
            for (int64_t a = 0; a < zeros; a++) mrow[ord[a]] = 0;
        }
    if (ord != idx) free(ord);
}

int prune_weights(const float *w, int64_t OC, int64_t K, int kernel_size, const struct prune_cfg *cfg,
                  struct compressed_weight *cw)
{
    RN_ASSERT(!cw->mask);   /* prune a layer once */
    const int nm = cfg->n_m_n != 0 || cfg->n_m_m != 0;
    if (OC < 1 || K < 1)
        return status_error(STATUS_BAD_INPUT, "prune: weight shape [%lld, %lld], expected positive sizes",
                            (long long)OC, (long long)K);
    if (cfg->granularity < 0 || cfg->granularity >= PRUNE_GRANULARITY_COUNT)
        return status_error(STATUS_BAD_INPUT, "prune: granularity = %d, expected per_scalar, per_kernel or "
                            "per_channel", (int)cfg->granularity);
    if (!nm && !(cfg->target_sparsity >= 0.0 && cfg->target_sparsity <= 1.0))
        return status_error(STATUS_BAD_INPUT, "prune: target_sparsity = %g, expected 0..1", cfg->target_sparsity);
    if (cfg->block_size < 0)
        return status_error(STATUS_BAD_INPUT, "prune: block_size = %d, expected >= 0 (0 or 1: no blocks)",
                            cfg->block_size);
    if (cfg->block_size > 1 && cfg->granularity != PRUNE_PER_SCALAR)
        return status_error(STATUS_BAD_INPUT, "prune: block_size = %d needs granularity per_scalar",
                            cfg->block_size);
    if (nm) {
        if (cfg->n_m_m < 1 || cfg->n_m_n < 0 || cfg->n_m_n > cfg->n_m_m)
            return status_error(STATUS_BAD_INPUT, "prune: n_m_ratio = [%d, %d], expected 0 <= n <= m, m >= 1",
                                cfg->n_m_n, cfg->n_m_m);
        if (cfg->granularity != PRUNE_PER_SCALAR || cfg->block_size > 1)
            return status_error(STATUS_BAD_INPUT, "prune: n_m_ratio = [%d, %d] cannot be combined with block_size "
                                "or a granularity other than per_scalar", cfg->n_m_n, cfg->n_m_m);
    }
    if (cfg->granularity == PRUNE_PER_KERNEL && (kernel_size < 1 || K % kernel_size != 0))
        return status_error(STATUS_BAD_INPUT, "prune: kernel_size = %d does not divide K = %lld (per_kernel "
                            "units are KH*KW consecutive columns)", kernel_size, (long long)K);
    const int64_t n = OC * K;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(w[i]))
            return status_error(STATUS_BAD_INPUT, "prune: weight [%lld, %lld] = %g is not finite",
                                (long long)(i / K), (long long)(i % K), (double)w[i]);

    struct prune_units u = { .OC = OC, .K = K, .bs = cfg->block_size, .ks = kernel_size };
    if (cfg->granularity == PRUNE_PER_CHANNEL) {
        u.kind = 3;
        u.n = OC;
    } else if (cfg->granularity == PRUNE_PER_KERNEL) {
        u.kind = 2;
        u.n = OC * (K / kernel_size);
    } else if (cfg->block_size > 1) {
        u.kind = 1;
        u.n = (OC + cfg->block_size - 1) / cfg->block_size * K;
    } else {
        u.kind = 0;
        u.n = n;
    }
    uint8_t *mask = malloc((size_t)n);
    double *score = nm ? NULL : malloc(sizeof(double) * (size_t)u.n);
    double *tmp = nm ? NULL : malloc(sizeof(double) * (size_t)u.n);
    float *dense = cw->dense ? cw->dense : malloc(sizeof(float) * (size_t)n);
    int rc = STATUS_OK;
    if (!mask || (!nm && (!score || !tmp)) || !dense) {
        rc = status_error(STATUS_NOMEM, "prune: out of memory for a [%lld, %lld] weight", (long long)OC,
                          (long long)K);
        goto fail;
    }
    if (nm) {
        prune_n_m(w, OC, K, cfg->n_m_n, cfg->n_m_m, mask);
    } else {
        /* Scores: |w| for single weights, the squared L2 norm for groups (same order as L2). */
        for (int64_t id = 0; id < u.n; id++) {
            int64_t r0, r1, c0, c1;
            prune_unit_box(&u, id, &r0, &r1, &c0, &c1);
            double sc = 0.0;
            if (u.kind == 0) {
                sc = fabs((double)w[id]);
            } else {
                for (int64_t r = r0; r < r1; r++)
                    for (int64_t c = c0; c < c1; c++) sc += (double)w[r * K + c] * w[r * K + c];
            }
            score[id] = sc;
        }
        const int64_t keep = prune_keep_count(u.n, cfg->target_sparsity);
        /* keep == n_units (s = 0) keeps everything, zeros included; keep == 0 prunes everything. */
        double thr = -1.0;
        if (keep == 0) {
            thr = INFINITY;
        } else if (keep < u.n) {
            memcpy(tmp, score, sizeof(double) * (size_t)u.n);
            thr = prune_select(tmp, u.n, u.n - keep);   /* the keep-th largest */
        }
        for (int64_t id = 0; id < u.n; id++) {
            /* Ties at the threshold are kept; a threshold of 0 prunes the zero units (see prune.h). */
            const uint8_t kept = thr == 0.0 ? score[id] > 0.0 : score[id] >= thr;
            if (u.kind == 0) {   /* a unit is one weight: no box arithmetic */
                mask[id] = kept;
                continue;
            }
            int64_t r0, r1, c0, c1;
            prune_unit_box(&u, id, &r0, &r1, &c0, &c1);
            for (int64_t r = r0; r < r1; r++)
                for (int64_t c = c0; c < c1; c++) mask[r * K + c] = kept;
        }
    }
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        kept += mask[i];
        dense[i] = mask[i] ? w[i] : 0.0f;
    }
    cw->OC = OC;
    cw->K = K;
    cw->mask = mask;
    cw->n_nonzero = kept;
    cw->dense = dense;
    free(score);
    free(tmp);
    return STATUS_OK;
fail:
    free(mask);
    free(score);
    free(tmp);
    if (dense != cw->dense) free(dense);
    return rc;
}
