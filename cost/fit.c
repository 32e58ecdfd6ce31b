/* fit.c — weighted least squares for the cost model with GSL (see fit.h). The only file that sees
 * GSL's types.
 *
 * Implements: the design matrix from end-to-end and per-layer rows, the merging of terms the
 * measurements cannot separate (Gram-Schmidt over the column-normalised design in the order of
 * the terms), a rank check of what is left (SVD) that names the offending terms, the fit
 * (gsl_multifit_linear) and leave-one-configuration-out refits (gsl_multifit_linear_tsvd, which
 * tolerates a fold that lost a term's only data). Does not choose the terms: the caller (cost fit
 * --terms) does; it only sets aside those the data make redundant. */
#include "fit.h"
#include "config.h"
#include "status.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Singular values below this fraction of the largest (after normalising the columns) mean a
 * combination of terms has no support in the data. */
#define FIT_RANK_TOL 1e-9

void cost_sample_free(struct cost_sample *s)
{
    if (!s) return;
    compress_plan_free(&s->plan);
    free(s->layer_ms);
    s->layer_ms = NULL;
}

void cost_fit_result_free(struct cost_fit_result *r)
{
    if (!r) return;
    free(r->fitted);
    free(r->loo);
    free(r->merged);
    memset(r, 0, sizeof *r);
}

double cost_fit_predict(const double *coef, const struct resnet *net, const struct compress_plan *plan)
{
    double x[COST_TERMS];
    cost_net_features(net, plan, x);
    double y = 0.0;
    for (int t = 0; t < COST_TERMS; t++) y += coef[t] * x[t];
    return y;
}

/* The design: rows already divided by their configuration's latency (y becomes t / e2e). */
struct design {
    int rows, cols;
    double *X, *y;     /* [rows][cols], [rows] */
    int *sample;       /* [rows]: which configuration */
};

static void design_free(struct design *d)
{
    free(d->X);
    free(d->y);
    free(d->sample);
    memset(d, 0, sizeof *d);
}

static int design_build(const struct cost_sample *s, int n, const int *terms, int n_terms, struct design *d)
{
    memset(d, 0, sizeof *d);
    int cap = 0;
    for (int i = 0; i < n; i++) {
        if (!isnan(s[i].e2e_ms)) cap++;
        if (s[i].layer_ms) cap += s[i].plan.n_layers;
    }
    d->cols = n_terms;
    d->X = malloc(sizeof(double) * (size_t)(cap ? cap : 1) * (size_t)n_terms);
    d->y = malloc(sizeof(double) * (size_t)(cap ? cap : 1));
    d->sample = malloc(sizeof(int) * (size_t)(cap ? cap : 1));
    if (!d->X || !d->y || !d->sample) {
        design_free(d);
        return status_error(STATUS_NOMEM, "cost fit: out of memory for %d rows", cap);
    }
    double x[COST_TERMS];
    for (int i = 0; i < n; i++) {
        const struct cost_sample *c = &s[i];
        if (!cost_plan_matches(c->net, &c->plan)) {
            design_free(d);
            return status_error(STATUS_BAD_INPUT, "cost fit: configuration %s: its plan is not for model %s", c->config,
                                c->model);
        }
        /* The scale of this configuration: its end-to-end latency, else the sum of its layers. */
        double scale = c->e2e_ms;
        if (isnan(scale) && c->layer_ms) {
            scale = 0.0;
            for (int l = 0; l < c->plan.n_layers; l++)
                if (!isnan(c->layer_ms[l])) scale += c->layer_ms[l];
        }
        if (!(scale > 0.0) || !isfinite(scale)) {
            design_free(d);
            return status_error(STATUS_BAD_INPUT, "cost fit: configuration %s (%s): latency %g ms is not a positive number",
                                c->config, c->model, scale);
        }
        if (!isnan(c->e2e_ms)) {
            cost_net_features(c->net, &c->plan, x);
            for (int j = 0; j < n_terms; j++) d->X[(size_t)d->rows * n_terms + j] = x[terms[j]] / scale;
            d->y[d->rows] = c->e2e_ms / scale;
            d->sample[d->rows++] = i;
        }
        for (int l = 0; c->layer_ms && l < c->plan.n_layers; l++) {
            if (isnan(c->layer_ms[l])) continue;
            if (!(c->layer_ms[l] >= 0.0) || !isfinite(c->layer_ms[l])) {
                design_free(d);
                return status_error(STATUS_BAD_INPUT, "cost fit: configuration %s (%s), layer %s: time %g ms is not a non-negative number",
                                    c->config, c->model, c->plan.info[l].name, c->layer_ms[l]);
            }
            memset(x, 0, sizeof x);
            cost_layer_features(c->net, &c->plan, l, 1.0, x, NULL);
            for (int j = 0; j < n_terms; j++) d->X[(size_t)d->rows * n_terms + j] = x[terms[j]] / scale;
            d->y[d->rows] = c->layer_ms[l] / scale;
            d->sample[d->rows++] = i;
        }
    }
    return STATUS_OK;
}

/* Appends " + 11.11 net.one" (the first without its sign) to the relation text. */
static void relation_append(char *buf, size_t cap, double a, int term)
{
    char name[48];
    cost_term_name(term, name, sizeof name);
    const size_t len = strlen(buf);
    if (len + 1 >= cap) return;
    if (len == 0) snprintf(buf, cap, "%.4g %s", a, name);
    else snprintf(buf + len, cap - len, " %c %.4g %s", a < 0 ? '-' : '+', fabs(a), name);
}

/* Sets aside the terms whose column is a linear combination of earlier kept ones, then drops
 * their columns from d (in place). Why a fixed order rather than pivoting on the data: which term
 * survives must not flip between two profiles of the same machine, and the order of --terms
 * (per-kind terms first, then net.one before net.out_m in the default) puts the more general
 * term first, so a constant absorbs a feature that happens to be constant.
 *
 * Columns are scaled to unit norm (terms differ by orders of magnitude in their units) and
 * orthogonalised against the kept ones with modified Gram-Schmidt, twice ("twice is enough":
 * the second pass removes what rounding left of the first). A unit column whose remainder is
 * below FIT_RANK_TOL lies in the span of the kept ones; its coordinates there, solved from the
 * triangular factor, give the combination x_j = sum_k alpha_k x_k that the report prints and
 * whose largest share names the term it is merged into. Because every row satisfies that
 * relation, fitting only the kept terms loses nothing the data could tell: any split of the
 * merged term's cost among the terms of the relation predicts the same on those rows, and the
 * one written (coefficient 0 for the merged term) is the one that needs no guess.
 *
 * keep[j] receives 1 for kept terms; r->merged the others. */
static int design_merge(struct design *d, const int *terms, unsigned char *keep, struct cost_fit_result *r)
{
    const int m = d->rows, n = d->cols;
    double *norm = malloc(sizeof(double) * (size_t)n);
    double *Q = malloc(sizeof(double) * (size_t)m * (size_t)n);   /* [n kept][m]: orthonormal columns */
    double *R = calloc((size_t)n * (size_t)n, sizeof(double));    /* [n kept][n kept]: upper triangular */
    double *v = malloc(sizeof(double) * (size_t)m);                /* [m] */
    double *h = malloc(sizeof(double) * (size_t)n), *a = malloc(sizeof(double) * (size_t)n);
    int *kept = malloc(sizeof(int) * (size_t)n);                   /* position -> column */
    r->merged = calloc((size_t)n, sizeof *r->merged);
    int rc = STATUS_OK, nk = 0;
    if (!norm || !Q || !R || !v || !h || !a || !kept || !r->merged) {
        rc = status_error(STATUS_NOMEM, "cost fit: out of memory for %d x %d design", m, n);
        goto done;
    }
    for (int j = 0; j < n; j++) {
        double s2 = 0.0;
        for (int i = 0; i < m; i++) s2 += d->X[(size_t)i * n + j] * d->X[(size_t)i * n + j];
        norm[j] = sqrt(s2);
        RN_ASSERT(norm[j] > 0.0);   /* zero columns are refused before */
        for (int i = 0; i < m; i++) v[i] = d->X[(size_t)i * n + j] / norm[j];
        for (int k = 0; k < nk; k++) h[k] = 0.0;
        for (int pass = 0; pass < 2; pass++)
            for (int k = 0; k < nk; k++) {
                const double *q = Q + (size_t)k * m;
                double dot = 0.0;
                for (int i = 0; i < m; i++) dot += q[i] * v[i];
                for (int i = 0; i < m; i++) v[i] -= dot * q[i];
                h[k] += dot;
            }
        double res = 0.0;
        for (int i = 0; i < m; i++) res += v[i] * v[i];
        res = sqrt(res);
        if (res > FIT_RANK_TOL) {
            double *q = Q + (size_t)nk * m;
            for (int i = 0; i < m; i++) q[i] = v[i] / res;
            for (int k = 0; k < nk; k++) R[(size_t)k * n + nk] = h[k];
            R[(size_t)nk * n + nk] = res;
            kept[nk++] = j;
            keep[j] = 1;
            continue;
        }
        /* u_j = sum_k a_k u_kept[k]: back-substitution in R a = h. */
        for (int k = nk - 1; k >= 0; k--) {
            double t = h[k];
            for (int l = k + 1; l < nk; l++) t -= R[(size_t)k * n + l] * a[l];
            a[k] = t / R[(size_t)k * n + k];
        }
        struct cost_fit_merge *g = &r->merged[r->n_merged++];
        g->term = terms[j];
        g->into = -1;
        double amax = 0.0;
        for (int k = 0; k < nk; k++)
            if (fabs(a[k]) > amax) {
                amax = fabs(a[k]);
                g->into = terms[kept[k]];
            }
        RN_ASSERT(g->into >= 0);   /* a unit column with no remainder has a nonzero coordinate */
        char name[48];
        cost_term_name(terms[j], name, sizeof name);
        snprintf(g->relation, sizeof g->relation, "%s = ", name);
        char rhs[sizeof g->relation] = "";
        for (int k = 0; k < nk; k++)   /* coordinates at rounding level are not part of the relation */
            if (fabs(a[k]) > 1e-9 * amax) relation_append(rhs, sizeof rhs, a[k] * norm[j] / norm[kept[k]], terms[kept[k]]);
        const size_t len = strlen(g->relation);
        snprintf(g->relation + len, sizeof g->relation - len, "%s", rhs);
    }
    /* Compact the kept columns to the front of each row; a destination never passes its source. */
    for (int i = 0; i < m; i++)
        for (int k = 0; k < nk; k++) d->X[(size_t)i * nk + k] = d->X[(size_t)i * n + kept[k]];
    d->cols = nk;
done:
    free(norm);
    free(Q);
    free(R);
    free(v);
    free(h);
    free(a);
    free(kept);
    return rc;
}

/* The rank of the column-normalised design, and the right singular vector of its smallest
 * singular value (which terms combine into nothing). */
static int design_rank(const struct design *d, double *null_vec, int *rank)
{
    gsl_matrix *A = gsl_matrix_alloc((size_t)d->rows, (size_t)d->cols);
    gsl_matrix *V = gsl_matrix_alloc((size_t)d->cols, (size_t)d->cols);
    gsl_vector *S = gsl_vector_alloc((size_t)d->cols), *work = gsl_vector_alloc((size_t)d->cols);
    int rc = STATUS_OK;
    if (!A || !V || !S || !work) { rc = status_error(STATUS_NOMEM, "cost fit: out of memory"); goto done; }
    for (int j = 0; j < d->cols; j++) {
        double norm = 0.0;
        for (int i = 0; i < d->rows; i++) norm += d->X[(size_t)i * d->cols + j] * d->X[(size_t)i * d->cols + j];
        norm = sqrt(norm);
        for (int i = 0; i < d->rows; i++)
            gsl_matrix_set(A, (size_t)i, (size_t)j, norm > 0.0 ? d->X[(size_t)i * d->cols + j] / norm : 0.0);
    }
    if (gsl_linalg_SV_decomp(A, V, S, work)) { rc = status_error(STATUS_BAD_INPUT, "cost fit: the SVD of the design failed"); goto done; }
    const double smax = gsl_vector_get(S, 0);
    *rank = 0;
    for (int j = 0; j < d->cols; j++) *rank += gsl_vector_get(S, (size_t)j) > FIT_RANK_TOL * smax;
    for (int j = 0; j < d->cols; j++) null_vec[j] = gsl_matrix_get(V, (size_t)j, (size_t)d->cols - 1);
done:
    gsl_matrix_free(A);
    gsl_matrix_free(V);
    gsl_vector_free(S);
    gsl_vector_free(work);
    return rc;
}

/* Least squares on the rows whose sample is not `skip` (-1: all). tsvd: truncate tiny singular
 * values (minimum-norm solution) instead of trusting a full-rank design. */
static int design_solve(const struct design *d, int skip, int tsvd, double *c_out, int *rank_out)
{
    int m = 0;
    for (int i = 0; i < d->rows; i++) m += d->sample[i] != skip;
    if (m < d->cols) return status_error(STATUS_BAD_INPUT, "cost fit: %d rows for %d terms", m, d->cols);
    gsl_matrix *X = gsl_matrix_alloc((size_t)m, (size_t)d->cols), *cov = gsl_matrix_alloc((size_t)d->cols, (size_t)d->cols);
    gsl_vector *y = gsl_vector_alloc((size_t)m), *c = gsl_vector_alloc((size_t)d->cols);
    gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc((size_t)m, (size_t)d->cols);
    int rc = STATUS_OK;
    if (!X || !cov || !y || !c || !w) { rc = status_error(STATUS_NOMEM, "cost fit: out of memory"); goto done; }
    for (int i = 0, r = 0; i < d->rows; i++) {
        if (d->sample[i] == skip) continue;
        for (int j = 0; j < d->cols; j++) gsl_matrix_set(X, (size_t)r, (size_t)j, d->X[(size_t)i * d->cols + j]);
        gsl_vector_set(y, (size_t)r++, d->y[i]);
    }
    double chisq;
    size_t rank = (size_t)d->cols;
    const int grc = tsvd ? gsl_multifit_linear_tsvd(X, y, FIT_RANK_TOL, c, cov, &chisq, &rank, w)
                         : gsl_multifit_linear(X, y, c, cov, &chisq, w);
    if (grc) { rc = status_error(STATUS_BAD_INPUT, "cost fit: least squares failed (%s)", gsl_strerror(grc)); goto done; }
    for (int j = 0; j < d->cols; j++) c_out[j] = gsl_vector_get(c, (size_t)j);
    if (rank_out) *rank_out = (int)rank;
done:
    gsl_matrix_free(X);
    gsl_matrix_free(cov);
    gsl_vector_free(y);
    gsl_vector_free(c);
    gsl_multifit_linear_free(w);
    return rc;
}

int cost_fit(const struct cost_sample *s, int n, const int *terms, int n_terms, struct cost_fit_result *r)
{
    memset(r, 0, sizeof *r);
    gsl_set_error_handler_off();   /* GSL reports through return codes here, never aborts */
    if (n_terms < 1 || n_terms > COST_TERMS) return status_error(STATUS_BAD_INPUT, "cost fit: %d terms (expected 1..%d)", n_terms, COST_TERMS);
    for (int j = 0; j < n_terms; j++) {
        RN_ASSERT(terms[j] >= 0 && terms[j] < COST_TERMS);
        for (int k = 0; k < j; k++)
            if (terms[k] == terms[j]) {
                char name[48];
                cost_term_name(terms[j], name, sizeof name);
                return status_error(STATUS_BAD_INPUT, "cost fit: term %s given twice", name);
            }
    }
    struct design d;
    double *null_vec = NULL, *c = NULL;
    int rc = design_build(s, n, terms, n_terms, &d);
    if (rc) return rc;
    if (d.rows < n_terms + 1) {
        rc = status_error(STATUS_BAD_INPUT,
                          "cost fit: too few measurements: %d rows for %d terms (need at least %d; measure more "
                          "configurations or fit fewer terms)",
                          d.rows, n_terms, n_terms + 1);
        goto done;
    }
    for (int j = 0; j < n_terms; j++) {
        int any = 0;
        for (int i = 0; i < d.rows && !any; i++) any = d.X[(size_t)i * n_terms + j] != 0.0;
        if (!any) {
            char name[48];
            cost_term_name(terms[j], name, sizeof name);
            rc = status_error(STATUS_BAD_INPUT,
                              "cost fit: degenerate design: term %s is zero in every row (no measured layer of that "
                              "kind has that feature); drop it from --terms or measure such layers",
                              name);
            goto done;
        }
    }
    null_vec = malloc(sizeof(double) * n_terms);
    c = malloc(sizeof(double) * n_terms);
    r->fitted = malloc(sizeof(double) * (size_t)(n ? n : 1));
    r->loo = malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!null_vec || !c || !r->fitted || !r->loo) { rc = status_error(STATUS_NOMEM, "cost fit: out of memory"); goto done; }
    unsigned char keep[COST_TERMS] = { 0 };
    if ((rc = design_merge(&d, terms, keep, r))) goto done;
    int kept[COST_TERMS], n_kept = 0;   /* the fitted terms, d's columns from here on */
    for (int j = 0; j < n_terms; j++)
        if (keep[j]) kept[n_kept++] = terms[j];
    RN_ASSERT(n_kept == d.cols && n_kept >= 1);
    /* Gram-Schmidt kept every column with a remainder above the tolerance; the SVD confirms that
     * the kept set is well conditioned as a whole (a set can be nearly dependent without any one
     * column being nearly dependent on the earlier ones). */
    int rank = 0;
    if ((rc = design_rank(&d, null_vec, &rank))) goto done;
    if (rank < n_kept) {
        /* Name the terms that carry the combination with no support. */
        char list[512] = "", name[48];
        size_t len = 0;
        for (int j = 0; j < n_kept; j++) {
            if (fabs(null_vec[j]) < 0.05) continue;
            cost_term_name(kept[j], name, sizeof name);
            int w = snprintf(list + len, sizeof list - len, "%s%s", len ? ", " : "", name);
            if (w > 0 && (size_t)w < sizeof list - len) len += (size_t)w;
        }
        rc = status_error(STATUS_BAD_INPUT,
                          "cost fit: degenerate design: rank %d for %d terms (after merging %d); these terms are "
                          "nearly linear combinations of each other in the measurements: %s (drop one from --terms "
                          "or measure configurations that separate them)",
                          rank, n_kept, r->n_merged, list);
        goto done;
    }
    if ((rc = design_solve(&d, -1, 0, c, NULL))) goto done;
    r->rank = rank;
    for (int j = 0; j < n_terms; j++) r->used[terms[j]] = 1;   /* merged terms stay, at 0 */
    for (int j = 0; j < n_kept; j++) r->coef[kept[j]] = c[j];
    r->n_rows = d.rows;
    double sum_fit = 0.0, sum_loo = 0.0;
    int n_e2e = 0;
    for (int i = 0; i < n; i++) {
        r->fitted[i] = r->loo[i] = NAN;
        if (s[i].layer_ms)
            for (int l = 0; l < s[i].plan.n_layers; l++) r->n_layer_rows += !isnan(s[i].layer_ms[l]);
        if (isnan(s[i].e2e_ms)) continue;
        r->n_configs++;
        r->fitted[i] = cost_fit_predict(r->coef, s[i].net, &s[i].plan);
        int fold_rank = n_kept;
        double coef[COST_TERMS] = { 0 };
        if ((rc = design_solve(&d, i, 1, c, &fold_rank))) goto done;
        if (fold_rank < n_kept) r->n_loo_deficient++;
        for (int j = 0; j < n_kept; j++) coef[kept[j]] = c[j];
        r->loo[i] = cost_fit_predict(coef, s[i].net, &s[i].plan);
        const double ef = fabs(r->fitted[i] - s[i].e2e_ms) / s[i].e2e_ms * 100.0;
        const double el = fabs(r->loo[i] - s[i].e2e_ms) / s[i].e2e_ms * 100.0;
        sum_fit += ef;
        sum_loo += el;
        if (ef > r->fit_max) r->fit_max = ef;
        if (el > r->loo_max) r->loo_max = el;
        n_e2e++;
    }
    r->fit_mape = n_e2e ? sum_fit / n_e2e : NAN;
    r->loo_mape = n_e2e ? sum_loo / n_e2e : NAN;
done:
    free(null_vec);
    free(c);
    design_free(&d);
    if (rc) cost_fit_result_free(r);
    return rc;
}
