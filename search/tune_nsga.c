/* tune_nsga.c — NSGA-II over per-layer genomes: constrained domination (the budget first, then
 * top-1 and the objective's metric), crowding along the metric, binary tournaments, uniform
 * crossover and a small mutation; every child screened like the mixed candidates. The rank is
 * the domination count, not Deb's front peeling: the pool is small. */
#include "tune_internal.h"

#include "rng.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>

/* NSGA-II ranking of pool members: constrained domination on (accuracy estimate, objective metric).
 * The estimate is the figure on the prefix a member was screened on, as the ladder steers; only
 * the final decision takes the interval's lower end (cand_meets_budget). */
static int nsga_better(const struct tune *t, const struct cand *a, const struct cand *b)
{
    const double va = fmax(0, t->thr - tune_top1(a)), vb = fmax(0, t->thr - tune_top1(b));
    if (va != vb) return va < vb;
    const double aa = tune_top1(a), ab = tune_top1(b), ma = tune_metric(t, a), mb = tune_metric(t, b);
    return aa >= ab && ma <= mb && (aa > ab || ma < mb);
}

/* Sorts pool by (non-dominated rank, crowding distance descending) and keeps the first keep. */
void nsga_select(const struct tune *t, int *pool, int n, int keep, int *out_n)
{
    int *rank = calloc((size_t)n, sizeof(int));
    double *crowd = calloc((size_t)n, sizeof(double));
    if (!rank || !crowd) {
        free(rank);
        free(crowd);
        *out_n = n < keep ? n : keep;
        return;
    }
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            if (j != i && nsga_better(t, &t->c[pool[j]], &t->c[pool[i]])) rank[i]++;   /* domination count as rank */
    }
    for (int i = 0; i < n; i++) {   /* crowding along the objective metric among equal ranks */
        double lo = INFINITY, hi = -INFINITY;
        const double mi = tune_metric(t, &t->c[pool[i]]);
        double below = -INFINITY, above = INFINITY;
        for (int j = 0; j < n; j++) {
            if (rank[j] != rank[i]) continue;
            const double mj = tune_metric(t, &t->c[pool[j]]);
            lo = fmin(lo, mj);
            hi = fmax(hi, mj);
            if (j != i && mj < mi && mj > below) below = mj;
            if (j != i && mj > mi && mj < above) above = mj;
        }
        crowd[i] = !isfinite(below) || !isfinite(above) ? INFINITY : (above - below) / (hi > lo ? hi - lo : 1);
    }
    for (int i = 1; i < n; i++)   /* insertion sort: the pool is small */
        for (int j = i; j > 0; j--) {
            const int better = rank[j] < rank[j - 1] || (rank[j] == rank[j - 1] && crowd[j] > crowd[j - 1]);
            if (!better) break;
            int ti = pool[j]; pool[j] = pool[j - 1]; pool[j - 1] = ti;
            ti = rank[j]; rank[j] = rank[j - 1]; rank[j - 1] = ti;
            const double tc = crowd[j]; crowd[j] = crowd[j - 1]; crowd[j - 1] = tc;
        }
    free(rank);
    free(crowd);
    *out_n = n < keep ? n : keep;
}

/* A child genome[n_elig] of two parents drawn by binary tournaments from the sorted pool[0..np). */
static void nsga_child(const struct tune *t, struct rng *rng, const int *pool, int np, unsigned char *child)
{
    const int m = t->n_elig;
    /* Binary tournaments (the population is sorted, so the smaller index wins). */
    int a = (int)(rng_next(rng) % (uint64_t)np), b = (int)(rng_next(rng) % (uint64_t)np);
    const int pa = pool[a < b ? a : b];
    a = (int)(rng_next(rng) % (uint64_t)np);
    b = (int)(rng_next(rng) % (uint64_t)np);
    const int pb = pool[a < b ? a : b];
    for (int i = 0; i < m; i++) child[i] = (rng_next(rng) & 1) ? t->c[pa].genome[i] : t->c[pb].genome[i];
    /* Mutation: about two layers move one palettization step (or to a random choice). */
    for (int i = 0; i < m; i++) {
        if (rng_next(rng) % (uint64_t)m >= 2) continue;
        const int c = child[i];
        if (t->choice[c].kind == CH_PAL && t->n_choice > 2) {
            const int up = rng_next(rng) & 1;
            const int nc = up ? c + 1 : c - 1;
            if (nc >= 1 && nc < t->n_choice && t->choice[nc].kind == CH_PAL) child[i] = (unsigned char)nc;
        } else {
            child[i] = (unsigned char)(rng_next(rng) % (uint64_t)t->n_choice);
        }
    }
}

/* Generations of children of the population t->pop, each generation screened. */
int stage_nsga2(struct tune *t)
{
    const int *pop = t->pop, n_pop = t->n_pop;
    const int m = t->n_elig;
    struct rng rng;
    rng_seed(&rng, t->o->seed);
    int cap = n_pop + t->o->generations * t->o->offspring + 1;
    int *pool = malloc(sizeof(int) * (size_t)cap);
    unsigned char *child = malloc((size_t)m);
    int *kids = malloc(sizeof(int) * (size_t)(t->o->offspring + 1));
    int n = 0, rc = !pool || !child || !kids ? status_error(STATUS_NOMEM, "out of memory") : STATUS_OK;
    for (int i = 0; !rc && i < n_pop; i++) pool[n++] = pop[i];
    const int P = n_pop > 4 ? n_pop : 4;
    for (int g = 0; g < t->o->generations && !rc && n >= 2 && !tune_check_time(t); g++) {
        int np = 0;
        nsga_select(t, pool, n, P, &np);
        int nk = 0;
        for (int o = 0; o < t->o->offspring && !rc; o++) {
            nsga_child(t, &rng, pool, np, child);
            int ci = -1;
            if ((rc = add_mixed(t, child, "nsga2", &ci))) break;
            int dup = 0;
            for (int j = 0; j < n; j++) dup |= pool[j] == ci;
            for (int j = 0; j < nk; j++) dup |= kids[j] == ci;
            if (!dup) kids[nk++] = ci;
        }
        if (rc) break;
        const int64_t rungs[2] = { t->o->mixed_rung < t->n_val ? t->o->mixed_rung : t->n_val, t->n_val };
        if ((rc = tune_screen_rungs(t, kids, nk, rungs, rungs[0] < t->n_val ? 2 : 1))) break;
        for (int j = 0; j < nk; j++) pool[n++] = kids[j];
    }
    free(pool);
    free(child);
    free(kids);
    return rc;
}
