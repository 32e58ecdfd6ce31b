/* test_kmeans.c — optimal 1-D k-means against brute force on many small random inputs (zero
 * weights included), Lloyd never below the optimum, edge cases (ties in value spacing, n == k,
 * n < k, one value, k = 1), bad input, and a larger input the DP solves with threads. */
#include "check.h"
#include "kmeans.h"
#include "rng.h"
#include "status.h"

#include <stdlib.h>
#include <string.h>

#define SEED 7011
/* Relative tolerance on objectives computed by different summation orders. */
#define TOL_SSE 1e-9

static int cmp_double(const void *a, const void *b)
{
    const double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

/* n distinct sorted values; `grid` draws them from a small integer grid so that equal gaps and
 * equal-cost alternatives (ties) are common. */
static int64_t random_values(struct rng *r, int64_t n, int grid, double *x)
{
    for (int64_t i = 0; i < n; i++) x[i] = grid ? (double)rng_below(r, 16) : rng_normal(r);
    qsort(x, (size_t)n, sizeof(double), cmp_double);
    int64_t u = 0;
    for (int64_t i = 0; i < n; i++)
        if (u == 0 || x[i] != x[u - 1]) x[u++] = x[i];
    return u;
}

static void check_partition(const int64_t *b, int K, int64_t n, int allow_empty)
{
    CHECK(b[0] == 0 && b[K] == n);
    for (int j = 0; j < K; j++) CHECK(allow_empty ? b[j] <= b[j + 1] : b[j] < b[j + 1]);
}

int main(void)
{
    printf("seed %d\n", SEED);
    struct rng r;
    rng_seed(&r, SEED);
    double x[64], w[64], c[64], cref[64], sse, sref;
    int64_t b[65], bref[65];

    /* Brute force agreement. */
    int worse = 0;
    for (int t = 0; t < 3000; t++) {
        int64_t n = 1 + (int64_t)rng_below(&r, t < 2500 ? 12 : 18);
        n = random_values(&r, n, t % 2, x);
        const int k = 1 + (int)rng_below(&r, t < 2500 ? 4 : 6);
        for (int64_t i = 0; i < n; i++) {
            const int kind = (int)rng_below(&r, 4);
            w[i] = kind == 0 ? 0.0 : kind == 1 ? (double)(1 + rng_below(&r, 5)) : rng_uniform(&r) * 3;
        }
        if (t % 7 == 0)
            for (int64_t i = 0; i < n; i++) w[i] = 0.0;   /* all weightless */
        CHECK(kmeans1d_optimal(x, w, n, k, c, b, &sse) == 0);
        CHECK(kmeans1d_optimal_ref(x, w, n, k, cref, bref, &sref) == 0);
        CHECK_ABS(sse, sref, TOL_SSE * (1.0 + sref));
        CHECK(kmeans1d_optimal_dc(x, w, n, k, cref, bref, &sref) == 0);
        CHECK_ABS(sse, sref, TOL_SSE * (1.0 + sref));
        const int K = n < k ? (int)n : k;
        check_partition(b, K, n, 0);
        for (int j = 0; j + 1 < K; j++) CHECK(c[j] <= c[j + 1]);
        for (int j = 0; j < K; j++) CHECK(c[j] >= x[b[j]] && c[j] <= x[b[j + 1] - 1]);
        /* Lloyd, both inits: never below the optimum. */
        for (int init = 0; init < KMEANS_INIT_COUNT; init++) {
            struct kmeans_lloyd_opts o = { .max_iter = 300, .init = (enum kmeans_init)init, .seed = (uint64_t)t };
            double sl;
            CHECK(kmeans1d_lloyd(x, w, n, k, &o, c, b, &sl) == 0);
            check_partition(b, K, n, 1);
            CHECK(sl >= sse - TOL_SSE * (1.0 + sse));
            worse += sl > sse * (1 + 1e-6) + 1e-12;
        }
    }
    printf("Lloyd above the optimum in %d of 6000 small runs\n", worse);
    CHECK(worse > 0);   /* the inputs are hard enough to separate the two */

    /* n == k and n < k: every value is its own centroid, zero error. */
    {
        const double xs[3] = { -1.0, 0.5, 2.0 }, ws[3] = { 1, 0, 3 };
        for (int k = 3; k <= 5; k++) {
            CHECK(kmeans1d_optimal(xs, ws, 3, k, c, b, &sse) == 0);
            CHECK(sse == 0.0 && c[0] == -1.0 && c[1] == 0.5 && c[2] == 2.0);
            CHECK(b[0] == 0 && b[1] == 1 && b[2] == 2 && b[3] == 3);
        }
        /* One value (the "all equal" tensor after de-duplication). */
        const double one = 0.25, wone = 1000;
        CHECK(kmeans1d_optimal(&one, &wone, 1, 16, c, b, &sse) == 0);
        CHECK(c[0] == 0.25 && sse == 0.0);
        /* Empty input. */
        CHECK(kmeans1d_optimal(x, w, 0, 4, c, b, &sse) == 0 && sse == 0.0 && b[0] == 0);
    }
    /* Exact hand case: {0,1} weight 1 each, {10,11} weight 1 each, k = 2. */
    {
        const double xs[4] = { 0, 1, 10, 11 }, ws[4] = { 1, 1, 1, 1 };
        CHECK(kmeans1d_optimal(xs, ws, 4, 2, c, b, &sse) == 0);
        CHECK(b[1] == 2 && c[0] == 0.5 && c[1] == 10.5 && sse == 1.0);
        /* k = 1: the weighted mean. */
        const double wz[4] = { 3, 0, 0, 1 };
        CHECK(kmeans1d_optimal(xs, wz, 4, 1, c, b, &sse) == 0);
        CHECK_ABS(c[0], 11.0 / 4.0, 1e-15);
        CHECK_ABS(sse, 3 * (11.0 / 4) * (11.0 / 4) + (11 - 11.0 / 4) * (11 - 11.0 / 4), 1e-12);
    }
    /* Bad input is reported, not crashed on. */
    {
        const double xs[3] = { 0, 2, 1 }, ws[3] = { 1, 1, 1 }, wn[3] = { 1, -1, 1 };
        CHECK(kmeans1d_optimal(xs, ws, 3, 2, c, b, &sse) == STATUS_BAD_INPUT);
        CHECK(strstr(status_message(), "x[2]") != NULL);
        const double xo[3] = { 0, 1, 2 };
        CHECK(kmeans1d_optimal(xo, wn, 3, 2, c, b, &sse) == STATUS_BAD_INPUT);
        CHECK(kmeans1d_optimal(xo, ws, 3, 0, c, b, &sse) == STATUS_BAD_INPUT);
        struct kmeans_lloyd_opts o = { .max_iter = -1 };
        CHECK(kmeans1d_lloyd(xo, ws, 3, 2, &o, c, b, &sse) == STATUS_BAD_INPUT);
    }
    /* A large bell-shaped input (the DP's threaded path): the optimum beats Lloyd, the clusters
     * tile the values, and a second run gives the same answer. */
    {
        const int64_t n = 30000;
        double *xl = malloc(sizeof(double) * n), *wl = malloc(sizeof(double) * n);
        double *cl = malloc(sizeof(double) * 256), *cl2 = malloc(sizeof(double) * 256);
        int64_t *bl = malloc(sizeof(int64_t) * 257), *bl2 = malloc(sizeof(int64_t) * 257);
        for (int64_t i = 0; i < n; i++) {
            xl[i] = -3.0 + 6.0 * (double)i / (double)n;
            wl[i] = floor(1000.0 * exp(-0.5 * xl[i] * xl[i]) * rng_uniform(&r));
        }
        for (int k = 2; k <= 256; k *= 2) {
            double so, so2, sd;
            CHECK(kmeans1d_optimal(xl, wl, n, k, cl, bl, &so) == 0);
            CHECK(kmeans1d_optimal(xl, wl, n, k, cl2, bl2, &so2) == 0);
            CHECK(so == so2 && memcmp(bl, bl2, sizeof(int64_t) * (size_t)(k + 1)) == 0);
            /* The fast path against the plain divide and conquer. */
            CHECK(kmeans1d_optimal_dc(xl, wl, n, k, cl2, bl2, &sd) == 0);
            CHECK_ABS(so, sd, TOL_SSE * sd);
            if (k != 16 && k != 256) continue;
            double sl;
            check_partition(bl, k, n, 0);
            struct kmeans_lloyd_opts o = { .max_iter = 300, .init = KMEANS_INIT_KMEANSPP, .seed = 1 };
            CHECK(kmeans1d_lloyd(xl, wl, n, k, &o, cl2, bl2, &sl) == 0);
            CHECK(sl >= so * (1 - TOL_SSE));
            printf("n %lld k %d: optimal sse %.9g, Lloyd %.9g (%d iterations)\n", (long long)n, k, so, sl,
                   o.iterations);
        }
        free(xl);
        free(wl);
        free(cl);
        free(cl2);
        free(bl);
        free(bl2);
    }
    return check_summary();
}
