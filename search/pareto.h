/* pareto.h — Pareto dominance, fronts, budget filtering and exact hypervolume over the three
 * objectives of a compressed model: top-1 accuracy (maximised), size in bytes and latency in
 * milliseconds (both minimised). SPEC §7.
 *
 * Objectives can be restricted with a bitmask of enum pareto_objective, so the same code gives the
 * accuracy-vs-size front of a plot and the full three-objective front. A point with a NaN in any
 * objective in use is treated as not evaluated: it is never on a front, never dominates and adds
 * no hypervolume. */
#ifndef RN_PARETO_H
#define RN_PARETO_H

#include <stdint.h>

/* One evaluated candidate. Size is a double like the other objectives so that dominance and
 * hypervolume treat all three alike; doubles hold byte counts exactly below 2^53. */
struct pareto_point {
    double accuracy;    /* top-1 in percent, higher is better */
    double bytes;       /* deployment size, lower is better */
    double latency_ms;  /* predicted or measured latency, lower is better */
    int64_t id;         /* the caller's handle (e.g. an index into the store); never compared */
};

enum pareto_objective {
    PARETO_ACCURACY = 1u << 0,
    PARETO_SIZE = 1u << 1,
    PARETO_LATENCY = 1u << 2,
    PARETO_ALL = PARETO_ACCURACY | PARETO_SIZE | PARETO_LATENCY,
    PARETO_OBJECTIVE_COUNT = 3
};

/* 1 if a dominates b in every objective: no worse in all three and strictly better in at least
 * one; 0 otherwise (also when either holds a NaN). Identical points do not dominate each other. */
int pareto_dominates(const struct pareto_point *a, const struct pareto_point *b);

/* As pareto_dominates, over the objectives in the bitmask objectives (non-zero, within
 * PARETO_ALL). */
int pareto_dominates_in(const struct pareto_point *a, const struct pareto_point *b, unsigned objectives);

/* Marks the non-dominated points of points[0..n): keep_mask[i] = 1 if no other point dominates
 * point i, else 0 (also 0 for a point with a NaN objective). Returns the number kept. Exact ties
 * are kept together: two identical points do not dominate each other, so if one is on the front
 * every copy is, and the caller decides which to show. O(n^2) comparisons, fine for thousands. */
int pareto_front(const struct pareto_point *points, int n, unsigned char *keep_mask);

/* As pareto_front, over the objectives in the bitmask objectives. */
int pareto_front_in(const struct pareto_point *points, int n, unsigned objectives,
                    unsigned char *keep_mask);

enum pareto_budget_kind {
    PARETO_BUDGET_ABSOLUTE,  /* accuracy >= baseline - budget (percentage points) */
    PARETO_BUDGET_RELATIVE,  /* accuracy >= baseline * (1 - budget / 100) (percent of baseline) */
    PARETO_BUDGET_KIND_COUNT
};

/* The accuracy a point needs to meet the budget: `--budget 5%` is (baseline, 5, ABSOLUTE),
 * `--budget 5%rel` is (baseline, 5, RELATIVE). budget >= 0. */
double pareto_budget_threshold(double baseline, double budget, enum pareto_budget_kind kind);

/* within_mask[i] = 1 if points[i].accuracy is at least the threshold above, else 0 (NaN
 * accuracies are outside). A point exactly at the threshold is inside: the comparison allows
 * 1e-9 percentage points so that 91.23 - 5 computed in floating point does not exclude a
 * measured 86.23. Returns the number inside. */
int pareto_budget_mask(const struct pareto_point *points, int n, double baseline, double budget,
                       enum pareto_budget_kind kind, unsigned char *within_mask);

/* Hypervolume of the region dominated by points[0..n) and bounded by the reference point ref,
 * over the two objectives in the bitmask objectives (exactly two bits): the area of everything
 * at least as good as some point and at least as bad as ref, in objective units (percent x bytes,
 * percent x ms or bytes x ms). Points not strictly better than ref in both objectives add
 * nothing; duplicates and dominated points change nothing. O(n log n). Returns -1 if objectives
 * does not hold exactly two bits. */
double pareto_hypervolume_2d(const struct pareto_point *points, int n, unsigned objectives,
                             const struct pareto_point *ref);

/* The same over all three objectives (percent x bytes x ms), exact: the volume is cut into slabs
 * between consecutive latencies, each slab's cross-section being the 2-D hypervolume of the
 * points at or below it. O(n^2) after one sort. Allocates O(n) scratch; returns -1 if that fails. */
double pareto_hypervolume_3d(const struct pareto_point *points, int n, const struct pareto_point *ref);

/* Reference for tests: the same quantity over any non-empty set of objectives by a grid of every
 * distinct coordinate, a cell counting when some point dominates its best corner. O(n^(d+1));
 * keep n small. Returns -1 on bad objectives or allocation failure. */
double pareto_hypervolume_ref(const struct pareto_point *points, int n, unsigned objectives,
                              const struct pareto_point *ref);

#endif
