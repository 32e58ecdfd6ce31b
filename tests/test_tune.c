/* test_tune.c — the search driver's pure parts: the multiple-choice knapsack of the per-layer
 * ladder against brute force on random instances (fixed, printed seed), its edge cases, the
 * Wilson interval against hand-computed values, and the budget filter the final front uses
 * (threshold inclusive, relative budgets, NaN outside). */
#include "check.h"
#include "pareto.h"
#include "rng.h"
#include "tune.h"

#include <math.h>
#include <string.h>

/* Least cost with total gain >= need over every assignment (k^m of them); an assignment that
 * uses a choice marked in shared_choice (NULL: none) needs gain >= need + shared. */
static double brute(int m, int k, const double *cost, const int *gain, int need, const unsigned char *shared_choice, int shared)
{
    int total = 1;
    for (int i = 0; i < m; i++) total *= k;
    double best = INFINITY;
    for (int code = 0; code < total; code++) {
        int x = code, g = 0, ok = 1, uses = 0;
        double c = 0;
        for (int i = 0; i < m; i++, x /= k) {
            const int ch = x % k;
            if (gain[i * k + ch] < 0) ok = 0;
            g += gain[i * k + ch];
            c += cost[i * k + ch];
            uses |= shared_choice && shared_choice[ch];
        }
        if (ok && g >= need + (uses ? shared : 0) && c < best) best = c;
    }
    return best;
}

int main(void)
{
    const uint64_t seed = 20261127;
    printf("seed %llu\n", (unsigned long long)seed);
    struct rng r;
    rng_seed(&r, seed);
    for (int trial = 0; trial < 300; trial++) {
        const int m = 1 + (int)rng_below(&r, 5), k = 2 + (int)rng_below(&r, 3);
        double cost[5 * 4];
        int gain[5 * 4], max_gain = 0;
        for (int i = 0; i < m; i++) {
            int best = 0;
            for (int c = 0; c < k; c++) {
                cost[i * k + c] = c == 0 ? 0.0 : rng_uniform(&r);
                gain[i * k + c] = c == 0 ? 0 : rng_below(&r, 5) == 0 ? -1 : (int)rng_below(&r, 9);
                if (gain[i * k + c] > best) best = gain[i * k + c];
            }
            max_gain += best;
        }
        const int need = (int)rng_below(&r, (uint64_t)max_gain + 3);
        unsigned char choice[5];
        memset(choice, 0xff, sizeof choice);
        /* Odd trials: the last choice is shared (as int8 layers are) at a random shared cost. */
        unsigned char shared_choice[4] = { 0 };
        const int shared = trial & 1 ? (int)rng_below(&r, 6) : 0;
        if (trial & 1) shared_choice[k - 1] = 1;
        const double want = brute(m, k, cost, gain, need, shared_choice, shared);
        const int rc = trial & 1 ? tune_knapsack_shared(m, k, cost, gain, shared_choice, shared, need, choice)
                                 : tune_knapsack(m, k, cost, gain, need, choice);
        if (!isfinite(want)) {
            CHECK(rc == -1);
            continue;
        }
        CHECK(rc == 0);
        double got = 0;
        int g = 0, uses = 0;
        for (int i = 0; i < m; i++) {
            CHECK(choice[i] < k && gain[i * k + choice[i]] >= 0);
            got += cost[i * k + choice[i]];
            g += gain[i * k + choice[i]];
            uses |= shared_choice[choice[i]];
        }
        CHECK(g >= need + (uses ? shared : 0));
        CHECK_ABS(got, want, 1e-12);
    }
    /* Shared cost: two layers whose int8 choice (1) gains 3 each but 2 less in any assignment
     * that uses it; pruning (2) gains 2 at a higher cost. need 4: int8 on both reaches
     * 6 - 2 = 4 (cost 0.2). need 5: int8 on both 4, prune on both 4, int8 + prune 5 - 2 = 3:
     * nothing reaches it. */
    {
        const double c2[6] = { 0, 0.1, 0.5, 0, 0.1, 0.5 };
        const int g2[6] = { 0, 3, 2, 0, 3, 2 };
        const unsigned char sh[3] = { 0, 1, 0 };
        unsigned char ch2[2] = { 9, 9 };
        CHECK(tune_knapsack_shared(2, 3, c2, g2, sh, 2, 4, ch2) == 0 && ch2[0] == 1 && ch2[1] == 1);
        CHECK(tune_knapsack_shared(2, 3, c2, g2, sh, 2, 5, ch2) == -1);
        CHECK(tune_knapsack(2, 3, c2, g2, 5, ch2) == 0);   /* without the shared cost it would */
        CHECK(tune_knapsack_shared(2, 3, c2, g2, sh, 2, 3, ch2) == 0 && ch2[0] == 1 && ch2[1] == 1);   /* 0.2 < prune's 1.0 */
    }
    /* need 0: everything left alone at zero cost. */
    const double cost0[4] = { 0, 0.5, 0, 0.25 };
    const int gain0[4] = { 0, 3, 0, 2 };
    unsigned char ch[2] = { 9, 9 };
    CHECK(tune_knapsack(2, 2, cost0, gain0, 0, ch) == 0 && ch[0] == 0 && ch[1] == 0);
    CHECK(tune_knapsack(2, 2, cost0, gain0, 3, ch) == 0 && ch[0] == 1 && ch[1] == 0);   /* 0.5 < 0.75 for gain 5 */
    CHECK(tune_knapsack(2, 2, cost0, gain0, 6, ch) == -1);                               /* at most 5 */

    /* Wilson score interval, hand-computed: k = 45, n = 50, z = 2:
     * p = 0.9, center (0.9 + 4/100) / 1.08 = 0.870370..., half = 2 sqrt(0.0018 + 0.0004) / 1.08. */
    double lo, hi;
    tune_wilson(45, 50, 2.0, &lo, &hi);
    const double half = 2.0 * sqrt(0.09 / 50 + 4.0 / 10000) / 1.08;
    CHECK_ABS(lo, 100 * (0.94 / 1.08 - half), 1e-9);
    CHECK_ABS(hi, 100 * (0.94 / 1.08 + half), 1e-9);
    tune_wilson(50, 50, 2.0, &lo, &hi);
    CHECK(hi == 100.0 && lo < 100.0 && lo > 90.0);
    tune_wilson(0, 0, 2.0, &lo, &hi);
    CHECK(lo == 0.0 && hi == 100.0);

    /* Budget filtering as the final front applies it: baseline 93.72, 5 points absolute -> 88.72
     * inclusive; 5 % relative -> 89.034. */
    struct pareto_point pts[5] = {
        { 88.72, 1, 1, 0 }, { 88.7199, 1, 1, 1 }, { 93.0, 2, 1, 2 }, { NAN, 1, 1, 3 }, { 89.03, 1, 1, 4 },
    };
    unsigned char in[5];
    CHECK(pareto_budget_mask(pts, 5, 93.72, 5, PARETO_BUDGET_ABSOLUTE, in) == 3);
    CHECK(in[0] && !in[1] && in[2] && !in[3] && in[4]);
    CHECK_ABS(pareto_budget_threshold(93.72, 5, PARETO_BUDGET_RELATIVE), 93.72 * 0.95, 1e-12);
    CHECK(pareto_budget_mask(pts, 5, 93.72, 5, PARETO_BUDGET_RELATIVE, in) == 1);
    CHECK(!in[0] && !in[1] && in[2] && !in[3] && !in[4]);
    return check_summary();
}
