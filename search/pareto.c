/* pareto.c — dominance, non-dominated fronts, budget filters and exact 2-D / 3-D hypervolume
 * (see pareto.h), plus a brute-force grid hypervolume kept next to the fast ones for tests.
 *
 * Every objective is first mapped to "lower is better" (accuracy is negated), so one comparison
 * serves all three. The front is the plain O(n^2) double loop: the search evaluates thousands of
 * points at most, and the simple loop makes ties obvious. Not here: incremental front updates
 * and hypervolume contributions of single points (the driver can recompute; n is small). */
#include "pareto.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>

#define PARETO_BUDGET_TOL 1e-9

/* Objective k of p in minimisation form (k: 0 accuracy, 1 size, 2 latency). */
static double pareto_coord(const struct pareto_point *p, int k)
{
    switch (k) {
    case 0: return -p->accuracy;
    case 1: return p->bytes;
    case 2: return p->latency_ms;
    default: RN_ASSERT(0); return 0.0;
    }
}

/* The objective indices in the bitmask, in order; returns how many. */
static int pareto_dims(unsigned objectives, int dims[PARETO_OBJECTIVE_COUNT])
{
    int d = 0;
    for (int k = 0; k < PARETO_OBJECTIVE_COUNT; k++)
        if (objectives & (1u << k))
            dims[d++] = k;
    return d;
}

static int pareto_has_nan(const struct pareto_point *p, unsigned objectives)
{
    for (int k = 0; k < PARETO_OBJECTIVE_COUNT; k++)
        if ((objectives & (1u << k)) && isnan(pareto_coord(p, k)))
            return 1;
    return 0;
}

int pareto_dominates_in(const struct pareto_point *a, const struct pareto_point *b, unsigned objectives)
{
    RN_ASSERT(a && b && objectives != 0 && (objectives & ~(unsigned)PARETO_ALL) == 0);
    int better = 0;
    for (int k = 0; k < PARETO_OBJECTIVE_COUNT; k++) {
        if (!(objectives & (1u << k)))
            continue;
        double x = pareto_coord(a, k), y = pareto_coord(b, k);
        /* Written as !(x <= y) so that a NaN on either side means "not dominating". */
        if (!(x <= y))
            return 0;
        if (x < y)
            better = 1;
    }
    return better;
}

int pareto_dominates(const struct pareto_point *a, const struct pareto_point *b)
{
    return pareto_dominates_in(a, b, PARETO_ALL);
}

int pareto_front_in(const struct pareto_point *points, int n, unsigned objectives,
                    unsigned char *keep_mask)
{
    RN_ASSERT(n >= 0 && (n == 0 || (points && keep_mask)));
    int kept = 0;
    for (int i = 0; i < n; i++) {
        int keep = !pareto_has_nan(&points[i], objectives);
        for (int j = 0; keep && j < n; j++)
            if (j != i && pareto_dominates_in(&points[j], &points[i], objectives))
                keep = 0;
        keep_mask[i] = (unsigned char)keep;
        kept += keep;
    }
    return kept;
}

int pareto_front(const struct pareto_point *points, int n, unsigned char *keep_mask)
{
    return pareto_front_in(points, n, PARETO_ALL, keep_mask);
}

double pareto_budget_threshold(double baseline, double budget, enum pareto_budget_kind kind)
{
    RN_ASSERT(budget >= 0.0 && kind >= 0 && kind < PARETO_BUDGET_KIND_COUNT);
    if (kind == PARETO_BUDGET_RELATIVE)
        return baseline * (1.0 - budget / 100.0);
    return baseline - budget;
}

int pareto_budget_mask(const struct pareto_point *points, int n, double baseline, double budget,
                       enum pareto_budget_kind kind, unsigned char *within_mask)
{
    RN_ASSERT(n >= 0 && (n == 0 || (points && within_mask)));
    double threshold = pareto_budget_threshold(baseline, budget, kind) - PARETO_BUDGET_TOL;
    int inside = 0;
    for (int i = 0; i < n; i++) {
        int ok = points[i].accuracy >= threshold;  /* false for NaN */
        within_mask[i] = (unsigned char)ok;
        inside += ok;
    }
    return inside;
}

/* A point in minimisation coordinates, as the sweeps use it. */
struct pareto_xyz {
    double x, y, z;
};

static int pareto_cmp_xy(const void *pa, const void *pb)
{
    const struct pareto_xyz *a = pa, *b = pb;
    if (a->x != b->x)
        return a->x < b->x ? -1 : 1;
    if (a->y != b->y)
        return a->y < b->y ? -1 : 1;
    return 0;
}

static int pareto_cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return a < b ? -1 : a > b;
}

/* Area dominated by the n points (sorted by x, then y) within [., rx] x [., ry], counting only
 * points with z <= zmax. Sweeping in x order, a point adds area only if it lowers the best y seen
 * so far, and then exactly the strip [x, rx] x [y, best) that no earlier point covered. */
static double pareto_sweep_2d(const struct pareto_xyz *s, int n, double rx, double ry, double zmax)
{
    double area = 0.0, best_y = ry;
    for (int i = 0; i < n; i++) {
        if (s[i].z > zmax || s[i].y >= best_y)
            continue;
        area += (rx - s[i].x) * (best_y - s[i].y);
        best_y = s[i].y;
    }
    return area;
}

/* Copies the points strictly better than ref in the objectives dims[0..d) into s (minimisation
 * coordinates; z = 0 when d == 2). NaNs fail the strict comparison and drop out. Returns count. */
static int pareto_gather(const struct pareto_point *points, int n, const int *dims, int d,
                         const struct pareto_point *ref, struct pareto_xyz *s)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        double c[3] = {0.0, 0.0, 0.0};
        int inside = 1;
        for (int k = 0; k < d; k++) {
            c[k] = pareto_coord(&points[i], dims[k]);
            if (!(c[k] < pareto_coord(ref, dims[k])))
                inside = 0;
        }
        if (inside)
            s[m++] = (struct pareto_xyz){c[0], c[1], c[2]};
    }
    return m;
}

double pareto_hypervolume_2d(const struct pareto_point *points, int n, unsigned objectives,
                             const struct pareto_point *ref)
{
    RN_ASSERT(n >= 0 && ref && (n == 0 || points));
    int dims[PARETO_OBJECTIVE_COUNT];
    if ((objectives & ~(unsigned)PARETO_ALL) || pareto_dims(objectives, dims) != 2)
        return -1.0;
    if (n == 0)
        return 0.0;
    struct pareto_xyz *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return -1.0;
    int m = pareto_gather(points, n, dims, 2, ref, s);
    qsort(s, (size_t)m, sizeof *s, pareto_cmp_xy);
    double area = pareto_sweep_2d(s, m, pareto_coord(ref, dims[0]), pareto_coord(ref, dims[1]), 0.0);
    free(s);
    return area;
}

double pareto_hypervolume_3d(const struct pareto_point *points, int n, const struct pareto_point *ref)
{
    RN_ASSERT(n >= 0 && ref && (n == 0 || points));
    if (n == 0)
        return 0.0;
    const int dims[3] = {0, 1, 2};
    struct pareto_xyz *s = malloc((size_t)n * sizeof *s);
    double *z = malloc((size_t)n * sizeof *z);
    double volume = -1.0;
    if (!s || !z)
        goto done;
    int m = pareto_gather(points, n, dims, 3, ref, s);
    qsort(s, (size_t)m, sizeof *s, pareto_cmp_xy);
    for (int i = 0; i < m; i++)
        z[i] = s[i].z;
    qsort(z, (size_t)m, sizeof *z, pareto_cmp_double);
    /* Between two consecutive distinct latencies z[i] and the next one (or the reference), the
     * dominated region's cross-section is constant: the 2-D front of the points with latency at
     * most z[i]. Summing slab thickness times that area is exact. */
    double rx = pareto_coord(ref, 0), ry = pareto_coord(ref, 1), rz = pareto_coord(ref, 2);
    volume = 0.0;
    for (int i = 0; i < m; i++) {
        if (i + 1 < m && z[i + 1] == z[i])
            continue;
        double top = i + 1 < m ? z[i + 1] : rz;
        volume += pareto_sweep_2d(s, m, rx, ry, z[i]) * (top - z[i]);
    }
done:
    free(s);
    free(z);
    return volume;
}

double pareto_hypervolume_ref(const struct pareto_point *points, int n, unsigned objectives,
                              const struct pareto_point *ref)
{
    RN_ASSERT(n >= 0 && ref && (n == 0 || points));
    int dims[PARETO_OBJECTIVE_COUNT];
    int d = pareto_dims(objectives, dims);
    if (d == 0 || (objectives & ~(unsigned)PARETO_ALL))
        return -1.0;
    /* Grid lines per dimension: every point coordinate below the reference, and the reference. */
    double *grid[PARETO_OBJECTIVE_COUNT] = {NULL, NULL, NULL};
    int len[PARETO_OBJECTIVE_COUNT] = {1, 1, 1};
    double volume = -1.0;
    for (int k = 0; k < d; k++) {
        grid[k] = malloc((size_t)(n + 1) * sizeof(double));
        if (!grid[k])
            goto done;
        double r = pareto_coord(ref, dims[k]);
        int m = 0;
        for (int i = 0; i < n; i++) {
            double c = pareto_coord(&points[i], dims[k]);
            if (c < r)
                grid[k][m++] = c;
        }
        grid[k][m++] = r;
        qsort(grid[k], (size_t)m, sizeof(double), pareto_cmp_double);
        int u = 1;
        for (int i = 1; i < m; i++)
            if (grid[k][i] != grid[k][u - 1])
                grid[k][u++] = grid[k][i];
        len[k] = u;
    }
    volume = 0.0;
    int idx[PARETO_OBJECTIVE_COUNT] = {0, 0, 0};
    for (;;) {
        int cell_ok = 1;
        for (int k = 0; k < d; k++)
            if (idx[k] + 1 >= len[k])
                cell_ok = 0;
        if (cell_ok) {
            double cell = 1.0;
            for (int k = 0; k < d; k++)
                cell *= grid[k][idx[k] + 1] - grid[k][idx[k]];
            /* The cell is dominated iff some point is no worse than its best corner. */
            for (int i = 0; i < n; i++) {
                int covers = 1;
                for (int k = 0; k < d && covers; k++)
                    covers = pareto_coord(&points[i], dims[k]) <= grid[k][idx[k]];
                if (covers) {
                    volume += cell;
                    break;
                }
            }
        }
        int k = 0;
        while (k < d && ++idx[k] >= len[k])
            idx[k++] = 0;
        if (k == d)
            break;
    }
done:
    for (int k = 0; k < d; k++)
        free(grid[k]);
    return volume;
}
