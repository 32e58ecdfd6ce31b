/* kmeans.h — one-dimensional weighted k-means: the exact, globally optimal solution by dynamic
 * programming (what palettization uses), and plain Lloyd iterations as a reference to compare
 * against (benchmarks and tests).
 *
 * Both work on sorted, distinct values x[0..n) with non-negative weights w (multiplicities, or
 * arbitrary importances for sensitive k-means) and minimise  sum_i w_i (x_i - c(i))^2.
 * In one dimension every optimal cluster is a contiguous run of the sorted values, so a
 * clustering is given by its boundaries: cluster j holds x[bounds[j] .. bounds[j+1]).
 * With n < k there are only n clusters (one value each); the caller pads its LUT. */
#ifndef RN_KMEANS_H
#define RN_KMEANS_H

#include <stdint.h>

/* Exact optimal weighted k-means.
 * x [n]: strictly increasing, finite; w [n]: finite, >= 0 (zero weights allowed; a cluster whose
 * weights are all zero gets the plain mean of its values as centroid). k >= 1.
 * Outputs (caller-allocated): centroids [min(n, k)], increasing; bounds [min(n, k) + 1] with
 * bounds[0] = 0, bounds[min(n,k)] = n and every cluster non-empty (may be NULL); sse (may be NULL):
 * the objective, computed directly from the final clusters.
 * Time O(k n log n) at worst (divide-and-conquer over the monotone optimal split points, with
 * Knuth's sweep for layers where clusters are narrow), memory O(k n) int32 for the back-pointers.
 * Uses OpenMP tasks inside each DP layer when n is large; the result does not depend on threads.
 * Returns STATUS_OK, STATUS_BAD_INPUT (unsorted x, negative or non-finite w, k < 1, n >= 2^31)
 * or STATUS_NOMEM. */
int kmeans1d_optimal(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                     double *sse);

/* The same problem by the textbook divide and conquer alone (no cross-layer bound, no sweep):
 * the reference for kmeans1d_optimal's fast path on inputs too large for brute force. */
int kmeans1d_optimal_dc(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                        double *sse);

/* The same problem by brute force over every placement of the boundaries (O(C(n-1, k-1) n));
 * for tests only, n <= 20. Same outputs as kmeans1d_optimal. */
int kmeans1d_optimal_ref(const double *x, const double *w, int64_t n, int k, double *centroids, int64_t *bounds,
                         double *sse);

enum kmeans_init { KMEANS_INIT_KMEANSPP, KMEANS_INIT_QUANTILE, KMEANS_INIT_COUNT };

struct kmeans_lloyd_opts {
    int max_iter;            /* iterations at most (sklearn's default: 300) */
    enum kmeans_init init;   /* k-means++ (weighted D^2 sampling) or weighted quantiles */
    uint64_t seed;           /* for k-means++ */
    int iterations;          /* out: iterations run (stops early when no centroid moves) */
};

/* Plain Lloyd iterations (assign to the nearest centroid, move centroids to weighted means) on
 * the same input as kmeans1d_optimal, with the same outputs. A cluster that becomes empty keeps
 * its centroid, so bounds may then describe empty clusters. A local optimum: its sse is never
 * below kmeans1d_optimal's. Each iteration is O(n + k log k) (one sweep over sorted values). */
int kmeans1d_lloyd(const double *x, const double *w, int64_t n, int k, struct kmeans_lloyd_opts *opts,
                   double *centroids, int64_t *bounds, double *sse);

#endif
