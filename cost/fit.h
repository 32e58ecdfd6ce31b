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

/* A term the measurements cannot separate from earlier terms: in every row its feature is a
 * linear combination of theirs (one model: net.out_m is the same multiple of net.one in every
 * configuration). Its coefficient is 0 and the kept terms carry its effect (see cost_fit). */
struct cost_fit_merge {
    int term;                      /* the merged term (cost_term index) */
    int into;                      /* the kept term with the largest share of the combination */
    char relation[256];            /* "net.out_m = 11.11 net.one" (ResNet50), the combination found */
};

struct cost_fit_result {
    double coef[COST_TERMS];       /* ms per feature unit; 0 for terms not fitted or merged */
    unsigned char used[COST_TERMS];   /* the terms asked for, merged ones included */
    int n_merged;
    struct cost_fit_merge *merged; /* [n_merged], in the order of `terms`; owned */
    int n_rows, n_configs, n_layer_rows;
    int rank;
    double fit_mape, fit_max;      /* percent, end-to-end, fitted on everything */
    double loo_mape, loo_max;      /* percent, end-to-end, each configuration predicted by a fit without it */
    int n_loo_deficient;           /* folds whose design lost rank (their terms without data kept at 0) */
    double *fitted, *loo;          /* [n samples] end-to-end predictions (NAN without a measurement); owned */
};

void cost_fit_result_free(struct cost_fit_result *r);

/* Fits the terms `terms[0..n_terms)` (cost_term indices) to the samples. Terms are taken in the
 * order given: one whose column of the design is a linear combination of the columns of earlier
 * kept terms (the measurements cannot tell them apart) is merged, not fitted: coefficient 0,
 * recorded in r->merged with the combination; the kept terms' coefficients then carry its
 * effect, so predictions are unchanged on every configuration where the same relation holds
 * (for net.out_m against net.one: every plan of the measured architecture). r->rank is the number
 * of kept terms. Errors (STATUS_BAD_INPUT): no terms, fewer rows than terms + 1, a term whose
 * feature is zero in every row, a design still rank-deficient after merging (the message names
 * the terms), a non-positive or non-finite latency. On failure *r is zeroed. */
int cost_fit(const struct cost_sample *s, int n, const int *terms, int n_terms, struct cost_fit_result *r);

/* Predicted end-to-end latency of sample-like (net, plan) under coefficients coef[COST_TERMS]. */
double cost_fit_predict(const double *coef, const struct resnet *net, const struct compress_plan *plan);

#endif
