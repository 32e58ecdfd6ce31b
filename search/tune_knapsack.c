/* tune_knapsack.c — the exact minimum-cost multiple-choice knapsack of the per-layer ladder
 * (tune.h: tune_knapsack, tune_knapsack_shared), by dynamic programming over whole units of
 * saving. Pure: no candidates, no evaluations. */
#include "tune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tune_knapsack(int m, int k, const double *cost, const int *gain, int need, unsigned char *choice)
{
    if (need < 0) need = 0;
    const int W = need + 1;
    double *f = malloc(sizeof(double) * (size_t)W), *g = malloc(sizeof(double) * (size_t)W);
    unsigned char *pick = malloc((size_t)m * (size_t)W);
    int rc = -1;
    if (!f || !g || !pick) goto done;
    /* f[j]: least cost over the layers so far with total gain >= j (gains capped at need). */
    for (int j = 0; j < W; j++) f[j] = j == 0 ? 0.0 : INFINITY;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < W; j++) {
            g[j] = INFINITY;
            pick[(size_t)i * W + j] = 0;
            for (int c = 0; c < k; c++) {
                const int u = gain[i * k + c];
                if (u < 0) continue;
                const int from = j - u < 0 ? 0 : j - u;
                const double v = f[from] + cost[i * k + c];
                if (v < g[j]) {
                    g[j] = v;
                    pick[(size_t)i * W + j] = (unsigned char)c;
                }
            }
        }
        memcpy(f, g, sizeof(double) * (size_t)W);
    }
    if (!isfinite(f[need])) goto done;
    for (int i = m - 1, j = need; i >= 0; i--) {
        const int c = pick[(size_t)i * W + j];
        choice[i] = (unsigned char)c;
        j -= gain[i * k + c];
        if (j < 0) j = 0;
    }
    rc = 0;
done:
    free(f);
    free(g);
    free(pick);
    return rc;
}

int tune_knapsack_shared(int m, int k, const double *cost, const int *gain, const unsigned char *shared_choice, int shared,
                         int need, unsigned char *choice)
{
    /* The optimum either uses no shared choice (the knapsack without them) or uses some and so
     * must reach need + shared (the knapsack with all choices at that need: a solution of it
     * that happens to use none is feasible for the first case too, never better than its
     * optimum). The cheaper of the two is exact. */
    if (shared <= 0) return tune_knapsack(m, k, cost, gain, need, choice);
    int *g = malloc(sizeof(int) * (size_t)(m * k));
    unsigned char *alt = malloc((size_t)m);
    if (!g || !alt) {
        free(g);
        free(alt);
        return -1;
    }
    for (int i = 0; i < m * k; i++) g[i] = shared_choice[i % k] ? -1 : gain[i];
    const int ok_plain = tune_knapsack(m, k, cost, g, need, alt) == 0;
    const int ok_shared = tune_knapsack(m, k, cost, gain, need + shared, choice) == 0;
    double cost_plain = 0, cost_shared = 0;
    for (int i = 0; i < m; i++) {
        if (ok_plain) cost_plain += cost[i * k + alt[i]];
        if (ok_shared) cost_shared += cost[i * k + choice[i]];
    }
    if (ok_plain && (!ok_shared || cost_plain <= cost_shared)) memcpy(choice, alt, (size_t)m);
    free(g);
    free(alt);
    return ok_plain || ok_shared ? 0 : -1;
}
