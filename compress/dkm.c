/* dkm.c — differentiable k-means on one group of weights: forward, exact backward, a plain
 * double-precision reference and the hard assignment (see dkm.h for the maths).
 *
 * The fast forward computes and stores the attention in float (before the clamp, so that the
 * backward pass knows the softmax exactly where the clamp was active) and accumulates the centroid
 * sums in double; the backward pass works in double from the stored attention. Rows are
 * independent, so both passes split rows over threads and reduce the k per-centroid sums. */
#include "dkm.h"

#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DKM_MAX_K 256
#define DKM_PAR_MIN 16384   /* rows below which threads cost more than they give */

int64_t dkm_work_floats(int64_t n, const struct dkm_opts *o)
{
    return (int64_t)o->max_iter * n * o->k + (int64_t)(o->max_iter + 1) * o->k;
}

/* p[j] = softmax_j(-(x - c_j)^2 / tau), unclamped, in float (the exponent is <= 0 after
 * subtracting the row's maximum, so expf cannot overflow); shares under e^-60 are 0. */
static void softmax_row(float x, const float *c, int k, float inv_tau, float *p)
{
    float zmax = -INFINITY;
    for (int j = 0; j < k; j++) {
        const float d = x - c[j];
        p[j] = -d * d * inv_tau;
        if (p[j] > zmax) zmax = p[j];
    }
    float sum = 0;
    for (int j = 0; j < k; j++) {
        /* Below e^-60 the share is far under the clamp's floor: make it exactly 0 rather than let
         * expf produce subnormals, which are two orders of magnitude slower to compute with. */
        const float z = p[j] - zmax;
        p[j] = z > -60.0f ? expf(z) : 0.0f;
        sum += p[j];
    }
    const float inv = 1.0f / sum;
    for (int j = 0; j < k; j++) p[j] *= inv;
}

static inline float clamp_eps(float p) { return p > DKM_ATTENTION_EPS ? p : DKM_ATTENTION_EPS; }

void dkm_forward(const float *x, int64_t n, const float *c0, const struct dkm_opts *o, float *y, float *c_out,
                 float *work)
{
    const int k = o->k, T = o->max_iter;
    RN_ASSERT(k >= 1 && k <= DKM_MAX_K && T >= 1 && o->tau > 0 && work);
    const float inv_tau = (float)(1.0 / o->tau);
    float *cents = work;                        /* [(T+1), k] */
    float *att = work + (int64_t)(T + 1) * k;   /* [T, n, k] softmax before the clamp */
    memcpy(cents, c0, sizeof(float) * k);
    for (int t = 0; t < T; t++) {
        const float *c = cents + (int64_t)t * k;
        float *P = att + (int64_t)t * n * k;
        double num[DKM_MAX_K], den[DKM_MAX_K];
        for (int j = 0; j < k; j++) num[j] = den[j] = 0;
        #pragma omp parallel for schedule(static) reduction(+ : num[:k], den[:k]) if (n >= DKM_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            float *p = P + i * k;
            softmax_row(x[i], c, k, inv_tau, p);
            for (int j = 0; j < k; j++) {
                const float a = clamp_eps(p[j]);
                num[j] += (double)a * x[i];
                den[j] += a;
            }
        }
        float *cn = cents + (int64_t)(t + 1) * k;
        for (int j = 0; j < k; j++) cn[j] = (float)(num[j] / den[j]);   /* den >= n * eps > 0 */
    }
    const float *P = att + (int64_t)(T - 1) * n * k, *cT = cents + (int64_t)T * k;
    #pragma omp parallel for schedule(static) if (n >= DKM_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float s = 0;
        for (int j = 0; j < k; j++) s += clamp_eps(P[i * k + j]) * cT[j];
        y[i] = s;
    }
    if (c_out) memcpy(c_out, cT, sizeof(float) * k);
}

void dkm_backward(const float *x, int64_t n, const struct dkm_opts *o, const float *work, const float *gy, float *gx)
{
    const int k = o->k, T = o->max_iter;
    RN_ASSERT(k >= 1 && k <= DKM_MAX_K && T >= 1);
    const double inv_tau = 1.0 / o->tau;
    const float *cents = work, *att = work + (int64_t)(T + 1) * k;
    /* G: dL/dc^{t+1}, starting with the last centroids' share of y = A c. */
    double G[DKM_MAX_K], s[DKM_MAX_K];
    {
        const float *P = att + (int64_t)(T - 1) * n * k;
        for (int j = 0; j < k; j++) G[j] = 0;
        #pragma omp parallel for schedule(static) reduction(+ : G[:k]) if (n >= DKM_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < k; j++) G[j] += (double)gy[i] * clamp_eps(P[i * k + j]);
    }
    memset(gx, 0, sizeof(float) * n);
    for (int t = T - 1; t >= 0; t--) {
        const float *P = att + (int64_t)t * n * k, *c = cents + (int64_t)t * k, *cn = cents + (int64_t)(t + 1) * k;
        for (int j = 0; j < k; j++) s[j] = 0;
        #pragma omp parallel for schedule(static) reduction(+ : s[:k]) if (n >= DKM_PAR_MIN)
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < k; j++) s[j] += clamp_eps(P[i * k + j]);
        double Gs[DKM_MAX_K], Gt[DKM_MAX_K];   /* G_j / s_j; Gt: dL/dc^t */
        for (int j = 0; j < k; j++) {
            Gs[j] = G[j] / s[j];
            Gt[j] = 0;
        }
        const int last = t == T - 1;
        #pragma omp parallel for schedule(static) reduction(+ : Gt[:k]) if (n >= DKM_PAR_MIN)
        for (int64_t i = 0; i < n; i++) {
            const double xi = x[i];
            const float *p = P + i * k;
            double ga[DKM_MAX_K];
            double g = 0, dot = 0;
            for (int j = 0; j < k; j++) {
                /* c^{t+1}_j = sum_i a_ij x_i / s_j: d/da_ij = (x_i - c^{t+1}_j) / s_j, d/dx_i = a_ij / s_j;
                 * the clamp passes no gradient where the floor is active. */
                g += Gs[j] * clamp_eps(p[j]);
                ga[j] = p[j] > DKM_ATTENTION_EPS ? Gs[j] * (xi - cn[j]) + (last ? (double)gy[i] * cn[j] : 0.0) : 0.0;
                dot += p[j] * ga[j];
            }
            for (int j = 0; j < k; j++) {
                const double gz = p[j] * (ga[j] - dot);            /* through the softmax */
                const double dz_dx = -2.0 * (xi - c[j]) * inv_tau;   /* z_j = -(x - c_j)^2 / tau */
                g += gz * dz_dx;
                Gt[j] -= gz * dz_dx;
            }
            gx[i] += (float)g;
        }
        memcpy(G, Gt, sizeof G);   /* c^0 is a constant: the last Gt is dropped */
    }
}

void dkm_forward_ref(const double *x, int64_t n, const double *c0, const struct dkm_opts *o, double *y, double *c_out)
{
    const int k = o->k;
    double *c = malloc(sizeof(double) * k), *a = malloc(sizeof(double) * n * k);
    RN_ASSERT(c && a);
    for (int j = 0; j < k; j++) c[j] = c0[j];
    for (int t = 0; t < o->max_iter; t++) {
        for (int64_t i = 0; i < n; i++) {
            double zmax = -INFINITY, sum = 0;
            for (int j = 0; j < k; j++) {
                a[i * k + j] = -(x[i] - c[j]) * (x[i] - c[j]) / o->tau;
                zmax = fmax(zmax, a[i * k + j]);
            }
            for (int j = 0; j < k; j++) sum += a[i * k + j] = exp(a[i * k + j] - zmax);
            for (int j = 0; j < k; j++) a[i * k + j] = fmax(a[i * k + j] / sum, (double)DKM_ATTENTION_EPS);
        }
        for (int j = 0; j < k; j++) {
            double num = 0, den = 0;
            for (int64_t i = 0; i < n; i++) {
                num += a[i * k + j] * x[i];
                den += a[i * k + j];
            }
            c[j] = num / den;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        y[i] = 0;
        for (int j = 0; j < k; j++) y[i] += a[i * k + j] * c[j];
    }
    if (c_out)
        for (int j = 0; j < k; j++) c_out[j] = c[j];
    free(c);
    free(a);
}

void dkm_assign(const float *x, int64_t n, const float *c, int k, uint8_t *idx)
{
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        float bd = fabsf(x[i] - c[0]);
        for (int j = 1; j < k; j++) {
            const float d = fabsf(x[i] - c[j]);
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
        idx[i] = (uint8_t)best;
    }
}
