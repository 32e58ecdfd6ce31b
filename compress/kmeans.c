/* kmeans.c — exact 1-D weighted k-means by dynamic programming, its brute-force reference, and
 * plain Lloyd iterations (see kmeans.h).
 *
 * The DP: D_l[i] is the least cost of clustering the first i sorted values into l contiguous
 * clusters, D_l[i] = min_{m < i} D_{l-1}[m] + cost(m, i), where cost(m, i) is the weighted
 * squared error of x[m..i) around its weighted mean, O(1) from prefix sums. The cost satisfies
 * the quadrangle inequality, so the leftmost optimal split m*(i) is non-decreasing in i and each
 * layer can be solved by divide and conquer (compute m* for the middle row, recurse on the two
 * halves with the split range cut at m*), O(n log n) per layer instead of O(n^2). This is the
 * algorithm of Ckmeans.1d.dp (Wang & Song 2011; Grønlund et al. 2017). Two refinements make the
 * 8-bit case (256 layers) cheap: the split of row i with l clusters is not left of its split with
 * l - 1 clusters, and once clusters are narrow, sub-ranges are finished by Knuth's sweep (rows in
 * decreasing order, each scanning between the two bounds). The plain divide and conquer is kept as
 * kmeans1d_optimal_dc, the reference tests compare against. We do not implement SMAWK. */
#include "kmeans.h"

#include "status.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rows per layer below which the DP stays on one thread (task overhead beats the gain). */
#define KMEANS_PAR_MIN_N 8192

static int kmeans_validate(const double *x, const double *w, int64_t n, int k, const char *fn)
{
    if (k < 1) return status_error(STATUS_BAD_INPUT, "%s: k = %d, expected k >= 1", fn, k);
    if (n < 0 || n >= INT32_MAX)
        return status_error(STATUS_BAD_INPUT, "%s: n = %lld values, expected 0 <= n < 2^31", fn, (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || (i > 0 && !(x[i] > x[i - 1])))
            return status_error(STATUS_BAD_INPUT, "%s: x[%lld] = %g, expected finite, strictly increasing values",
                                fn, (long long)i, x[i]);
        if (!isfinite(w[i]) || w[i] < 0)
            return status_error(STATUS_BAD_INPUT, "%s: w[%lld] = %g, expected a finite weight >= 0", fn,
                                (long long)i, w[i]);
    }
    return STATUS_OK;
}

/* Centroids as weighted means of the clusters given by bounds, and the objective, summed directly
 * (not from prefix sums) so the reported sse carries no cancellation error. */
static void kmeans_finish(const double *x, const double *w, int K, const int64_t *bounds, double *centroids,
                          double *sse)
{
    double total = 0.0;
    for (int j = 0; j < K; j++) {
        double s0 = 0.0, s1 = 0.0;
        const int64_t a = bounds[j], b = bounds[j + 1];
        for (int64_t i = a; i < b; i++) {
            s0 += w[i];
            s1 += w[i] * x[i];
        }
        double c;
        if (b - a == 1) {
            c = x[a];   /* exact: w*x/w can be one ulp off */
        } else if (s0 > 0) {
            /* Rounding can put the mean an ulp outside its run; clamp so centroids stay ordered. */
            c = fmin(fmax(s1 / s0, x[a]), x[b - 1]);
        } else {
            /* Weightless cluster: any centroid costs nothing; the plain mean keeps it inside. */
            c = 0.0;
            for (int64_t i = a; i < b; i++) c += x[i];
            c = b > a ? c / (double)(b - a) : 0.0;
        }
        centroids[j] = c;
        for (int64_t i = a; i < b; i++) total += w[i] * (x[i] - c) * (x[i] - c);
    }
    if (sse) *sse = total;
}

/* n <= k: every value is its own cluster, exactly. */
static void kmeans_trivial(const double *x, int64_t n, double *centroids, int64_t *bounds, double *sse)
{
    for (int64_t i = 0; i < n; i++) centroids[i] = x[i];
    if (bounds)
        for (int64_t i = 0; i <= n; i++) bounds[i] = i;
    if (sse) *sse = 0.0;
}

struct kmeans_dp {
    const double *p01;            /* [n + 1][2] prefix sums of w and w*y (y = x - shift), interleaved */
    const double *prev;           /* [n + 1] Q_{l-1} (see kmeans_scan) */
    double *cur;                  /* [n + 1] Q_l */
    int32_t *arg;                 /* [n + 1] leftmost optimal split of layer l */
    const int32_t *arg_prev;      /* [n + 1] optimal splits of layer l - 1, NULL for l = 2 */
    int64_t prev_hi;              /* last row computed in layer l - 1 */
    int knuth;                    /* finish sub-ranges with Knuth's sweep (narrow clusters) */
    int l;                        /* clusters in this layer */
};

/* Row i of layer l: the leftmost m in [lo, hi] minimising D_{l-1}[m] + cost(m, i), where
 * cost(m, i) = S2(m,i) - S1(m,i)^2 / S0(m,i) is the weighted squared error of values [m, i) around
 * their mean (S* are differences of prefix sums). Writing D_l[i] = Q_l[i] + P2[i], the P2 terms
 * cancel: D_{l-1}[m] + cost(m, i) = Q_{l-1}[m] + P2[i] - S1^2/S0, so the layers keep Q and the
 * scan loads two prefix sums and one Q per candidate. This loop is the whole DP's cost.
 * A weightless run has S0 == 0 exactly and then S1 == 0 too (prefix sums do not move): the guard
 * only avoids 0/0 (a compare, not fmax(), which is a libm call without -ffast-math). */
static inline int64_t kmeans_scan(const struct kmeans_dp *d, int64_t i, int64_t lo, int64_t hi, double *q_out)
{
    const double *pp = d->p01, *q = d->prev;
    const double a0 = pp[2 * i], a1 = pp[2 * i + 1];
    int64_t best = lo;
    double bestv = INFINITY;
    for (int64_t m = lo; m <= hi; m++) {
        const double s0 = a0 - pp[2 * m], s1 = a1 - pp[2 * m + 1];
        const double v = q[m] - s1 * s1 / (s0 > DBL_MIN ? s0 : DBL_MIN);
        if (v < bestv) {
            bestv = v;
            best = m;
        }
    }
    *q_out = bestv;
    return best;
}

/* The lower bound for row i from the previous layer, when it is consistent with [lo, hi]. */
static inline int64_t kmeans_lo(const struct kmeans_dp *d, int64_t i, int64_t lo, int64_t hi)
{
    /* The split of row i with l clusters is not left of its split with l - 1 clusters (Grønlund
     * et al. 2017, opt(l-1, i) <= opt(l, i)); at 8 bits, where clusters are narrow, this cuts each
     * row's scan to a few candidates. Exact ties (zero weights) and rounding can make the bounds
     * disagree; the range given is then searched whole. */
    if (d->arg_prev && i <= d->prev_hi && d->arg_prev[i] > lo && d->arg_prev[i] <= hi) return d->arg_prev[i];
    return lo;
}

/* Rows [ilo, ihi] of layer l by Knuth's sweep: from the last row down, row i's split lies between
 * its split with l - 1 clusters and row i + 1's split, so consecutive scans barely overlap. Costs
 * about sum_i (opt_l(i+1) - opt_{l-1}(i)) evaluations, small once clusters are narrow (large l),
 * but quadratic for small l, where divide and conquer is used instead. */
static void kmeans_knuth(const struct kmeans_dp *d, int64_t ilo, int64_t ihi, int64_t mlo, int64_t mhi)
{
    int64_t up = mhi;
    for (int64_t i = ihi; i >= ilo; i--) {
        const int64_t lo0 = mlo > d->l - 1 ? mlo : d->l - 1;
        const int64_t hi = up < i - 1 ? up : i - 1;
        RN_ASSERT(lo0 <= hi);
        const int64_t best = kmeans_scan(d, i, kmeans_lo(d, i, lo0, hi), hi, &d->cur[i]);
        d->arg[i] = (int32_t)best;
        up = best;
    }
}

/* Rows [ilo, ihi] of layer l, knowing their optimal splits lie in [mlo, mhi]. */
static void kmeans_dc(const struct kmeans_dp *d, int64_t ilo, int64_t ihi, int64_t mlo, int64_t mhi, int depth)
{
    while (ilo <= ihi) {
        if (d->knuth && (depth >= 4 || ihi - ilo < KMEANS_PAR_MIN_N)) {
            kmeans_knuth(d, ilo, ihi, mlo, mhi);
            return;
        }
        const int64_t mid = ilo + (ihi - ilo) / 2;
        const int64_t lo0 = mlo > d->l - 1 ? mlo : d->l - 1, hi = mhi < mid - 1 ? mhi : mid - 1;
        RN_ASSERT(lo0 <= hi);
        const int64_t best = kmeans_scan(d, mid, kmeans_lo(d, mid, lo0, hi), hi, &d->cur[mid]);
        d->arg[mid] = (int32_t)best;
        /* The two halves are independent: hand the left one to another thread near the top of
         * the recursion, and keep going on the right one here (a loop instead of a tail call). */
        if (depth < 4 && ihi - ilo >= KMEANS_PAR_MIN_N) {
            #pragma omp task default(none) firstprivate(d, ilo, mid, mlo, best, depth)
            kmeans_dc(d, ilo, mid - 1, mlo, best, depth + 1);
        } else {
            kmeans_dc(d, ilo, mid - 1, mlo, best, depth + 1);
        }
        ilo = mid + 1;
        mlo = best;
        depth++;
    }
}

/* fast = 0: plain divide and conquer per layer (kmeans1d_optimal_dc); 1: with the bound from the
 * previous layer and Knuth's sweep (kmeans1d_optimal). */
static int kmeans_optimal_impl(const double *x, const double *w, int64_t n, int k, double *centroids,
                               int64_t *bounds, double *sse, int fast, const char *fn)
{
    int rc = kmeans_validate(x, w, n, k, fn);
    if (rc) return rc;
    if (n <= k) {
        kmeans_trivial(x, n, centroids, bounds, sse);
        return STATUS_OK;
    }
    const int K = k;
    double *pre = NULL, *D = NULL;
    int32_t *arg = NULL;
    int64_t *bnd = NULL;
    pre = malloc(sizeof(double) * 2 * (size_t)(n + 1));   /* [n + 1][2]: P0, P1 */
    D = malloc(sizeof(double) * 2 * (size_t)(n + 1));     /* two layers of Q, ping-pong */
    arg = K > 1 ? malloc(sizeof(int32_t) * (size_t)(K - 1) * (size_t)(n + 1)) : NULL;
    bnd = malloc(sizeof(int64_t) * (size_t)(K + 1));
    if (!pre || !D || (K > 1 && !arg) || !bnd) {
        rc = status_error(STATUS_NOMEM, "%s: out of memory for n = %lld, k = %d", fn, (long long)n, k);
        goto fail;
    }
    /* Shift to the weighted mean before forming prefix sums: S2 - S1^2/S0 then cancels on numbers
     * of the clusters' own spread, not of their distance from zero. */
    double wsum = 0.0, wx = 0.0;
    for (int64_t i = 0; i < n; i++) {
        wsum += w[i];
        wx += w[i] * x[i];
    }
    const double shift = wsum > 0 ? wx / wsum : x[n / 2];
    double *prev = D, *cur = D + (n + 1);
    /* Layer 1, one cluster over each prefix: Q_1[i] = cost(0, i) - P2[i] = -P1[i]^2 / P0[i]. Only
     * prefixes that leave a value for each later cluster matter, i in [1, n - K + 1]. */
    pre[0] = pre[1] = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double y = x[i] - shift;
        pre[2 * i + 2] = pre[2 * i] + w[i];
        pre[2 * i + 3] = pre[2 * i + 1] + w[i] * y;
        const double s0 = pre[2 * i + 2], s1 = pre[2 * i + 3];
        prev[i + 1] = -s1 * s1 / (s0 > DBL_MIN ? s0 : DBL_MIN);
    }
    struct kmeans_dp d = { .p01 = pre };
    #pragma omp parallel if (n >= KMEANS_PAR_MIN_N)
    #pragma omp single
    for (int l = 2; l <= K; l++) {
        struct kmeans_dp dl = d;
        dl.prev = prev;
        dl.cur = cur;
        dl.arg = arg + (size_t)(l - 2) * (size_t)(n + 1);
        dl.arg_prev = fast && l > 2 ? dl.arg - (n + 1) : NULL;
        dl.prev_hi = n - (K - l + 1);
        /* Knuth's sweep costs about n / l^2 evaluations per row, divide and conquer about 5-10
         * (measured on bell-shaped fp16 histograms): sweep once l^2 >= n / 8. */
        dl.knuth = fast && 8.0 * l * l >= (double)n;
        dl.l = l;
        /* Rows i in [l, n - (K - l)]; the last layer needs only i = n. A taskgroup, not a
         * taskwait: the tasks spawn tasks, and all must finish first. */
        #pragma omp taskgroup
        kmeans_dc(&dl, l, n - (K - l), l - 1, n - 1, 0);
        double *t = prev;
        prev = cur;
        cur = t;
    }
    /* Back-track the split points from the full prefix. */
    bnd[0] = 0;
    bnd[K] = n;
    int64_t i = n;
    for (int l = K; l >= 2; l--) {
        i = arg[(size_t)(l - 2) * (size_t)(n + 1) + (size_t)i];
        bnd[l - 1] = i;
    }
    for (int j = 0; j < K; j++) RN_ASSERT(bnd[j] < bnd[j + 1]);
    kmeans_finish(x, w, K, bnd, centroids, sse);
    if (bounds) memcpy(bounds, bnd, sizeof(int64_t) * (size_t)(K + 1));
fail:
    free(pre);
    free(D);
    free(arg);
    free(bnd);
    return rc;
}

int kmeans1d_optimal(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                     double *sse)
{
    return kmeans_optimal_impl(x, w, n, k, centroids, bounds, sse, 1, "kmeans1d_optimal");
}

int kmeans1d_optimal_dc(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                        double *sse)
{
    return kmeans_optimal_impl(x, w, n, k, centroids, bounds, sse, 0, "kmeans1d_optimal_dc");
}

/* ---- brute force reference ---- */

static double kmeans_run_cost(const double *x, const double *w, int64_t a, int64_t b)
{
    double s0 = 0.0, s1 = 0.0;
    for (int64_t i = a; i < b; i++) {
        s0 += w[i];
        s1 += w[i] * x[i];
    }
    const double c = s0 > 0 ? s1 / s0 : 0.0;
    double e = 0.0;
    for (int64_t i = a; i < b; i++) e += w[i] * (x[i] - c) * (x[i] - c);
    return e;
}

/* Tries every position for boundary j (cluster j starts there) given the earlier ones. */
static void kmeans_brute(const double *x, const double *w, int64_t n, int K, int j, int64_t *cur, double acc,
                         int64_t *best, double *bestv)
{
    if (j == K) {
        const double v = acc + kmeans_run_cost(x, w, cur[K - 1], n);
        if (v < *bestv) {
            *bestv = v;
            memcpy(best, cur, sizeof(int64_t) * (size_t)K);
        }
        return;
    }
    /* Cluster j-1 is [cur[j-1], s); leave at least one value for each of clusters j..K-1. */
    for (int64_t s = cur[j - 1] + 1; s <= n - (K - j); s++) {
        cur[j] = s;
        kmeans_brute(x, w, n, K, j + 1, cur, acc + kmeans_run_cost(x, w, cur[j - 1], s), best, bestv);
    }
}

int kmeans1d_optimal_ref(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                         double *sse)
{
    int rc = kmeans_validate(x, w, n, k, "kmeans1d_optimal_ref");
    if (rc) return rc;
    if (n > 20) return status_error(STATUS_BAD_INPUT, "kmeans1d_optimal_ref: n = %lld, at most 20", (long long)n);
    if (n <= k) {
        kmeans_trivial(x, n, centroids, bounds, sse);
        return STATUS_OK;
    }
    int64_t cur[21], best[22];
    double bestv = INFINITY;
    cur[0] = 0;
    kmeans_brute(x, w, n, k, 1, cur, 0.0, best, &bestv);
    best[k] = n;
    kmeans_finish(x, w, k, best, centroids, sse);
    if (bounds) memcpy(bounds, best, sizeof(int64_t) * (size_t)(k + 1));
    return STATUS_OK;
}

/* ---- Lloyd ---- */

static int kmeans_cmp_double(const void *a, const void *b)
{
    const double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

/* Uniform in [0, 1) from splitmix64 (a private stream so this file needs no generator state). */
static double kmeans_uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* Index drawn with probability p[i] / sum(p); uniform when every p is zero. */
static int64_t kmeans_sample(const double *p, int64_t n, uint64_t *s)
{
    double tot = 0.0;
    for (int64_t i = 0; i < n; i++) tot += p[i];
    if (!(tot > 0)) return (int64_t)(kmeans_uniform(s) * (double)n);
    const double u = kmeans_uniform(s) * tot;
    double acc = 0.0;
    for (int64_t i = 0; i < n; i++) {
        acc += p[i];
        if (u < acc && p[i] > 0) return i;
    }
    for (int64_t i = n - 1; i >= 0; i--)   /* rounding left u at the very top */
        if (p[i] > 0) return i;
    return n - 1;
}

/* Assigns every value to its nearest centroid (c sorted; ties go to the lower one) by one sweep,
 * writing cluster starts to bnd [K + 1]. With sorted values and centroids the nearest index never
 * decreases, so this is O(n + K). */
static void kmeans_assign_sorted(const double *x, int64_t n, const double *c, int K, int64_t *bnd)
{
    int j = 0;
    bnd[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        while (j + 1 < K && x[i] - c[j] > c[j + 1] - x[i]) bnd[++j] = i;
    }
    while (j + 1 < K) bnd[++j] = n;
    bnd[K] = n;
}

int kmeans1d_lloyd(const double *x, const double *w, int64_t n, int k, struct kmeans_lloyd_opts *opts,
                   double *centroids, int64_t *bounds, double *sse)
{
    int rc = kmeans_validate(x, w, n, k, "kmeans1d_lloyd");
    if (rc) return rc;
    if (opts->max_iter < 0 || opts->init < 0 || opts->init >= KMEANS_INIT_COUNT)
        return status_error(STATUS_BAD_INPUT, "kmeans1d_lloyd: max_iter = %d, init = %d; expected max_iter >= 0 "
                            "and a known init", opts->max_iter, (int)opts->init);
    opts->iterations = 0;
    if (n <= k) {
        kmeans_trivial(x, n, centroids, bounds, sse);
        return STATUS_OK;
    }
    const int K = k;
    double *c = malloc(sizeof(double) * (size_t)K);
    double *d2 = opts->init == KMEANS_INIT_KMEANSPP ? malloc(sizeof(double) * (size_t)n) : NULL;
    int64_t *bnd = malloc(sizeof(int64_t) * (size_t)(K + 1));
    if (!c || !bnd || (opts->init == KMEANS_INIT_KMEANSPP && !d2)) {
        rc = status_error(STATUS_NOMEM, "kmeans1d_lloyd: out of memory for n = %lld, k = %d", (long long)n, k);
        goto fail;
    }
    double wsum = 0.0;
    for (int64_t i = 0; i < n; i++) wsum += w[i];
    if (opts->init == KMEANS_INIT_KMEANSPP) {
        /* Weighted k-means++ (Arthur & Vassilvitskii): the first centre with probability ~ w, each
         * next one ~ w * D^2 to the nearest centre chosen so far. */
        uint64_t s = opts->seed;
        c[0] = x[kmeans_sample(w, n, &s)];
        for (int64_t i = 0; i < n; i++) d2[i] = w[i] * (x[i] - c[0]) * (x[i] - c[0]);
        for (int j = 1; j < K; j++) {
            c[j] = x[kmeans_sample(d2, n, &s)];
            for (int64_t i = 0; i < n; i++) d2[i] = fmin(d2[i], w[i] * (x[i] - c[j]) * (x[i] - c[j]));
        }
    } else {
        /* Centre j at the weighted (j + 1/2)/K quantile (index quantiles when all weights are 0). */
        double acc = 0.0;
        int64_t i = 0;
        for (int j = 0; j < K; j++) {
            if (wsum > 0) {
                const double q = (j + 0.5) / K * wsum;
                while (i < n - 1 && acc + w[i] <= q) acc += w[i++];
                c[j] = x[i];
            } else {
                c[j] = x[(int64_t)((j + 0.5) / K * (double)n)];
            }
        }
    }
    for (int it = 0; it < opts->max_iter; it++) {
        qsort(c, (size_t)K, sizeof(double), kmeans_cmp_double);
        kmeans_assign_sorted(x, n, c, K, bnd);
        int moved = 0;
        for (int j = 0; j < K; j++) {
            double s0 = 0.0, s1 = 0.0;
            for (int64_t i = bnd[j]; i < bnd[j + 1]; i++) {
                s0 += w[i];
                s1 += w[i] * x[i];
            }
            if (s0 > 0) {   /* an empty (or weightless) cluster keeps its centre */
                const double nc = s1 / s0;
                moved |= nc != c[j];
                c[j] = nc;
            }
        }
        opts->iterations = it + 1;
        if (!moved) break;
    }
    /* Final assignment to the final centres, and the objective for exactly that clustering. */
    qsort(c, (size_t)K, sizeof(double), kmeans_cmp_double);
    kmeans_assign_sorted(x, n, c, K, bnd);
    double tot = 0.0;
    for (int j = 0; j < K; j++)
        for (int64_t i = bnd[j]; i < bnd[j + 1]; i++) tot += w[i] * (x[i] - c[j]) * (x[i] - c[j]);
    memcpy(centroids, c, sizeof(double) * (size_t)K);
    if (bounds) memcpy(bounds, bnd, sizeof(int64_t) * (size_t)(K + 1));
    if (sse) *sse = tot;
fail:
    free(c);
    free(d2);
    free(bnd);
    return rc;
}
