/* dkm.h — differentiable k-means (DKM, Cho et al. 2021; coremltools' DKMPalettizer, SPEC §3) on one
 * group of weights: the forward pass training uses instead of the weights, its exact gradient, and
 * the hard assignment that finalize stores.
 *
 * Forward, for a group x [n] and the centroids c0 [k] carried over from the previous training step
 * (treated as constants, as coremltools detaches them), T = max_iter times:
 *     d_ij = (x_i - c_j)^2,  a_ij = max(softmax_j(-d_ij / tau), eps),
 *     c_j <- sum_i a_ij x_i / sum_i a_ij
 * and the weights used are y_i = sum_j a_ij c_j with the last attention and the last centroids.
 * Unlike coremltools we always run the T iterations (no early stop on the inertia), so the result
 * is a fixed function of (x, c0) that a test can check.
 *
 * Backward: the gradient of the loss with respect to x through every iteration (through the
 * attention's softmax and the centroids' weighted means), exact for this forward; the clamp at eps
 * passes no gradient where it is active. Memory: the attention of every iteration, T*n*k floats. */
#ifndef RN_DKM_H
#define RN_DKM_H

#include <stdint.h>

#define DKM_ATTENTION_EPS 1e-7f   /* coremltools' zero_threshold: the attention's floor */

struct dkm_opts {
    int k;            /* centroids (2^n_bits) */
    int max_iter;     /* T >= 1 (kmeans_max_iter) */
    double tau;       /* softmax temperature > 0 (palett_tau) */
};

/* Floats of the work buffer dkm_forward fills for dkm_backward: T*n*k attention (the softmax
 * before the clamp) + (T+1)*k centroids. */
int64_t dkm_work_floats(int64_t n, const struct dkm_opts *o);

/* x [n], c0 [k] -> y [n] (must not alias x), c_out [k] = the last centroids (may be NULL, or
 * alias c0). work: dkm_work_floats() floats, to keep for dkm_backward. */
void dkm_forward(const float *x, int64_t n, const float *c0, const struct dkm_opts *o, float *y, float *c_out,
                 float *work);

/* gy [n]: dL/dy -> gx [n]: dL/dx (overwritten), from the work of the dkm_forward on the same x. */
void dkm_backward(const float *x, int64_t n, const struct dkm_opts *o, const float *work, const float *gy, float *gx);

/* The same forward written plainly in double precision (the test's reference, and the function
 * the finite-difference check differentiates). */
void dkm_forward_ref(const double *x, int64_t n, const double *c0, const struct dkm_opts *o, double *y, double *c_out);

/* Hard assignment: idx[i] = argmin_j |x_i - c_j| (the lower index on ties). */
void dkm_assign(const float *x, int64_t n, const float *c, int k, uint8_t *idx);

#endif
