/* fit.h — least-squares calibration of the per-layer additive cost model (GSL), with its
 * leave-one-configuration-out error.
 *
 * Each measured configuration gives one end-to-end row (the network's features against its
 * measured latency) and, when per-layer times were measured, one row per layer (the layer's
 * features against its time). All rows of a configuration are divided by its end-to-end latency,
 * so the fit minimises errors as fractions of the network's latency: what the search compares. */
#ifndef RN_COST_FIT_H
#define RN_COST_FIT_H

#include "layer_features.h"

/* One measured configuration. */
struct cost_sample {
    char config[64];
    char model[64];
    const struct resnet *net;      /* its architecture; not owned */
    struct compress_plan plan;     /* owned (compress_plan_free) */
    double e2e_ms;                 /* measured end-to-end latency (median), or NAN */
    double *layer_ms;              /* [plan.n_layers] per-layer medians (NAN: not measured), or NULL; owned */
};

void cost_sample_free(struct cost_sample *s);   /* frees members */

struct cost_fit_result {
    double coef[COST_TERMS];       /* ms per feature unit; 0 for terms not fitted */
    unsigned char used[COST_TERMS];
    int n_rows, n_configs, n_layer_rows;
    int rank;
    double fit_mape, fit_max;      /* percent, end-to-end, fitted on everything */
    double loo_mape, loo_max;      /* percent, end-to-end, each configuration predicted by a fit without it */
    int n_loo_deficient;           /* folds whose design lost rank (their terms without data kept at 0) */
    double *fitted, *loo;          /* [n samples] end-to-end predictions (NAN without a measurement); owned */
};

void cost_fit_result_free(struct cost_fit_result *r);

/* Fits the terms `terms[0..n_terms)` (cost_term indices) to the samples. Errors
 * (STATUS_BAD_INPUT): no terms, fewer rows than terms + 1, a term whose feature is zero in every
 * row, a rank-deficient design (the message names the terms that are linear combinations of the
 * others), a non-positive or non-finite latency. On failure *r is zeroed. */
int cost_fit(const struct cost_sample *s, int n, const int *terms, int n_terms, struct cost_fit_result *r);

/* Predicted end-to-end latency of sample-like (net, plan) under coefficients coef[COST_TERMS]. */
double cost_fit_predict(const double *coef, const struct resnet *net, const struct compress_plan *plan);

#endif
