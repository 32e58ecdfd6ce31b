/* test_pareto.c — dominance, fronts with ties and duplicates, budget filters, and hypervolume by
 * hand and against the grid reference on random sets (fixed, printed seed). */
#include "check.h"
#include "pareto.h"
#include "rng.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define HV_TOL 1e-9 /* relative: sweep and grid sum the same products in different orders */

static struct pareto_point pt(double acc, double bytes, double lat, int64_t id)
{
    return (struct pareto_point){acc, bytes, lat, id};
}

static void test_dominance(void)
{
    struct pareto_point a = pt(90, 100, 5, 0), b = pt(89, 100, 5, 1), c = pt(90, 100, 5, 2);
    struct pareto_point d = pt(91, 200, 5, 3);
    CHECK(pareto_dominates(&a, &b));
    CHECK(!pareto_dominates(&b, &a));
    CHECK(!pareto_dominates(&a, &c) && !pareto_dominates(&c, &a)); /* identical */
    CHECK(!pareto_dominates(&a, &d) && !pareto_dominates(&d, &a)); /* trade-off */
    CHECK(pareto_dominates_in(&a, &d, PARETO_SIZE));
    CHECK(!pareto_dominates_in(&a, &d, PARETO_LATENCY)); /* equal in the only objective */
    struct pareto_point e = pt(NAN, 1, 1, 4);
    CHECK(!pareto_dominates(&e, &a) && !pareto_dominates(&a, &e));
}

static void test_front_hand(void)
{
    /* 0 and 1 are identical and on the front; 2 duplicates a dominated point 3; 4 trades size
     * for accuracy; 5 is dominated by 4 only in latency; 6 is not evaluated. */
    struct pareto_point p[] = {
        pt(90, 100, 5, 0), pt(90, 100, 5, 1), pt(85, 100, 5, 2), pt(85, 100, 5, 3),
        pt(80, 50, 5, 4),  pt(80, 50, 6, 5),  pt(NAN, 1, 1, 6),
    };
    int n = (int)(sizeof p / sizeof p[0]);
    unsigned char keep[7];
    int k = pareto_front(p, n, keep);
    unsigned char want[7] = {1, 1, 0, 0, 1, 0, 0};
    CHECK(k == 3);
    CHECK(memcmp(keep, want, sizeof want) == 0);

    /* Accuracy vs size only: 5 now ties 4 and joins the front. */
    k = pareto_front_in(p, n, PARETO_ACCURACY | PARETO_SIZE, keep);
    unsigned char want2[7] = {1, 1, 0, 0, 1, 1, 0};
    CHECK(k == 4);
    CHECK(memcmp(keep, want2, sizeof want2) == 0);

    CHECK(pareto_front(p, 0, keep) == 0);
    k = pareto_front(p, 1, keep);
    CHECK(k == 1 && keep[0] == 1);
}

/* Random sets on a coarse integer grid so that ties and duplicates are common: every removed
 * point is dominated by a kept one (dominance is transitive and the set finite), and no point
 * dominates a kept one. */
static void test_front_random(uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    enum { N = 300 };
    static struct pareto_point p[N];
    static unsigned char keep[N];
    for (int trial = 0; trial < 40; trial++) {
        int n = 1 + (int)rng_below(&r, N);
        int levels = 2 + (int)rng_below(&r, 12);
        for (int i = 0; i < n; i++)
            p[i] = pt(70.0 + (double)rng_below(&r, (uint64_t)levels), 1e6 * (double)(1 + rng_below(&r, (uint64_t)levels)),
                      0.5 * (double)(1 + rng_below(&r, (uint64_t)levels)), i);
        unsigned objs = trial % 2 ? PARETO_ALL : (PARETO_ACCURACY | PARETO_LATENCY);
        int k = pareto_front_in(p, n, objs, keep);
        int counted = 0, bad_kept = 0, bad_removed = 0;
        for (int i = 0; i < n; i++) {
            counted += keep[i];
            int by_any = 0, by_kept = 0;
            for (int j = 0; j < n; j++) {
                if (pareto_dominates_in(&p[j], &p[i], objs)) {
                    by_any = 1;
                    by_kept |= keep[j];
                }
            }
            if (keep[i] && by_any)
                bad_kept++;
            if (!keep[i] && !by_kept)
                bad_removed++;
        }
        CHECK(k == counted && k >= 1);
        CHECK(bad_kept == 0);
        CHECK(bad_removed == 0);
    }
}

static void test_budget(void)
{
    /* 86.23 is exactly 5 points below 91.23, which floating point does not represent exactly. */
    struct pareto_point p[] = {pt(91.23, 1, 1, 0), pt(86.23, 1, 1, 1), pt(86.22, 1, 1, 2),
                               pt(NAN, 1, 1, 3), pt(95, 1, 1, 4)};
    unsigned char in[5];
    int k = pareto_budget_mask(p, 5, 91.23, 5.0, PARETO_BUDGET_ABSOLUTE, in);
    unsigned char want[5] = {1, 1, 0, 0, 1};
    CHECK(k == 3);
    CHECK(memcmp(in, want, sizeof want) == 0);
    /* Relative: 5 % of 80 is 4 points, so 76 is in and 75.9 out. */
    struct pareto_point q[] = {pt(76, 1, 1, 0), pt(75.9, 1, 1, 1), pt(80, 1, 1, 2)};
    k = pareto_budget_mask(q, 3, 80.0, 5.0, PARETO_BUDGET_RELATIVE, in);
    CHECK(k == 2 && in[0] == 1 && in[1] == 0 && in[2] == 1);
    CHECK_ABS(pareto_budget_threshold(80.0, 5.0, PARETO_BUDGET_RELATIVE), 76.0, 1e-12);
    CHECK_ABS(pareto_budget_threshold(80.0, 5.0, PARETO_BUDGET_ABSOLUTE), 75.0, 1e-12);
    CHECK(pareto_budget_mask(q, 3, 80.0, 0.0, PARETO_BUDGET_ABSOLUTE, in) == 1);
}

static void test_hypervolume_hand(void)
{
    struct pareto_point ref = pt(70, 20, 10, -1);
    const unsigned as = PARETO_ACCURACY | PARETO_SIZE;
    /* Two boxes: acc [70,90] x bytes [10,20] = 200 and acc [70,80] x bytes [5,20] = 150,
     * overlapping in acc [70,80] x bytes [10,20] = 100: union 250. */
    struct pareto_point p[] = {pt(90, 10, 4, 0), pt(80, 5, 8, 1)};
    CHECK_ABS(pareto_hypervolume_2d(p, 2, as, &ref), 250.0, 1e-9);
    CHECK_ABS(pareto_hypervolume_ref(p, 2, as, &ref), 250.0, 1e-9);
    /* Size x latency: [10,20]x[4,10] = 60, [5,20]x[8,10] = 30, overlap [10,20]x[8,10] = 20 -> 70. */
    CHECK_ABS(pareto_hypervolume_2d(p, 2, PARETO_SIZE | PARETO_LATENCY, &ref), 70.0, 1e-9);
    /* 3-D: boxes 20*10*6 = 1200 and 10*15*2 = 300, overlap 10*10*2 = 200 -> 1300. */
    CHECK_ABS(pareto_hypervolume_3d(p, 2, &ref), 1300.0, 1e-9);
    CHECK_ABS(pareto_hypervolume_ref(p, 2, PARETO_ALL, &ref), 1300.0, 1e-9);

    /* Duplicates, a dominated point, a point outside the reference box, points on its boundary
     * (no volume) and a NaN change nothing. */
    struct pareto_point q[] = {p[0], p[1], p[1], pt(75, 15, 9, 2), pt(95, 25, 1, 3),
                               pt(70, 1, 1, 4), pt(NAN, 1, 1, 5), pt(99, 1, 10, 6)};
    CHECK_ABS(pareto_hypervolume_2d(q, 7, as, &ref), 250.0, 1e-9);
    CHECK_ABS(pareto_hypervolume_3d(q, 8, &ref), 1300.0, 1e-9);
    CHECK_ABS(pareto_hypervolume_ref(q, 8, PARETO_ALL, &ref), 1300.0, 1e-9);
    CHECK_ABS(pareto_hypervolume_3d(q, 0, &ref), 0.0, 0.0);
    CHECK(pareto_hypervolume_2d(p, 2, PARETO_ALL, &ref) == -1.0);
    CHECK(pareto_hypervolume_2d(p, 2, PARETO_SIZE, &ref) == -1.0);
}

/* Sweeps against the grid on small random sets: coarse levels for ties, and continuous values. */
static void test_hypervolume_random(uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed ^ 0x5eedull);
    enum { N = 14 };
    struct pareto_point p[N];
    struct pareto_point ref = pt(60, 4e7, 12, -1);
    const unsigned pairs[3] = {PARETO_ACCURACY | PARETO_SIZE, PARETO_ACCURACY | PARETO_LATENCY,
                               PARETO_SIZE | PARETO_LATENCY};
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + (int)rng_below(&r, N);
        int coarse = trial % 2;
        for (int i = 0; i < n; i++) {
            if (coarse)
                p[i] = pt(55.0 + 5.0 * (double)rng_below(&r, 8), 5e6 * (double)rng_below(&r, 10),
                          2.0 * (double)rng_below(&r, 8), i);
            else
                p[i] = pt(55.0 + 40.0 * rng_uniform(&r), 4.5e7 * rng_uniform(&r), 13.0 * rng_uniform(&r), i);
        }
        double v3 = pareto_hypervolume_3d(p, n, &ref), g3 = pareto_hypervolume_ref(p, n, PARETO_ALL, &ref);
        CHECK(v3 >= 0.0);
        CHECK_REL(v3, g3, HV_TOL);
        for (int k = 0; k < 3; k++)
            CHECK_REL(pareto_hypervolume_2d(p, n, pairs[k], &ref), pareto_hypervolume_ref(p, n, pairs[k], &ref),
                      HV_TOL);
        /* The front alone has the same hypervolume as the whole set. */
        unsigned char keep[N];
        struct pareto_point f[N];
        int m = 0;
        pareto_front(p, n, keep);
        for (int i = 0; i < n; i++)
            if (keep[i])
                f[m++] = p[i];
        CHECK_REL(pareto_hypervolume_3d(f, m, &ref), v3, HV_TOL);
    }
}

int main(void)
{
    uint64_t seed = 20240607;
    printf("test_pareto: seed %llu\n", (unsigned long long)seed);
    test_dominance();
    test_front_hand();
    test_front_random(seed);
    test_budget();
    test_hypervolume_hand();
    test_hypervolume_random(seed);
    return check_summary();
}
